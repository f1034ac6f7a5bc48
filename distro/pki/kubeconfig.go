package pki

import (
	"bytes"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// KubeconfigFor returns a kubeconfig for one client identity. With embed the certificates and
// key are copied in (a file people take elsewhere); without, it points at the files, so that a
// reissued certificate needs no new kubeconfig.
func KubeconfigFor(serverURL, caFile, certFile, keyFile string, embed bool) (*clientcmdapi.Config, error) {
	cluster := clientcmdapi.NewCluster()
	cluster.Server = serverURL
	user := clientcmdapi.NewAuthInfo()
	if embed {
		var err error
		if cluster.CertificateAuthorityData, err = os.ReadFile(caFile); err != nil {
			return nil, err
		}
		if user.ClientCertificateData, err = os.ReadFile(certFile); err != nil {
			return nil, err
		}
		if user.ClientKeyData, err = os.ReadFile(keyFile); err != nil {
			return nil, err
		}
	} else {
		cluster.CertificateAuthority = caFile
		user.ClientCertificate = certFile
		user.ClientKey = keyFile
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = cluster
	cfg.AuthInfos["default"] = user
	ctx := clientcmdapi.NewContext()
	ctx.Cluster = "default"
	ctx.AuthInfo = "default"
	cfg.Contexts["default"] = ctx
	cfg.CurrentContext = "default"
	return cfg, nil
}

// writeKubeconfig writes the kubeconfig (mode 0600: it holds or points at a key) when its content
// differs from what is on disk.
func writeKubeconfig(path, serverURL, caFile, certFile, keyFile string, embed bool, report *Report) error {
	cfg, err := KubeconfigFor(serverURL, caFile, certFile, keyFile, embed)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if existing, err := os.ReadFile(path); err == nil && bytes.Equal(existing, data) {
		report.add(path, Kept, "")
		return tightenKeyMode(path, report)
	}
	if err := atomicfile.Write(path, data, keyMode); err != nil {
		return err
	}
	report.add(path, Written, "")
	return nil
}
