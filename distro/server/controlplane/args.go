// Package controlplane runs kube-apiserver, kube-controller-manager and kube-scheduler in
// the distro process, with the flags a secure single-binary cluster needs.
package controlplane

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/distro-io/distro/distro/hosted"
	"github.com/distro-io/distro/distro/pki"
)

// Config is what the three components are started with.
type Config struct {
	DataDir      string // the server's data dir: <data-dir>/server
	PKI          pki.Layout
	EtcdServers  string
	EtcdCAFile   string
	EtcdCertFile string
	EtcdKeyFile  string
	// KineStorage is set when the apiserver stores through kine rather than etcd.
	KineStorage      bool
	EncryptionConfig string
	AdvertiseAddress net.IP
	BindAddress      string
	HTTPSPort        int
	ServiceCIDR      string
	ClusterCIDR      string
	ClusterDomain    string
	NodePortRange    string
	// EgressSelectorConfig routes the apiserver's connections to nodes through the tunnels.
	EgressSelectorConfig string
	// Extra arguments, "flag=value" without leading dashes, override the defaults
	// (--extra-apiserver-arg and friends).
	ExtraAPIServerArgs         []string
	ExtraControllerManagerArgs []string
	ExtraSchedulerArgs         []string
}

// Loopback ports of the controller-manager and the scheduler (their health endpoints).
const (
	ControllerManagerPort = 10257
	SchedulerPort         = 10259
)

// APIServerArgs returns kube-apiserver's command line.
func (c *Config) APIServerArgs() ([]string, error) {
	l := c.PKI
	issuer := "https://kubernetes.default.svc." + c.ClusterDomain
	flags := map[string]string{
		"advertise-address":          c.AdvertiseAddress.String(),
		"bind-address":               c.BindAddress,
		"secure-port":                fmt.Sprint(c.HTTPSPort),
		"allow-privileged":           "true",
		"anonymous-auth":             "false",
		"authorization-mode":         "Node,RBAC",
		"enable-admission-plugins":   "NodeRestriction",
		"client-ca-file":             l.CertFile(pki.ClientCA),
		"tls-cert-file":              l.CertFile(pki.APIServerServing),
		"tls-private-key-file":       l.KeyFile(pki.APIServerServing),
		"tls-min-version":            "VersionTLS12",
		"etcd-servers":               c.EtcdServers,
		"storage-backend":            "etcd3",
		"encryption-provider-config": c.EncryptionConfig,
		"encryption-provider-config-automatic-reload": "true",
		"kubelet-certificate-authority":               l.CertFile(pki.ServerCA),
		// Node names need not resolve in DNS, and the apiserver resolves the address of a
		// nodes/proxy request before it dials (through the egress proxy) to vet it.
		"kubelet-preferred-address-types":    "InternalIP,ExternalIP,Hostname",
		"kubelet-client-certificate":         l.CertFile("client-" + pki.APIServerKubeletClient),
		"kubelet-client-key":                 l.KeyFile("client-" + pki.APIServerKubeletClient),
		"proxy-client-cert-file":             l.CertFile("client-" + pki.FrontProxyClient),
		"proxy-client-key-file":              l.KeyFile("client-" + pki.FrontProxyClient),
		"requestheader-client-ca-file":       l.CertFile(pki.RequestHeaderCA),
		"requestheader-allowed-names":        pki.FrontProxyClientName,
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-username-headers":     "X-Remote-User",
		"service-account-issuer":             issuer,
		"api-audiences":                      issuer,
		"service-account-key-file":           l.ServiceAccountPub(),
		"service-account-signing-key-file":   l.ServiceAccountKey(),
		"service-cluster-ip-range":           c.ServiceCIDR,
		"service-node-port-range":            c.NodePortRange,
		"profiling":                          "false",
		// Pods keep their watches open while distro restarts: cut them two seconds into a
		// shutdown instead of waiting out the request timeout.
		"shutdown-send-retry-after": "true",
		"cert-dir":                  filepath.Join(c.DataDir, "tls", "temporary-certs"),
	}
	if c.KineStorage {
		// A streaming list (WatchList) waits, with no time limit, until the watch cache
		// has reached the datastore's current revision. Kine answers a progress request
		// only once every watch on the stream has caught up, so on a shared database that
		// another server writes to, a cache can stay behind for minutes and the
		// apiserver's own informers never sync. A consistent plain LIST reads the
		// datastore after 3 s instead, so servers and clients list that way.
		flags["feature-gates"] = "WatchList=false,WatchListClient=false"
	}
	if c.EgressSelectorConfig != "" {
		flags["egress-selector-config-file"] = c.EgressSelectorConfig
	}
	if c.EtcdCAFile != "" {
		flags["etcd-cafile"] = c.EtcdCAFile
	}
	if c.EtcdCertFile != "" {
		flags["etcd-certfile"] = c.EtcdCertFile
		flags["etcd-keyfile"] = c.EtcdKeyFile
	}
	return hosted.Args("extra-apiserver-arg", flags, c.ExtraAPIServerArgs)
}

// ControllerManagerArgs returns kube-controller-manager's command line.
func (c *Config) ControllerManagerArgs() ([]string, error) {
	l := c.PKI
	kubeconfig := l.Kubeconfig(pki.KubeControllerManager)
	flags := map[string]string{
		"kubeconfig":                       kubeconfig,
		"authentication-kubeconfig":        kubeconfig,
		"authorization-kubeconfig":         kubeconfig,
		"bind-address":                     "127.0.0.1",
		"secure-port":                      fmt.Sprint(ControllerManagerPort),
		"cert-dir":                         filepath.Join(c.DataDir, "tls", "kube-controller-manager"),
		"profiling":                        "false",
		"use-service-account-credentials":  "true",
		"service-account-private-key-file": l.ServiceAccountKey(),
		"root-ca-file":                     l.CertFile(pki.ServerCA),
		"cluster-cidr":                     c.ClusterCIDR,
		"service-cluster-ip-range":         c.ServiceCIDR,
		"allocate-node-cidrs":              "true",
		"configure-cloud-routes":           "false",
		"controllers":                      "*,tokencleaner",
		// Each signer with the CA its certificates must chain to.
		"cluster-signing-kube-apiserver-client-cert-file": l.CertFile(pki.ClientCA),
		"cluster-signing-kube-apiserver-client-key-file":  l.KeyFile(pki.ClientCA),
		"cluster-signing-kubelet-client-cert-file":        l.CertFile(pki.ClientCA),
		"cluster-signing-kubelet-client-key-file":         l.KeyFile(pki.ClientCA),
		"cluster-signing-kubelet-serving-cert-file":       l.CertFile(pki.ServerCA),
		"cluster-signing-kubelet-serving-key-file":        l.KeyFile(pki.ServerCA),
		"cluster-signing-legacy-unknown-cert-file":        l.CertFile(pki.ServerCA),
		"cluster-signing-legacy-unknown-key-file":         l.KeyFile(pki.ServerCA),
	}
	return hosted.Args("extra-controller-manager-arg", flags, c.ExtraControllerManagerArgs)
}

// SchedulerArgs returns kube-scheduler's command line.
func (c *Config) SchedulerArgs() ([]string, error) {
	kubeconfig := c.PKI.Kubeconfig(pki.KubeScheduler)
	flags := map[string]string{
		"kubeconfig":                kubeconfig,
		"authentication-kubeconfig": kubeconfig,
		"authorization-kubeconfig":  kubeconfig,
		"bind-address":              "127.0.0.1",
		"secure-port":               fmt.Sprint(SchedulerPort),
		"cert-dir":                  filepath.Join(c.DataDir, "tls", "kube-scheduler"),
		"profiling":                 "false",
	}
	return hosted.Args("extra-scheduler-arg", flags, c.ExtraSchedulerArgs)
}
