package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/server/controlplane"
	"github.com/distro-io/distro/distro/server/datastore"
	"github.com/distro-io/distro/distro/server/encryption"
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

func (c *Config) encryptionConfig() string {
	return filepath.Join(c.serverDir, "cred", "encryption-config.json")
}

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
	return append([]component.Component{datastore.New(c.datastore)}, controlPlane...), nil
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
	stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if err := m.Stop(stopCtx); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return cause
}
