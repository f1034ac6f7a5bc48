// Package kubelet runs the node's kubelet inside the distro process, configured through a
// generated KubeletConfiguration file: serving on loopback only (the control plane reaches it
// through the node tunnel), no anonymous access, containerd as its runtime.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	kubeletconfig "k8s.io/kubelet/config/v1beta1"
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/distro-io/distro/distro/hosted"
	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// Ports the kubelet binds, all on loopback.
const (
	Port        = 10250
	HealthzPort = 10248
)

// Config is what the kubelet needs; every path is decided by the caller.
type Config struct {
	NodeName string
	NodeIPs  []net.IP
	// Dir is the kubelet's root dir; its config file and static pod dir live beside it.
	Dir string
	// ConfigDir holds the generated kubelet.yaml.
	ConfigDir string
	// Kubeconfig is the kubelet's client identity (system:node:<name>).
	Kubeconfig string
	// ClientCAFile verifies clients of the kubelet API (the apiserver).
	ClientCAFile string
	// ServingCert and ServingKey are the kubelet's serving pair.
	ServingCert, ServingKey string
	// RuntimeSocket is containerd's socket.
	RuntimeSocket string
	ClusterDNS    net.IP
	ClusterDomain string
	// CgroupRoot is where the kubelet puts its pods' cgroups; "/" unless several nodes share
	// one kernel. distro creates it in every hierarchy, as the kubelet requires.
	CgroupRoot string
	// ResolvConf is the file pods' DNS upstreams come from.
	ResolvConf string
	// PodLogsDir is where containers' logs go; the kubelet's /var/log/pods when empty. Nodes
	// sharing a host need one each: a kubelet removes the log dirs of pods it does not know.
	PodLogsDir string
	// ExtraArgs are --kubelet-arg values: flag=value overrides of the generated flags.
	ExtraArgs []string
}

// ConfigFile is the generated KubeletConfiguration.
func (c Config) ConfigFile() string { return filepath.Join(c.ConfigDir, "kubelet.yaml") }

// StaticPodDir holds static pod manifests.
func (c Config) StaticPodDir() string { return filepath.Join(c.ConfigDir, "pod-manifests") }

// New returns the kubelet as a component. It writes its config file when Init runs.
func New(c Config) (*Component, error) {
	args, err := c.Args()
	if err != nil {
		return nil, err
	}
	// A --kubelet-arg=cgroup-root=… override is the root distro must create.
	c.CgroupRoot = hosted.FlagValue(args, "cgroup-root", c.CgroupRoot)
	k := &Component{cfg: c}
	port := hosted.FlagValue(args, "healthz-port", strconv.Itoa(HealthzPort))
	k.Command = hosted.New("kubelet",
		func() *cobra.Command { return kubeletapp.NewKubeletCommand(context.Background()) },
		args, hosted.Healthz("http://127.0.0.1:"+port+"/healthz"))
	return k, nil
}

// Component is the kubelet: a hosted command whose Init first prepares the host.
type Component struct {
	*hosted.Command
	cfg Config
}

// Init writes the configuration, creates the cgroup root and parses the flags.
func (k *Component) Init(ctx context.Context) error {
	v1, err := k.prepare()
	if err != nil {
		return err
	}
	if v1 {
		klog.InfoS("WARNING: this host has cgroup v1 controllers; the kubelet runs on them with failCgroupV1=false, but cgroup v1 support is deprecated upstream: move the host to the unified cgroup v2 layout")
	}
	return k.Command.Init(ctx)
}

func (k *Component) prepare() (cgroupV1 bool, err error) {
	c := k.cfg
	cgroupV1 = !cgroups.IsCgroup2UnifiedMode()
	data, err := c.Render(cgroupV1)
	if err != nil {
		return false, err
	}
	for _, d := range []string{c.Dir, c.StaticPodDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return false, err
		}
	}
	if err := atomicfile.Write(c.ConfigFile(), data, 0o600); err != nil {
		return false, err
	}
	return cgroupV1, EnsureCgroupRoot(c.CgroupRoot)
}

// Render returns the KubeletConfiguration file. cgroupV1 tells whether the host only offers
// the v1 controllers, where the kubelet must be told not to refuse them.
func (c Config) Render(cgroupV1 bool) ([]byte, error) {
	kc := kubeletconfig.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: kubeletconfig.SchemeGroupVersion.String(), Kind: "KubeletConfiguration"},
		// Loopback only: the apiserver reaches the kubelet through the node tunnel.
		Address:            "127.0.0.1",
		Port:               Port,
		ReadOnlyPort:       0,
		HealthzBindAddress: "127.0.0.1",
		HealthzPort:        ptr.To[int32](HealthzPort),
		TLSCertFile:        c.ServingCert,
		TLSPrivateKeyFile:  c.ServingKey,
		TLSMinVersion:      "VersionTLS12",
		Authentication: kubeletconfig.KubeletAuthentication{
			X509:      kubeletconfig.KubeletX509Authentication{ClientCAFile: c.ClientCAFile},
			Webhook:   kubeletconfig.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletconfig.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:            kubeletconfig.KubeletAuthorization{Mode: kubeletconfig.KubeletAuthorizationModeWebhook},
		ContainerRuntimeEndpoint: "unix://" + c.RuntimeSocket,
		CgroupDriver:             "cgroupfs",
		CgroupRoot:               c.CgroupRoot,
		ClusterDomain:            c.ClusterDomain,
		ResolverConfig:           ptr.To(c.ResolvConf),
		StaticPodPath:            c.StaticPodDir(),
		PodLogsDir:               c.PodLogsDir,
		SerializeImagePulls:      ptr.To(false),
		// The kubelet runs inside distro: its oom_score_adj would be the whole server's, and a
		// negative one needs CAP_SYS_RESOURCE, which is not a given.
		OOMScoreAdj: ptr.To[int32](0),
		// Nodes that share a kernel (several on one machine) must not fight over its sysctls.
		ProtectKernelDefaults: false,
	}
	if c.ClusterDNS != nil {
		kc.ClusterDNS = []string{c.ClusterDNS.String()}
	}
	if cgroupV1 {
		kc.FailCgroupV1 = ptr.To(false)
	}
	return yaml.Marshal(kc)
}

// Args is the kubelet's command line.
func (c Config) Args() ([]string, error) {
	if c.NodeName == "" || len(c.NodeIPs) == 0 {
		return nil, errors.New("kubelet: node name and IP are required")
	}
	ips := make([]string, len(c.NodeIPs))
	for i, ip := range c.NodeIPs {
		ips[i] = ip.String()
	}
	flags := map[string]string{
		"config":            c.ConfigFile(),
		"kubeconfig":        c.Kubeconfig,
		"hostname-override": c.NodeName,
		"node-ip":           strings.Join(ips, ","),
		"root-dir":          c.Dir,
		"cert-dir":          filepath.Join(c.Dir, "pki"),
	}
	return hosted.Args("kubelet-arg", flags, c.ExtraArgs)
}

// EnsureCgroupRoot creates root in every cgroup v1 hierarchy (the kubelet refuses to start
// when one lacks it); under the unified hierarchy the kubelet creates it itself.
func EnsureCgroupRoot(root string) error {
	if root == "" || root == "/" || cgroups.IsCgroup2UnifiedMode() {
		return nil
	}
	mounts, err := cgroups.GetCgroupMounts(false)
	if err != nil {
		return fmt.Errorf("cgroup root %s: %w", root, err)
	}
	for _, m := range mounts {
		if err := os.MkdirAll(filepath.Join(m.Mountpoint, root), 0o755); err != nil {
			return fmt.Errorf("cgroup root %s: %w", root, err)
		}
	}
	return nil
}
