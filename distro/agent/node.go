// Package agent is a node: containerd, the kubelet, the pod network and kube-proxy, with the
// credentials a node obtains from the server's join API. `distro server` runs one next to the
// control plane; `distro agent` runs one on its own.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/agent/containerd"
	"github.com/distro-io/distro/distro/agent/flannel"
	"github.com/distro-io/distro/distro/agent/kubelet"
	"github.com/distro-io/distro/distro/agent/kubeproxy"
	"github.com/distro-io/distro/distro/agent/loadbalancer"
	"github.com/distro-io/distro/distro/agent/registry"
	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/pki/atomicfile"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
	"github.com/distro-io/distro/distro/tunnel"
)

// Node is the complete configuration of a node.
type Node struct {
	// DataDir is distro's data dir; the node keeps everything under <DataDir>/agent.
	DataDir string
	// BinDir is the unpacked payload: runc, the shim, the CNI plugins and the pause image.
	BinDir string
	Name   string
	IPs    []net.IP
	// JoinURL is the server's join API (https://host:9345) and Token the token it accepts.
	JoinURL string
	Token   token.Token
	// APIServers are the apiservers (host:port) the node's load balancer starts with.
	APIServers []string
	// LoadBalancerAddress is where the load balancer listens; DefaultLoadBalancerAddress when empty.
	LoadBalancerAddress string
	// Registered says the node's credentials are in CredentialsDir already (distro agent
	// registers before it starts anything); otherwise the node registers as it starts.
	Registered bool
	// Tunnel opens the websockets through which the servers reach this node's kubelet: one to
	// the server at JoinURL and one to every other server the load balancer learns of, since
	// each server's apiserver reaches a kubelet only through a tunnel to itself.
	Tunnel bool
	// LocalServer says a server runs beside this node, at JoinURL on loopback: its apiserver
	// reaches the kubelet directly, so the node tunnels only to the other servers.
	LocalServer bool
	// ServerCAFile verifies the servers the tunnels connect to; the CA the join API handed out
	// (in CredentialsDir) when empty.
	ServerCAFile string

	// KubeProxyCert and ControllerCert, when set, are used instead of the kube-proxy and node
	// controller identities from the join API (the server's own node uses the control plane's).
	KubeProxyCert, ControllerCert *CertPair

	ClusterCIDR    string
	ClusterDNS     net.IP
	ClusterDomain  string
	FlannelBackend string
	ProxyMode      string
	CgroupRoot     string
	ResolvConf     string
	PodLogsDir     string

	ExtraKubeletArgs   []string
	ExtraKubeProxyArgs []string
}

// CertPair names a client certificate and its key.
type CertPair struct{ Cert, Key string }

// DefaultLoadBalancerAddress is the node's apiserver load balancer.
const DefaultLoadBalancerAddress = "127.0.0.1:6444"

func (n Node) agentDir() string { return filepath.Join(n.DataDir, "agent") }

// CredentialsDir holds the node's keys, certificates and kubeconfigs.
func (n Node) CredentialsDir() string { return filepath.Join(n.agentDir(), "pki") }

// Validate returns every problem at once.
func (n Node) Validate() error {
	var errs []error
	if n.DataDir == "" || !filepath.IsAbs(n.DataDir) {
		errs = append(errs, fmt.Errorf("node: data dir %q is not an absolute path", n.DataDir))
	}
	if n.Name == "" {
		errs = append(errs, errors.New("node-name: empty"))
	}
	if len(n.IPs) == 0 {
		errs = append(errs, errors.New("node-ip: none"))
	}
	if n.JoinURL == "" {
		errs = append(errs, errors.New("server: no join API URL"))
	}
	if len(n.APIServers) == 0 {
		errs = append(errs, errors.New("server: no apiserver address"))
	}
	return errors.Join(errs...)
}

// Components returns the node's parts in start order: containerd, its registry mirror, the
// credentials, the kubelet, the pod network, kube-proxy.
func (n Node) Components() ([]component.Component, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	ctrCfg, err := containerd.Options{
		DataDir:         n.DataDir,
		BinDir:          n.BinDir,
		BuiltinArchives: []string{filepath.Join(n.BinDir, images.PauseArchive)},
		RegistryMirror:  registry.DefaultAddress,
	}.Complete()
	if err != nil {
		return nil, err
	}
	ctr := containerd.New(ctrCfg)
	// Serves the archives' images to containerd's pulls, after containerd imported them.
	mirror, err := registry.New(registry.Config{Address: registry.DefaultAddress, Socket: ctr.Socket(), Served: ctr.ArchivedImages})
	if err != nil {
		return nil, err
	}
	lbAddress := n.LoadBalancerAddress
	if lbAddress == "" {
		lbAddress = DefaultLoadBalancerAddress
	}
	lb, err := loadbalancer.New("apiserver", lbAddress, n.APIServers)
	if err != nil {
		return nil, err
	}
	creds := &credentials{node: n, files: supervisor.Files{Dir: n.CredentialsDir()}, apiserverURL: lb.URL()}
	files := creds.files

	etc := filepath.Join(n.agentDir(), "etc")
	resolv := n.ResolvConf
	if resolv == "" {
		resolv = "/etc/resolv.conf"
	}
	cgroupRoot := n.CgroupRoot
	if cgroupRoot == "" {
		cgroupRoot = "/"
	}
	kl, err := kubelet.New(kubelet.Config{
		NodeName:      n.Name,
		NodeIPs:       n.IPs,
		Dir:           filepath.Join(n.agentDir(), "kubelet"),
		ConfigDir:     etc,
		Kubeconfig:    files.KubeletKubeconfig(),
		ClientCAFile:  files.ClientCA(),
		ServingCert:   files.ServingCert(),
		ServingKey:    files.ServingKey(),
		RuntimeSocket: ctr.Socket(),
		ClusterDNS:    n.ClusterDNS,
		ClusterDomain: n.ClusterDomain,
		CgroupRoot:    cgroupRoot,
		ResolvConf:    resolv,
		PodLogsDir:    n.PodLogsDir,
		ExtraArgs:     n.ExtraKubeletArgs,
	})
	if err != nil {
		return nil, err
	}
	network, err := flannel.New(flannel.Config{
		NodeName:    n.Name,
		NodeIP:      n.IPs[0],
		Kubeconfig:  files.ControllerKubeconfig(),
		ClusterCIDR: n.ClusterCIDR,
		Backend:     n.FlannelBackend,
		Dir:         filepath.Join(etc, "flannel"),
		CNIConfDir:  ctrCfg.CNIConfDir,
		CNIDataDir:  filepath.Join(n.agentDir(), "cni", "networks"),
	})
	if err != nil {
		return nil, err
	}
	proxy, err := kubeproxy.New(kubeproxy.Config{
		NodeName:    n.Name,
		ConfigDir:   etc,
		Kubeconfig:  files.KubeProxyKubeconfig(),
		ClusterCIDR: n.ClusterCIDR,
		Mode:        n.ProxyMode,
		ExtraArgs:   n.ExtraKubeProxyArgs,
	})
	if err != nil {
		return nil, err
	}
	// The load balancer follows the apiservers the cluster lists, once the node has credentials.
	out := []component.Component{ctr, mirror, lb, creds, loadbalancer.NewFollower(lb, files.KubeProxyKubeconfig())}
	if n.Tunnel {
		t, err := n.tunnels(files, lb)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return append(out, kl, network, proxy), nil
}

// tunnels dial the join API's tunnel endpoint of every server with the node's kubelet client
// certificate, read at each connection so a renewed one is used. The servers are those the
// load balancer knows (the apiservers of the kubernetes Service), each at the join API's port.
func (n Node) tunnels(files supervisor.Files, lb *loadbalancer.LoadBalancer) (*tunnel.Pool, error) {
	caFile := n.ServerCAFile
	if caFile == "" {
		caFile = files.ServerCA()
	}
	roots, err := certutil.NewPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	join, err := url.Parse(n.JoinURL)
	if err != nil || join.Port() == "" {
		return nil, fmt.Errorf("tunnel: join API URL %q has no port", n.JoinURL)
	}
	var addrs []netip.Addr
	for _, ip := range n.IPs {
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a.Unmap())
		}
	}
	tlsCfg := &tls.Config{
		RootCAs:    roots,
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			pair, err := tls.LoadX509KeyPair(files.ClientCert(), files.ClientKey())
			return &pair, err
		},
	}
	cfg := tunnel.AgentConfig{
		ServerURL: n.JoinURL,
		TLS:       tlsCfg,
		Token:     n.Token,
		NodeName:  n.Name,
		Addresses: addrs,
	}
	if n.LocalServer {
		cfg.ServerURL = ""
	}
	servers := func() []string {
		var out []string
		for _, s := range lb.Servers() {
			host, _, err := net.SplitHostPort(s)
			if err != nil {
				continue
			}
			if a, err := netip.ParseAddr(host); err == nil && (a.IsLoopback() || n.LocalServer && slices.Contains(addrs, a.Unmap())) {
				continue // this node's own server
			}
			out = append(out, "https://"+net.JoinHostPort(host, join.Port()))
		}
		return out
	}
	return tunnel.NewPool(tunnel.PoolConfig{Agent: cfg, Servers: servers}), nil
}

// credentials registers the node with the join API at start and writes what it hands out, and
// the kubeconfigs of the kubelet, kube-proxy and the pod network, all pointing at the load
// balancer.
type credentials struct {
	node         Node
	files        supervisor.Files
	apiserverURL string
}

func (c *credentials) Name() string               { return "node-credentials" }
func (c *credentials) Init(context.Context) error { return nil }
func (c *credentials) Stop(context.Context) error { return nil }

// Start registers (unless the node has) and writes the kubeconfigs.
func (c *credentials) Start(ctx context.Context) error {
	n := c.node
	node := supervisor.Node{Name: n.Name, Addresses: n.IPs}
	if !n.Registered {
		if _, err := Register(ctx, n.JoinURL, n.Token, node, c.files.Dir); err != nil {
			return err
		}
	}
	return c.writeKubeconfigs()
}

// Register registers node with the join API at joinURL, retrying while the server cannot be
// reached; a refused token or a CA that does not match the token ends it.
func Register(ctx context.Context, joinURL string, tok token.Token, node supervisor.Node, dir string) (*supervisor.Registration, error) {
	delay := time.Second
	for {
		reg, err := supervisor.Register(ctx, joinURL, tok, node, dir)
		if err == nil {
			return reg, nil
		}
		if errors.Is(err, supervisor.ErrRefused) || errors.Is(err, token.ErrCAMismatch) {
			return nil, fmt.Errorf("registering node %s: %w", node.Name, err)
		}
		klog.InfoS("Waiting to register the node", "server", joinURL, "err", err, "retry", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("registering node %s: %w (last error: %v)", node.Name, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 15*time.Second)
	}
}

func (c *credentials) writeKubeconfigs() error {
	f := c.files
	proxy := CertPair{Cert: f.KubeProxyCert(), Key: f.KubeProxyKey()}
	if c.node.KubeProxyCert != nil {
		proxy = *c.node.KubeProxyCert
	}
	controller := CertPair{Cert: f.ControllerCert(), Key: f.ControllerKey()}
	if c.node.ControllerCert != nil {
		controller = *c.node.ControllerCert
	}
	for path, pair := range map[string]CertPair{
		f.KubeletKubeconfig():    {Cert: f.ClientCert(), Key: f.ClientKey()},
		f.KubeProxyKubeconfig():  proxy,
		f.ControllerKubeconfig(): controller,
	} {
		kc, err := pki.KubeconfigFor(c.apiserverURL, f.ServerCA(), pair.Cert, pair.Key, false)
		if err != nil {
			return err
		}
		data, err := clientcmd.Write(*kc)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
