package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/agent"
	"github.com/distro-io/distro/distro/codepages"
	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/server/addons"
	"github.com/distro-io/distro/distro/server/bootstrap"
	"github.com/distro-io/distro/distro/server/controlplane"
	"github.com/distro-io/distro/distro/server/datastore"
	"github.com/distro-io/distro/distro/server/encryption"
	"github.com/distro-io/distro/distro/server/manifests"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
	"github.com/distro-io/distro/distro/tunnel"
)

// StopTimeout bounds the whole ordered shutdown.
const StopTimeout = 90 * time.Second

// Prepare writes what the components need before they start: the PKI, the tokens and
// the encryption configuration. It is idempotent: a restart reuses every file.
//
// On a datastore servers share, the files every server holds alike come from the cluster's
// bootstrap data there when it exists (a joining server, or any restart), and are published
// there by the server that made them first; the datastore must be running.
func (c *Config) Prepare(ctx context.Context) (*pki.PKI, error) {
	shared, closeStore, err := c.bootstrap()
	if err != nil {
		return nil, err
	}
	if shared == nil {
		return c.prepareFiles()
	}
	defer closeStore()
	found, err := shared.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := c.prepareFiles()
	if err != nil {
		return nil, err
	}
	if !found {
		if err := shared.Publish(ctx); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// bootstrap is the exchange of the shared files through the datastore; nil on SQLite, which
// no other server can reach.
func (c *Config) bootstrap() (*bootstrap.Config, func() error, error) {
	ds := c.datastore
	if ds.Kind == datastore.SQLite {
		return nil, nil, nil
	}
	store := bootstrap.EtcdConfig{Endpoints: []string{"unix://" + ds.Socket}}
	if ds.Kind == datastore.Etcd {
		store = bootstrap.EtcdConfig{Endpoints: strings.Split(ds.Endpoint, ","), CAFile: ds.CAFile, CertFile: ds.CertFile, KeyFile: ds.KeyFile}
	}
	s, err := bootstrap.DialEtcd(store)
	if err != nil {
		return nil, nil, err
	}
	return &bootstrap.Config{DataDir: c.opts.DataDir, Store: s, Token: c.token, JoinURL: c.joinURL}, s.Close, nil
}

// prepareFiles makes or keeps every file of the server.
func (c *Config) prepareFiles() (*pki.PKI, error) {
	o := c.opts
	var nodeIPs []string
	for _, ip := range c.nodeIPs {
		nodeIPs = append(nodeIPs, ip.String())
	}
	pkiOpts := pki.Options{
		DataDir:         o.DataDir,
		TLSSANs:         append(append([]string(nil), o.TLSSANs...), c.advertise.String()),
		NodeIPs:         nodeIPs,
		ServiceCIDRs:    []string{o.ServiceCIDR},
		ClusterDomain:   o.ClusterDomain,
		AdminKubeconfig: o.AdminKubeconfig,
		ServerURL:       "https://127.0.0.1:" + strconv.Itoa(o.HTTPSPort),
	}
	if err := pkiOpts.Validate(); err != nil {
		return nil, err
	}
	pkiCfg, err := pkiOpts.Complete()
	if err != nil {
		return nil, err
	}
	keys, report, err := pkiCfg.Run()
	for _, e := range report.Changes() {
		klog.InfoS("PKI", "change", e.String())
	}
	if err != nil {
		return nil, err
	}
	caHash := token.HashCA(keys.CABundle())
	if c.token.Pinned() && c.token.CAHash != caHash {
		return nil, fmt.Errorf("the token pins CA hash %s but this server's CA hashes to %s: the token is another cluster's", c.token.CAHash, caHash)
	}
	if _, err := token.Ensure(token.ServerTokenFile(o.DataDir), "server", caHash, c.token.Secret); err != nil {
		return nil, err
	}
	if _, err := token.Ensure(token.NodeTokenFile(o.DataDir), "node", caHash, ""); err != nil {
		return nil, err
	}
	if err := encryption.Ensure(c.encryptionConfig(), time.Now()); err != nil {
		return nil, err
	}
	manifestsDir := manifests.Dir(o.DataDir)
	if err := addons.WriteCoreDNS(manifestsDir, addons.CoreDNSParams{ServiceCIDR: o.ServiceCIDR, ClusterDomain: o.ClusterDomain}); err != nil {
		return nil, err
	}
	if err := addons.WriteControllerRBAC(manifestsDir, pki.ControllerUser); err != nil {
		return nil, err
	}
	if err := tunnel.WriteEgressSelectorConfig(tunnel.EgressSelectorFile(o.DataDir), tunnel.EgressSocket(o.DataDir)); err != nil {
		return nil, err
	}
	return keys, nil
}

func (c *Config) encryptionConfig() string { return encryption.File(c.opts.DataDir) }

// Components returns the control plane's components in start order, after the datastore
// (Run starts that first: Prepare needs it).
func (c *Config) Components(keys *pki.PKI) ([]component.Component, error) {
	o := c.opts
	cp := &controlplane.Config{
		DataDir:                    c.serverDir,
		PKI:                        keys.Layout,
		EtcdServers:                c.datastore.EtcdServers(),
		KineStorage:                c.datastore.Kind != datastore.Etcd,
		EncryptionConfig:           c.encryptionConfig(),
		AdvertiseAddress:           c.advertise,
		BindAddress:                o.BindAddress,
		HTTPSPort:                  o.HTTPSPort,
		ServiceCIDR:                o.ServiceCIDR,
		ClusterCIDR:                o.ClusterCIDR,
		ClusterDomain:              o.ClusterDomain,
		NodePortRange:              o.NodePortRange,
		EgressSelectorConfig:       tunnel.EgressSelectorFile(o.DataDir),
		ExtraAPIServerArgs:         o.ExtraAPIServerArgs,
		ExtraControllerManagerArgs: o.ExtraControllerManagerArgs,
		ExtraSchedulerArgs:         o.ExtraSchedulerArgs,
	}
	if c.datastore.Kind == datastore.Etcd {
		cp.EtcdCAFile, cp.EtcdCertFile, cp.EtcdKeyFile = c.datastore.CAFile, c.datastore.CertFile, c.datastore.KeyFile
	}
	controlPlane, err := cp.Components(keys.Layout.Kubeconfig(pki.Admin))
	if err != nil {
		return nil, err
	}
	tunnels, egress, err := c.tunnels(keys)
	if err != nil {
		return nil, err
	}
	join, err := c.joinAPI(keys, tunnels)
	if err != nil {
		return nil, err
	}
	deployer := manifests.New(manifests.Config{
		Dir:        manifests.Dir(o.DataDir),
		Kubeconfig: keys.Layout.Kubeconfig(pki.Supervisor),
	})
	// The tunnels stop after the join API (reverse order) and the egress proxy after the
	// apiserver, so neither goes while something still uses it.
	out := append([]component.Component{tunnels, egress}, controlPlane...)
	out = append(out, join, deployer)
	shared, _, err := c.bootstrap()
	if err != nil {
		return nil, err
	}
	if shared != nil {
		// The keeper closes the store when it stops.
		out = append(out, bootstrap.NewKeeper(*shared, 0))
	}
	if o.DisableAgent {
		return out, nil
	}
	node, err := c.node(keys)
	if err != nil {
		return nil, err
	}
	nodeComponents, err := node.Components()
	if err != nil {
		return nil, err
	}
	return append(out, nodeComponents...), nil
}

func clientPair(l pki.Layout, name string) *agent.CertPair {
	return &agent.CertPair{Cert: l.CertFile("client-" + name), Key: l.KeyFile("client-" + name)}
}

// node is this server's own node. It registers through the server's join API on loopback, like
// any agent, with the node token; kube-proxy uses the control plane's kube-proxy identity.
func (c *Config) node(keys *pki.PKI) (*agent.Node, error) {
	o := c.opts
	nodeTok, err := token.Read(token.NodeTokenFile(o.DataDir))
	if err != nil {
		return nil, err
	}
	binDir, err := agent.PayloadBinDir()
	if err != nil {
		return nil, err
	}
	dns, err := addons.ClusterDNSIP(o.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	return &agent.Node{
		DataDir:            o.DataDir,
		BinDir:             binDir,
		Name:               c.nodeName,
		IPs:                c.nodeIPs,
		JoinURL:            "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(o.SupervisorPort)),
		Tunnel:             true,
		LocalServer:        true,
		ServerCAFile:       keys.Layout.CertFile(pki.ServerCA),
		Token:              nodeTok,
		APIServers:         []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(o.HTTPSPort))},
		KubeProxyCert:      clientPair(keys.Layout, pki.KubeProxy),
		ControllerCert:     clientPair(keys.Layout, pki.Controller),
		ClusterCIDR:        o.ClusterCIDR,
		ClusterDNS:         dns,
		ClusterDomain:      o.ClusterDomain,
		FlannelBackend:     o.FlannelBackend,
		PodLogsDir:         o.PodLogsDir,
		ExtraKubeletArgs:   o.KubeletArgs,
		ExtraKubeProxyArgs: o.KubeProxyArgs,
	}, nil
}

// joinAPI is the supervisor: agents register with the node token, the server token or a join
// token from `distro token create` (kept in <data-dir>/server/join-tokens.json).
func (c *Config) joinAPI(keys *pki.PKI, tunnels *tunnel.Server) (*supervisor.Server, error) {
	o := c.opts
	serverTok, err := token.Read(token.ServerTokenFile(o.DataDir))
	if err != nil {
		return nil, err
	}
	nodeTok, err := token.Read(token.NodeTokenFile(o.DataDir))
	if err != nil {
		return nil, err
	}
	return supervisor.New(supervisor.Config{
		Address: net.JoinHostPort(o.BindAddress, strconv.Itoa(o.SupervisorPort)),
		PKI:     keys,
		Auth: &token.Authenticator{
			CAHash:       token.HashCA(keys.CABundle()),
			ServerSecret: serverTok.Secret,
			NodeSecret:   nodeTok.Secret,
			JoinTokens:   token.NewFileStore(token.JoinTokensFile(o.DataDir)),
		},
		APIServerURL: "https://" + net.JoinHostPort(c.advertise.String(), strconv.Itoa(o.HTTPSPort)),
		Tunnel:       tunnels,
		Cluster:      c.clusterSettings(),
	}), nil
}

// clusterSettings are what agents learn from the join API.
func (c *Config) clusterSettings() supervisor.ClusterSettings {
	o := c.opts
	dns, _ := addons.ClusterDNSIP(o.ServiceCIDR) // checked by Validate
	return supervisor.ClusterSettings{
		ClusterCIDR:    o.ClusterCIDR,
		ServiceCIDR:    o.ServiceCIDR,
		ClusterDNS:     dns.String(),
		ClusterDomain:  o.ClusterDomain,
		FlannelBackend: o.FlannelBackend,
	}
}

// tunnels are the agents' websockets and the egress proxy through which the apiserver reaches
// every kubelet: over its node's tunnel, or on loopback for this server's own node. With a
// node of its own the server routes to pods and Services itself, so webhooks and aggregated
// APIs at those addresses are dialled directly.
func (c *Config) tunnels(keys *pki.PKI) (*tunnel.Server, *tunnel.EgressProxy, error) {
	o := c.opts
	cfg, err := clientcmd.BuildConfigFromFlags("", keys.Layout.Kubeconfig(pki.Supervisor))
	if err != nil {
		return nil, nil, err
	}
	nodes, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	tunnels := tunnel.NewServer(tunnel.ServerConfig{ClientCAs: keys.ClientCA.Pool(), Nodes: nodes})
	egress := tunnel.EgressConfig{Socket: tunnel.EgressSocket(o.DataDir), Tunnel: tunnels}
	if !o.DisableAgent {
		egress.Local.Name = c.nodeName
		for _, ip := range c.nodeIPs {
			if a, ok := netip.AddrFromSlice(ip); ok {
				egress.Local.Addresses = append(egress.Local.Addresses, a.Unmap())
			}
		}
		for _, cidr := range []string{o.ClusterCIDR, o.ServiceCIDR} {
			p, err := netip.ParsePrefix(cidr)
			if err != nil {
				return nil, nil, err
			}
			egress.Direct = append(egress.Direct, p.Masked())
		}
	}
	return tunnels, tunnel.NewEgressProxy(egress), nil
}

// Run starts the server and serves until ctx ends or a component fails, then stops every
// component in reverse order. The datastore starts first and stops last, under a manager of
// its own: the shared files are read from it before the rest is even configured.
func Run(ctx context.Context, c *Config) error {
	storage := component.NewManager()
	storage.Add(datastore.New(c.datastore))
	if err := storage.Init(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := storage.Start(ctx); err != nil {
		if ctx.Err() != nil {
			klog.InfoS("stopped before the server was ready", "reason", context.Cause(ctx))
			return nil
		}
		return err
	}
	err := serve(ctx, c, start, storage.Failed())
	stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if serr := storage.Stop(stopCtx); serr != nil {
		return errors.Join(err, fmt.Errorf("stopping: %w", serr))
	}
	return err
}

// serve runs the rest of the server on the running datastore.
func serve(ctx context.Context, c *Config, start time.Time, storageFailed <-chan error) error {
	keys, err := c.Prepare(ctx)
	if err != nil {
		if ctx.Err() != nil {
			klog.InfoS("stopped before the server was ready", "reason", context.Cause(ctx))
			return nil
		}
		return err
	}
	components, err := c.Components(keys)
	if err != nil {
		return err
	}
	m := component.NewManager()
	m.Add(components...)
	if err := m.Init(ctx); err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		if ctx.Err() != nil {
			// Asked to stop while starting: the manager has already stopped what had started.
			klog.InfoS("stopped before the server was ready", "reason", context.Cause(ctx))
			return nil
		}
		return err
	}
	klog.InfoS("distro server is ready", "took", time.Since(start).Round(time.Millisecond),
		"kubeconfig", c.opts.AdminKubeconfig, "datastore", c.datastore.Kind)
	go codepages.DropAfter(ctx, codepages.AfterReady, codepages.Log)

	var cause error
	select {
	case <-ctx.Done():
		klog.InfoS("stopping", "reason", context.Cause(ctx))
	case cause = <-m.Failed():
		klog.ErrorS(cause, "a component failed; stopping")
	case cause = <-storageFailed:
		klog.ErrorS(cause, "the datastore failed; stopping")
	}
	containLingeringExits()
	stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if err := m.Stop(stopCtx); err != nil {
		return errors.Join(cause, fmt.Errorf("stopping: %w", err))
	}
	return cause
}

// containLingeringExits keeps an ordered shutdown from being cut short. Upstream components
// leave goroutines behind when their command returns (the controller-manager's token
// refreshers, for one); once the apiserver has stopped, such a goroutine may call
// klog.Fatal, which would exit the process before the datastore is closed. From here on
// such an exit ends only the goroutine that asked for it.
func containLingeringExits() {
	klog.OsExit = func(code int) {
		klog.InfoS("ignoring an exit requested during shutdown", "code", code)
		runtime.Goexit()
	}
}
