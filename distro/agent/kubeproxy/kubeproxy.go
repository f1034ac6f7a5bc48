// Package kubeproxy runs kube-proxy inside the distro process in iptables mode (this kernel
// family has no IPVS), configured through a generated KubeProxyConfiguration file.
package kubeproxy

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	proxyconfig "k8s.io/kube-proxy/config/v1alpha1"
	proxyapp "k8s.io/kubernetes/cmd/kube-proxy/app"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/distro-io/distro/distro/hosted"
	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// HealthzAddress is kube-proxy's health endpoint, on loopback.
const HealthzAddress = "127.0.0.1:10256"

// Modes kube-proxy runs in here.
const (
	ModeIPTables = "iptables"
	ModeNFTables = "nftables"
)

// Config is what kube-proxy needs.
type Config struct {
	NodeName string
	// ConfigDir holds the generated kube-proxy.yaml.
	ConfigDir string
	// Kubeconfig is kube-proxy's client identity (system:kube-proxy).
	Kubeconfig  string
	ClusterCIDR string
	// Mode is iptables (default) or nftables.
	Mode string
	// ExtraArgs are --kube-proxy-arg values: flag=value overrides of the generated flags.
	ExtraArgs []string
}

// ConfigFile is the generated KubeProxyConfiguration.
func (c Config) ConfigFile() string { return filepath.Join(c.ConfigDir, "kube-proxy.yaml") }

// Component is kube-proxy: a hosted command whose Init writes its configuration.
type Component struct {
	*hosted.Command
	cfg Config
}

// New returns kube-proxy as a component.
func New(c Config) (*Component, error) {
	if c.NodeName == "" || c.Kubeconfig == "" {
		return nil, errors.New("kube-proxy: node name and kubeconfig are required")
	}
	switch c.Mode {
	case "":
		c.Mode = ModeIPTables
	case ModeIPTables, ModeNFTables:
	default:
		return nil, errors.New("kube-proxy mode " + c.Mode + ": expected iptables or nftables")
	}
	args, err := hosted.Args("kube-proxy-arg", map[string]string{"config": c.ConfigFile()}, c.ExtraArgs)
	if err != nil {
		return nil, err
	}
	healthz := hosted.FlagValue(args, "healthz-bind-address", HealthzAddress)
	return &Component{
		cfg:     c,
		Command: hosted.New("kube-proxy", func() *cobra.Command { return proxyapp.NewProxyCommand() }, args, hosted.Healthz("http://"+healthz+"/healthz")),
	}, nil
}

// Init writes the configuration and parses the flags.
func (k *Component) Init(ctx context.Context) error {
	data, err := k.cfg.Render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(k.cfg.ConfigDir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Write(k.cfg.ConfigFile(), data, 0o600); err != nil {
		return err
	}
	return k.Command.Init(ctx)
}

// Render returns the KubeProxyConfiguration file.
func (c Config) Render() ([]byte, error) {
	if _, _, err := net.ParseCIDR(c.ClusterCIDR); err != nil {
		return nil, errors.New("kube-proxy: cluster CIDR " + c.ClusterCIDR + " is not a CIDR")
	}
	pc := proxyconfig.KubeProxyConfiguration{
		TypeMeta:         metav1.TypeMeta{APIVersion: proxyconfig.SchemeGroupVersion.String(), Kind: "KubeProxyConfiguration"},
		HostnameOverride: c.NodeName,
		Mode:             proxyconfig.ProxyMode(c.Mode),
		ClusterCIDR:      c.ClusterCIDR,
		// Health and metrics stay on loopback: nothing outside the node needs them.
		HealthzBindAddress: HealthzAddress,
		MetricsBindAddress: "127.0.0.1:10249",
		// kube-proxy runs inside distro: a negative oom_score_adj would be the whole server's
		// and needs CAP_SYS_RESOURCE.
		OOMScoreAdj: ptr.To[int32](0),
		// Leave the kernel's conntrack table size and timeouts alone: they are host-wide, and
		// nodes sharing a kernel (or a read-only /sys) must not fight over them.
		Conntrack: proxyconfig.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr.To[int32](0),
			Min:                   ptr.To[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
		},
	}
	pc.ClientConnection.Kubeconfig = c.Kubeconfig
	data, err := yaml.Marshal(pc)
	if err != nil {
		return nil, err
	}
	return []byte(strings.TrimSpace(string(data)) + "\n"), nil
}
