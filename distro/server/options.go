// Package server is `distro server`: the control plane in one process (kine, kube-apiserver,
// kube-controller-manager, kube-scheduler) with its PKI, tokens and encryption at rest.
package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/distro-io/distro/distro/agent"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/server/addons"
	"github.com/distro-io/distro/distro/server/datastore"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
	"github.com/distro-io/distro/distro/version"
)

// Options are the server's flags; config-file keys and DISTRO_* variables use the same names.
type Options struct {
	DataDir           string
	AdminKubeconfig   string
	DatastoreEndpoint string
	DatastoreCAFile   string
	DatastoreCertFile string
	DatastoreKeyFile  string
	TLSSANs           []string
	AdvertiseAddress  string
	NodeIPs           []string
	BindAddress       string
	HTTPSPort         int
	SupervisorPort    int
	ClusterCIDR       string
	ServiceCIDR       string
	ClusterDomain     string
	NodePortRange     string
	Server            string
	Token             string
	TokenFile         string
	DisableAgent      bool
	NodeName          string
	FlannelBackend    string
	KubeletArgs       []string
	KubeProxyArgs     []string
	PodLogsDir        string

	ExtraAPIServerArgs         []string
	ExtraControllerManagerArgs []string
	ExtraSchedulerArgs         []string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		DataDir:         version.DataDir,
		AdminKubeconfig: pki.DefaultAdminKubeconfig,
		BindAddress:     "0.0.0.0",
		HTTPSPort:       6443,
		SupervisorPort:  supervisor.DefaultPort,
		ClusterCIDR:     "10.42.0.0/16",
		ServiceCIDR:     "10.43.0.0/16",
		ClusterDomain:   "cluster.local",
		NodePortRange:   "30000-32767",
	}
}

// AddFlags registers every option on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.DataDir, "data-dir", "d", o.DataDir, "directory for state, certificates and the embedded datastore")
	fs.StringVar(&o.AdminKubeconfig, "write-kubeconfig", o.AdminKubeconfig, "where to write the cluster admin's kubeconfig (mode 0600)")
	fs.StringVar(&o.DatastoreEndpoint, "datastore-endpoint", o.DatastoreEndpoint, "sqlite://PATH (default: <data-dir>/server/db/state.db), postgres://…, mysql://…, or https:// etcd endpoints, comma separated")
	fs.StringVar(&o.DatastoreCAFile, "datastore-cafile", "", "CA bundle that verifies the datastore")
	fs.StringVar(&o.DatastoreCertFile, "datastore-certfile", "", "client certificate for the datastore")
	fs.StringVar(&o.DatastoreKeyFile, "datastore-keyfile", "", "client key for the datastore")
	fs.StringSliceVar(&o.TLSSANs, "tls-san", nil, "extra host names or IPs in the apiserver's serving certificate")
	fs.StringVar(&o.AdvertiseAddress, "advertise-address", "", "IP the apiserver advertises to the cluster (default: the first node IP)")
	fs.StringSliceVar(&o.NodeIPs, "node-ip", nil, "IPs of this node (default: the address of the default route's interface)")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "address the apiserver listens on")
	fs.IntVar(&o.HTTPSPort, "https-listen-port", o.HTTPSPort, "port the apiserver listens on")
	fs.IntVar(&o.SupervisorPort, "supervisor-port", o.SupervisorPort, "port of the join API agents register through (/cacerts, node registration), on bind-address")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "pod network")
	fs.StringVar(&o.ServiceCIDR, "service-cidr", o.ServiceCIDR, "service network")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "cluster DNS domain")
	fs.StringVar(&o.NodePortRange, "service-node-port-range", o.NodePortRange, "port range of NodePort services")
	fs.StringVarP(&o.Server, "server", "s", "", "join the cluster of this server, https://HOST:6443: needs its server token and the same --datastore-endpoint")
	fs.StringVarP(&o.Token, "token", "t", "", "the cluster's server token (K10…::server:SECRET) to join with; on the first server, the secret of the token to create (generated when empty)")
	fs.StringVar(&o.TokenFile, "token-file", "", "file holding the token (a server keeps its own in <data-dir>/server/token)")
	fs.BoolVar(&o.DisableAgent, "disable-agent", false, "run the control plane only, without a node")
	fs.StringVar(&o.NodeName, "node-name", "", "name of this server's node (default: the host name)")
	fs.StringVar(&o.FlannelBackend, "flannel-backend", "vxlan", "pod network between nodes: vxlan or host-gw")
	fs.StringArrayVar(&o.KubeletArgs, "kubelet-arg", nil, "extra kubelet flag, flag=value; overrides distro's default")
	fs.StringArrayVar(&o.KubeProxyArgs, "kube-proxy-arg", nil, "extra kube-proxy flag, flag=value")
	fs.StringVar(&o.PodLogsDir, "pod-logs-dir", "", "where containers' logs go (default /var/log/pods); nodes sharing a host need one each")
	fs.StringArrayVar(&o.ExtraAPIServerArgs, "extra-apiserver-arg", nil, "extra kube-apiserver flag, flag=value; overrides distro's default")
	fs.StringArrayVar(&o.ExtraControllerManagerArgs, "extra-controller-manager-arg", nil, "extra kube-controller-manager flag, flag=value")
	fs.StringArrayVar(&o.ExtraSchedulerArgs, "extra-scheduler-arg", nil, "extra kube-scheduler flag, flag=value")
}

// Validate returns every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if !filepath.IsAbs(o.DataDir) {
		errs = append(errs, fmt.Errorf("data-dir %q: must be an absolute path", o.DataDir))
	}
	for name, cidr := range map[string]string{"cluster-cidr": o.ClusterCIDR, "service-cidr": o.ServiceCIDR} {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: not a CIDR like 10.42.0.0/16", name, cidr))
		}
	}
	if o.HTTPSPort < 1 || o.HTTPSPort > 65535 {
		errs = append(errs, fmt.Errorf("https-listen-port %d: not a port", o.HTTPSPort))
	}
	if o.SupervisorPort < 1 || o.SupervisorPort > 65535 {
		errs = append(errs, fmt.Errorf("supervisor-port %d: not a port", o.SupervisorPort))
	} else if o.SupervisorPort == o.HTTPSPort {
		errs = append(errs, fmt.Errorf("supervisor-port %d: the apiserver listens there (https-listen-port)", o.SupervisorPort))
	}
	if net.ParseIP(o.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("bind-address %q: not an IP address", o.BindAddress))
	}
	if o.AdvertiseAddress != "" && net.ParseIP(o.AdvertiseAddress) == nil {
		errs = append(errs, fmt.Errorf("advertise-address %q: not an IP address", o.AdvertiseAddress))
	}
	for _, ip := range o.NodeIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("node-ip %q: not an IP address", ip))
		}
	}
	if lo, hi, ok := strings.Cut(o.NodePortRange, "-"); !ok || lo == "" || hi == "" {
		errs = append(errs, fmt.Errorf("service-node-port-range %q: expected LOW-HIGH", o.NodePortRange))
	}
	if o.Token != "" && o.TokenFile != "" {
		errs = append(errs, errors.New("token and token-file: give one of them"))
	}
	if o.Token != "" {
		if _, err := parseServerToken(o.Token); err != nil {
			errs = append(errs, fmt.Errorf("token: %w", err))
		}
	}
	if o.Server != "" {
		if u, err := url.Parse(o.Server); err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Path != "" && u.Path != "/" {
			errs = append(errs, fmt.Errorf("server %q: expected https://HOST:PORT", o.Server))
		}
		if o.Token == "" && o.TokenFile == "" {
			errs = append(errs, errors.New("server: joining a cluster needs its server token (token or token-file)"))
		}
		if ds := strings.TrimSpace(o.DatastoreEndpoint); ds == "" || strings.HasPrefix(ds, "sqlite://") {
			errs = append(errs, errors.New("server: servers of one cluster share an external datastore; give the one the cluster uses (datastore-endpoint postgres://…, mysql://… or https://etcd…)"))
		}
	}
	if o.PodLogsDir != "" && !filepath.IsAbs(o.PodLogsDir) {
		errs = append(errs, fmt.Errorf("pod-logs-dir %q: must be an absolute path", o.PodLogsDir))
	}
	switch o.FlannelBackend {
	case "vxlan", "host-gw":
	default:
		errs = append(errs, fmt.Errorf("flannel-backend %q: expected vxlan or host-gw", o.FlannelBackend))
	}
	if _, err := addons.ClusterDNSIP(o.ServiceCIDR); err != nil {
		errs = append(errs, fmt.Errorf("service-cidr: %w", err))
	}
	if o.NodeName != "" {
		if msgs := validation.IsDNS1123Subdomain(o.NodeName); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("node-name %q: %s", o.NodeName, strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}

// parseServerToken reads what --token gives: the cluster's server token, or a bare secret.
// Errors never repeat the secret.
func parseServerToken(s string) (token.Token, error) {
	t, err := token.Parse(s)
	switch {
	case err != nil:
		return token.Token{}, err
	case t.JoinID != "":
		return token.Token{}, errors.New("a join token lets agents join, not servers; give the server token (<data-dir>/server/token on a server of the cluster)")
	case t.Username != "" && t.Username != token.ServerUser:
		return token.Token{}, fmt.Errorf("a %s token cannot add a server; give the server token (<data-dir>/server/token on a server of the cluster)", t.Username)
	case strings.ContainsAny(t.Secret, " \t\n:"):
		return token.Token{}, errors.New("a secret must not contain spaces or colons")
	}
	return t, nil
}

// Config is the complete server configuration; only Complete makes one.
type Config struct {
	opts      Options
	token     token.Token
	joinURL   string
	serverDir string
	nodeIPs   []net.IP
	advertise net.IP
	datastore *datastore.Config
	nodeName  string
}

// Complete derives the configuration. Call Validate first.
func (o *Options) Complete() (*Config, error) {
	c := &Config{opts: *o, serverDir: filepath.Join(o.DataDir, "server")}
	raw := o.Token
	if o.TokenFile != "" {
		data, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token-file: %w", err)
		}
		raw = strings.TrimSpace(string(data))
	}
	if raw != "" {
		t, err := parseServerToken(raw)
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		c.token = t
	}
	if o.Server != "" {
		u, _ := url.Parse(o.Server) // checked by Validate
		c.joinURL = "https://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(o.SupervisorPort))
	}
	for _, s := range o.NodeIPs {
		c.nodeIPs = append(c.nodeIPs, net.ParseIP(s))
	}
	if len(c.nodeIPs) == 0 {
		ip, err := agent.DefaultRouteIP()
		if err != nil {
			return nil, fmt.Errorf("node-ip: none given and %w", err)
		}
		c.nodeIPs = []net.IP{ip}
	}
	c.advertise = c.nodeIPs[0]
	if o.AdvertiseAddress != "" {
		c.advertise = net.ParseIP(o.AdvertiseAddress)
	}
	if c.advertise.IsLoopback() {
		// Pods reach the apiserver through the kubernetes Service's endpoint: a loopback
		// address would point each pod at itself, and the apiserver refuses it.
		return nil, fmt.Errorf("advertise-address %s: a loopback address cannot be advertised to the cluster; set --advertise-address or --node-ip to an address of this host", c.advertise)
	}
	ds, err := datastore.Options{
		Endpoint: o.DatastoreEndpoint, CAFile: o.DatastoreCAFile, CertFile: o.DatastoreCertFile,
		KeyFile: o.DatastoreKeyFile, DataDir: c.serverDir,
	}.Complete()
	if err != nil {
		return nil, err
	}
	c.datastore = ds
	if c.nodeName, err = agent.NodeName(o.NodeName); err != nil {
		return nil, err
	}
	return c, nil
}
