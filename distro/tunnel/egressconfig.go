package tunnel

import (
	"fmt"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1beta1 "k8s.io/apiserver/pkg/apis/apiserver/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// EgressSelectorFile is where the server keeps the apiserver's egress selector configuration:
// <data-dir>/server/etc/egress-selector-config.yaml, passed as --egress-selector-config-file.
func EgressSelectorFile(dataDir string) string {
	return filepath.Join(dataDir, "server", "etc", "egress-selector-config.yaml")
}

// EgressSelectorConfig returns an EgressSelectorConfiguration (apiserver.k8s.io/v1beta1) that
// sends the apiserver's "cluster" traffic, which includes every kubelet connection, through
// the HTTP CONNECT proxy on the unix socket at socket. The "controlplane" and "etcd" traffic
// keeps dialling directly.
//
// Only the unix socket transport is offered: HTTPConnect over TCP would need TLS client
// authentication on the proxy to keep other local users from reaching kubelets through it,
// while the socket's file mode does that for free.
func EgressSelectorConfig(socket string) ([]byte, error) {
	if !filepath.IsAbs(socket) {
		return nil, fmt.Errorf("egress socket %q is not an absolute path", socket)
	}
	cfg := apiserverv1beta1.EgressSelectorConfiguration{
		TypeMeta: metav1.TypeMeta{
			APIVersion: apiserverv1beta1.SchemeGroupVersion.String(),
			Kind:       "EgressSelectorConfiguration",
		},
		EgressSelections: []apiserverv1beta1.EgressSelection{{
			Name: "cluster",
			Connection: apiserverv1beta1.Connection{
				ProxyProtocol: apiserverv1beta1.ProtocolHTTPConnect,
				Transport: &apiserverv1beta1.Transport{
					UDS: &apiserverv1beta1.UDSTransport{UDSName: socket},
				},
			},
		}},
	}
	return yaml.Marshal(cfg)
}

// WriteEgressSelectorConfig writes EgressSelectorConfig(socket) to path atomically, mode 0600.
func WriteEgressSelectorConfig(path, socket string) error {
	data, err := EgressSelectorConfig(socket)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}
