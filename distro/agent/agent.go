package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/codepages"
	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
	"github.com/distro-io/distro/distro/version"
)

// StopTimeout bounds the agent's ordered shutdown.
const StopTimeout = time.Minute

// Options are `distro agent`'s flags; config-file keys and DISTRO_* variables use the same names.
type Options struct {
	DataDir        string
	Server         string
	Token          string
	TokenFile      string
	SupervisorPort int
	NodeName       string
	NodeIPs        []string
	KubeletArgs    []string
	KubeProxyArgs  []string
	PodLogsDir     string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{DataDir: version.DataDir, SupervisorPort: supervisor.DefaultPort}
}

// AddFlags registers every option on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.DataDir, "data-dir", "d", o.DataDir, "directory for the node's state, certificates and containers")
	fs.StringVarP(&o.Server, "server", "s", "", "a server's apiserver, https://HOST:6443")
	fs.StringVarP(&o.Token, "token", "t", "", "join token (K10<CA hash>::<user>:<secret>, from the server's node-token or `distro token create`)")
	fs.StringVar(&o.TokenFile, "token-file", "", "file holding the join token")
	fs.IntVar(&o.SupervisorPort, "supervisor-port", o.SupervisorPort, "port of the servers' join API")
	fs.StringVar(&o.NodeName, "node-name", "", "name of this node (default: the host name)")
	fs.StringSliceVar(&o.NodeIPs, "node-ip", nil, "IPs of this node (default: the address of the default route's interface)")
	fs.StringArrayVar(&o.KubeletArgs, "kubelet-arg", nil, "extra kubelet flag, flag=value; overrides distro's default")
	fs.StringVar(&o.PodLogsDir, "pod-logs-dir", "", "where containers' logs go (default /var/log/pods); nodes sharing a host need one each")
	fs.StringArrayVar(&o.KubeProxyArgs, "kube-proxy-arg", nil, "extra kube-proxy flag, flag=value")
}

// Validate returns every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if !filepath.IsAbs(o.DataDir) {
		errs = append(errs, fmt.Errorf("data-dir %q: must be an absolute path", o.DataDir))
	}
	if o.Server == "" {
		errs = append(errs, errors.New("server: required, like https://10.0.0.1:6443"))
	} else if u, err := url.Parse(o.Server); err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Path != "" && u.Path != "/" {
		errs = append(errs, fmt.Errorf("server %q: expected https://HOST:PORT", o.Server))
	}
	switch {
	case o.Token == "" && o.TokenFile == "":
		errs = append(errs, errors.New("token: required (or token-file)"))
	case o.Token != "" && o.TokenFile != "":
		errs = append(errs, errors.New("token and token-file: give one of them"))
	}
	if o.SupervisorPort < 1 || o.SupervisorPort > 65535 {
		errs = append(errs, fmt.Errorf("supervisor-port %d: not a port", o.SupervisorPort))
	}
	for _, ip := range o.NodeIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("node-ip %q: not an IP address", ip))
		}
	}
	if o.PodLogsDir != "" && !filepath.IsAbs(o.PodLogsDir) {
		errs = append(errs, fmt.Errorf("pod-logs-dir %q: must be an absolute path", o.PodLogsDir))
	}
	return errors.Join(errs...)
}

// Config is the agent's complete configuration; only Complete makes one.
type Config struct {
	opts      Options
	token     token.Token
	nodeName  string
	nodeIPs   []net.IP
	apiserver string // host:port
	joinURL   string
}

// Complete reads the token and decides the node's name and addresses. Call Validate first.
func (o *Options) Complete() (*Config, error) {
	c := &Config{opts: *o}
	raw := o.Token
	if o.TokenFile != "" {
		data, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token-file: %w", err)
		}
		raw = strings.TrimSpace(string(data))
	}
	tok, err := token.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if !tok.Pinned() {
		return nil, errors.New("token: an agent needs the full token (K10<CA hash>::…), which pins the cluster CA")
	}
	c.token = tok
	if c.nodeName, err = NodeName(o.NodeName); err != nil {
		return nil, err
	}
	for _, s := range o.NodeIPs {
		c.nodeIPs = append(c.nodeIPs, net.ParseIP(s))
	}
	if len(c.nodeIPs) == 0 {
		ip, err := DefaultRouteIP()
		if err != nil {
			return nil, fmt.Errorf("node-ip: none given and %w", err)
		}
		c.nodeIPs = []net.IP{ip}
	}
	u, _ := url.Parse(o.Server)
	port := u.Port()
	if port == "" {
		port = "443"
	}
	c.apiserver = net.JoinHostPort(u.Hostname(), port)
	c.joinURL = "https://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(o.SupervisorPort))
	return c, nil
}

// Run registers the node, then runs it until ctx ends or a component fails, and stops every
// component in reverse order (containerd and the pods keep running).
func Run(ctx context.Context, c *Config) error {
	o := c.opts
	binDir, err := PayloadBinDir()
	if err != nil {
		return err
	}
	n := Node{DataDir: o.DataDir, BinDir: binDir, Name: c.nodeName, IPs: c.nodeIPs, JoinURL: c.joinURL, Token: c.token,
		APIServers: []string{c.apiserver}, Registered: true, Tunnel: true,
		ExtraKubeletArgs: o.KubeletArgs, ExtraKubeProxyArgs: o.KubeProxyArgs, PodLogsDir: o.PodLogsDir}
	reg, err := Register(ctx, c.joinURL, c.token, supervisor.Node{Name: c.nodeName, Addresses: c.nodeIPs}, n.CredentialsDir())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cluster := reg.Cluster
	n.ClusterCIDR, n.ClusterDomain, n.FlannelBackend = cluster.ClusterCIDR, cluster.ClusterDomain, cluster.FlannelBackend
	if n.ClusterDNS = net.ParseIP(cluster.ClusterDNS); n.ClusterDNS == nil {
		return fmt.Errorf("the server gave no cluster DNS address (%q)", cluster.ClusterDNS)
	}
	components, err := n.Components()
	if err != nil {
		return err
	}
	m := component.NewManager()
	m.Add(components...)
	if err := m.Init(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := m.Start(ctx); err != nil {
		if ctx.Err() != nil {
			klog.InfoS("stopped before the node was ready", "reason", context.Cause(ctx))
			return nil
		}
		return err
	}
	klog.InfoS(version.Program+" agent is ready", "took", time.Since(start).Round(time.Millisecond), "node", c.nodeName, "server", o.Server)
	go codepages.DropAfter(ctx, codepages.AfterReady, codepages.Log)
	var cause error
	select {
	case <-ctx.Done():
		klog.InfoS("stopping", "reason", context.Cause(ctx))
	case cause = <-m.Failed():
		klog.ErrorS(cause, "a component failed; stopping")
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if err := m.Stop(stopCtx); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return cause
}
