package server

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"time"

	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/server/controlplane"
	"github.com/distro-io/distro/distro/server/datastore"
	"github.com/distro-io/distro/distro/server/encryption"
	"github.com/distro-io/distro/distro/server/manifests"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
)

// StopTimeout bounds the whole ordered shutdown.
const StopTimeout = 90 * time.Second

// Prepare writes what the components need before they start: the PKI, the tokens and
// the encryption configuration. It is idempotent: a restart reuses every file.
func (c *Config) Prepare() (*pki.PKI, error) {
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
	if _, err := token.Ensure(token.ServerTokenFile(o.DataDir), "server", caHash, o.Token); err != nil {
		return nil, err
	}
	if _, err := token.Ensure(token.NodeTokenFile(o.DataDir), "node", caHash, ""); err != nil {
		return nil, err
	}
	if err := encryption.Ensure(c.encryptionConfig(), time.Now()); err != nil {
		return nil, err
	}
	return keys, nil
}

func (c *Config) encryptionConfig() string { return encryption.File(c.opts.DataDir) }

// Components returns the control plane's components in start order.
func (c *Config) Components(keys *pki.PKI) ([]component.Component, error) {
	o := c.opts
	cp := &controlplane.Config{
		DataDir:                    c.serverDir,
		PKI:                        keys.Layout,
		EtcdServers:                c.datastore.EtcdServers(),
		EncryptionConfig:           c.encryptionConfig(),
		AdvertiseAddress:           c.advertise,
		BindAddress:                o.BindAddress,
		HTTPSPort:                  o.HTTPSPort,
		ServiceCIDR:                o.ServiceCIDR,
		ClusterCIDR:                o.ClusterCIDR,
		ClusterDomain:              o.ClusterDomain,
		NodePortRange:              o.NodePortRange,
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
	join, err := c.joinAPI(keys)
	if err != nil {
		return nil, err
	}
	deployer := manifests.New(manifests.Config{
		Dir:        manifests.Dir(o.DataDir),
		Kubeconfig: keys.Layout.Kubeconfig(pki.Supervisor),
	})
	out := append([]component.Component{datastore.New(c.datastore)}, controlPlane...)
	return append(out, join, deployer), nil
}

// joinAPI is the supervisor: agents register with the node token, the server token or a join
// token from `distro token create` (kept in <data-dir>/server/join-tokens.json).
func (c *Config) joinAPI(keys *pki.PKI) (*supervisor.Server, error) {
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
	}), nil
}

// Run starts the server and serves until ctx ends or a component fails, then stops every
// component in reverse order.
func Run(ctx context.Context, c *Config) error {
	keys, err := c.Prepare()
	if err != nil {
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
	start := time.Now()
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

	var cause error
	select {
	case <-ctx.Done():
		klog.InfoS("stopping", "reason", context.Cause(ctx))
	case cause = <-m.Failed():
		klog.ErrorS(cause, "a component failed; stopping")
	}
	containLingeringExits()
	stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if err := m.Stop(stopCtx); err != nil {
		return fmt.Errorf("stopping: %w", err)
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
