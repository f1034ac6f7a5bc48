// Package flannel runs the pod network: flannel, linked in as a library, leases the node's pod
// subnet from the Node object (the controller-manager allocates it) and builds the vxlan
// overlay between nodes; distro then writes the CNI configuration that puts pods on a bridge
// in that subnet.
package flannel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/flannel-io/flannel/pkg/backend"
	_ "github.com/flannel-io/flannel/pkg/backend/hostgw" // registers the host-gw backend
	_ "github.com/flannel-io/flannel/pkg/backend/vxlan"  // registers the vxlan backend
	"github.com/flannel-io/flannel/pkg/ip"
	"github.com/flannel-io/flannel/pkg/ipmatch"
	"github.com/flannel-io/flannel/pkg/subnet"
	"github.com/flannel-io/flannel/pkg/subnet/kube"
	"github.com/flannel-io/flannel/pkg/trafficmngr/iptables"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// Backends distro offers.
const (
	BackendVXLAN  = "vxlan"
	BackendHostGW = "host-gw"
)

// annotationPrefix is where flannel keeps each node's lease on the Node object.
const annotationPrefix = "flannel.alpha.coreos.com"

// resyncSeconds is how often flannel re-checks its iptables rules.
const resyncSeconds = 5

// Config is what the pod network needs.
type Config struct {
	NodeName string
	// NodeIP picks the interface the overlay runs over.
	NodeIP net.IP
	// Kubeconfig is the node controllers' identity: it reads every Node and annotates its own
	// (the Node authorizer lets a kubelet read only its own Node).
	Kubeconfig  string
	ClusterCIDR string
	// Backend is vxlan (default) or host-gw.
	Backend string
	// Dir holds flannel's net-conf.json and subnet.env.
	Dir string
	// CNIConfDir is containerd's CNI config dir; CNIDataDir keeps host-local's address leases.
	CNIConfDir, CNIDataDir string
}

func (c Config) netConfFile() string { return filepath.Join(c.Dir, "net-conf.json") }

// SubnetFile is flannel's subnet.env: the node's lease, for tools that read it.
func (c Config) SubnetFile() string { return filepath.Join(c.Dir, "subnet.env") }

// Validate returns every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.NodeName == "" || c.NodeIP == nil || c.Kubeconfig == "" {
		errs = append(errs, errors.New("flannel: node name, node IP and kubeconfig are required"))
	}
	if _, n, err := net.ParseCIDR(c.ClusterCIDR); err != nil || n.IP.To4() == nil {
		errs = append(errs, fmt.Errorf("flannel: cluster CIDR %q is not an IPv4 CIDR", c.ClusterCIDR))
	}
	switch c.Backend {
	case "", BackendVXLAN, BackendHostGW:
	default:
		errs = append(errs, fmt.Errorf("flannel-backend %q: expected %s or %s", c.Backend, BackendVXLAN, BackendHostGW))
	}
	return errors.Join(errs...)
}

// Component runs flannel; it is ready once the lease is held, the rules are in place and the
// CNI configuration is written.
type Component struct {
	cfg    Config
	report func(error)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}
	mu     sync.Mutex
	err    error
	lease  *net.IPNet
}

var (
	_ component.Component       = (*Component)(nil)
	_ component.Readier         = (*Component)(nil)
	_ component.FailureReporter = (*Component)(nil)
)

// New returns the pod network component.
func New(c Config) (*Component, error) {
	if c.Backend == "" {
		c.Backend = BackendVXLAN
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Component{cfg: c}, nil
}

func (f *Component) Name() string                        { return "flannel" }
func (f *Component) ReportFailuresTo(report func(error)) { f.report = report }

// Init writes flannel's network configuration and turns on forwarding.
func (f *Component) Init(context.Context) error {
	for _, d := range []string{f.cfg.Dir, f.cfg.CNIConfDir, f.cfg.CNIDataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(`{"Network": %q, "EnableIPv4": true, "Backend": {"Type": %q}}`+"\n", f.cfg.ClusterCIDR, f.cfg.Backend)
	if err := atomicfile.Write(f.cfg.netConfFile(), []byte(conf), 0o644); err != nil {
		return err
	}
	return enableForwarding()
}

// enableForwarding lets the node route pod traffic, and makes bridged pod traffic pass through
// iptables, where kube-proxy's Service rules live (a pod reaching a Service backed by a pod on
// the same bridge needs it).
func enableForwarding() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling IPv4 forwarding: %w", err)
	}
	const bridgeNF = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if err := os.WriteFile(bridgeNF, []byte("1"), 0o644); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			klog.InfoS("WARNING: the kernel has no bridge netfilter (br_netfilter); a pod may not reach a Service backed by a pod on the same node", "missing", bridgeNF)
			return nil
		}
		return fmt.Errorf("enabling bridge netfilter: %w", err)
	}
	return nil
}

// Start runs flannel in the background.
func (f *Component) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	f.ready = make(chan struct{})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := f.run(runCtx); err != nil && runCtx.Err() == nil {
			f.mu.Lock()
			f.err = err
			f.mu.Unlock()
			if f.report != nil {
				f.report(err)
			}
		}
	}()
	return nil
}

// Ready reports whether the node's pod network is up.
func (f *Component) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	select {
	case <-f.ready:
		return nil
	default:
		return errors.New("flannel: waiting for the node's pod subnet")
	}
}

// Lease is the node's pod subnet; nil before Ready.
func (f *Component) Lease() *net.IPNet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lease
}

// Stop ends flannel's loops. The overlay device, routes and rules stay: pods keep their network
// while distro restarts.
func (f *Component) Stop(ctx context.Context) error {
	if f.cancel == nil {
		return nil
	}
	f.cancel()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flannel did not stop: %w", ctx.Err())
	}
}

func (f *Component) run(ctx context.Context) error {
	c := f.cfg
	// flannel's kube subnet manager learns the node it runs on only from $NODE_NAME.
	if err := os.Setenv("NODE_NAME", c.NodeName); err != nil {
		return err
	}
	sm, err := kube.NewSubnetManager(ctx, "", c.Kubeconfig, annotationPrefix, c.netConfFile(), false)
	if err != nil {
		return err
	}
	config, err := networkConfig(ctx, sm)
	if err != nil {
		return err
	}
	stack, err := ipmatch.GetIPFamily(true, false)
	if err != nil {
		return err
	}
	ext, err := ipmatch.LookupExtIface(c.NodeIP.String(), "", "", stack, ipmatch.PublicIPOpts{PublicIP: c.NodeIP.String()})
	if err != nil {
		return fmt.Errorf("no interface holds node IP %s: %w", c.NodeIP, err)
	}
	be, err := backend.NewManager(ctx, sm, ext).GetBackend(config.BackendType)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// The lease is the node's pod CIDR, which the controller-manager assigns shortly after the
	// kubelet registers the node: wait for it.
	var network backend.Network
	for {
		if network, err = be.RegisterNetwork(ctx, &wg, config); err == nil {
			break
		}
		klog.InfoS("Waiting for the node's pod subnet", "node", c.NodeName, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering the %s network: %w", config.BackendType, err)
		case <-time.After(time.Second):
		}
	}
	rules := &iptables.IPTablesManager{}
	if err := rules.Init(ctx); err != nil {
		return err
	}
	lease := network.Lease()
	if err := rules.SetupAndEnsureMasqRules(ctx, config.Network, ip.IP4Net{}, ip.IP4Net{}, ip.IP6Net{}, ip.IP6Net{}, ip.IP6Net{}, lease, resyncSeconds, false); err != nil {
		return fmt.Errorf("masquerade rules: %w", err)
	}
	rules.SetupAndEnsureForwardRules(ctx, config.Network, ip.IP6Net{}, resyncSeconds)
	if err := subnet.WriteSubnetFile(c.SubnetFile(), config, true, lease.Subnet, ip.IP6Net{}, network.MTU()); err != nil {
		return err
	}
	if err := WriteCNIConfig(c.CNIConfDir, c.CNIDataDir, lease.Subnet.ToIPNet(), network.MTU()); err != nil {
		return err
	}
	f.mu.Lock()
	f.lease = lease.Subnet.ToIPNet()
	f.mu.Unlock()
	close(f.ready)
	klog.InfoS("Pod network ready", "backend", config.BackendType, "subnet", lease.Subnet.String(), "mtu", network.MTU(), "interface", ext.IfaceName)

	wg.Add(1)
	go func() {
		defer wg.Done()
		network.Run(ctx)
	}()
	if err := sm.CompleteLease(ctx, lease, &wg); err != nil && ctx.Err() == nil {
		return fmt.Errorf("keeping the lease: %w", err)
	}
	<-ctx.Done()
	return nil
}

// networkConfig reads the network configuration, retrying while the apiserver is unreachable.
func networkConfig(ctx context.Context, sm subnet.Manager) (*subnet.Config, error) {
	for {
		config, err := sm.GetNetworkConfig(ctx)
		if err == nil && config != nil {
			return config, nil
		}
		klog.InfoS("Waiting for flannel's network configuration", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
