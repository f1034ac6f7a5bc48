// Package registry is a node's registry mirror: a read-only OCI distribution API on loopback,
// served from the node's own containerd image store, which containerd tries before every
// registry (see containerd.RenderHosts). An image the node holds from its airgap archives then
// pulls with no registry in reach, as a pod with imagePullPolicy Always needs; for anything
// else the mirror answers 404 and containerd goes on to the registry itself.
//
// Only the images of the archives are served, and only while containerd holds them with the
// target they were imported with. An image pulled from a registry is not: a pull with Always
// (and the kubelet's check of an image pulled with another pod's credentials) must reach that
// registry, which decides whether the pod's credentials may have it.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/opencontainers/go-digest"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
)

// DefaultAddress is where a node's mirror listens: loopback, beside the apiserver load
// balancer's 6444. Each node has its own network namespace, so the port is fixed.
const DefaultAddress = "127.0.0.1:6445"

// Config is the mirror's configuration.
type Config struct {
	// Address is host:port on loopback.
	Address string
	// Socket is containerd's gRPC socket.
	Socket string
	// Served returns the images the mirror may serve, name to target digest: those of the
	// node's airgap archives (containerd.Component.ArchivedImages).
	Served func() map[string]digest.Digest
}

// Mirror is the registry mirror component.
type Mirror struct {
	cfg Config

	mu     sync.Mutex
	client *containerd.Client
	server *http.Server
	done   chan struct{} // closed when Serve returns
}

var _ component.Component = (*Mirror)(nil)

// New validates cfg and returns the component; nothing listens before Start.
func New(cfg Config) (*Mirror, error) {
	var errs []error
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		errs = append(errs, fmt.Errorf("registry mirror: address %q: %w", cfg.Address, err))
	} else if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("registry mirror: address %q is not on loopback: it answers without credentials", cfg.Address))
	}
	if cfg.Socket == "" {
		errs = append(errs, errors.New("registry mirror: no containerd socket"))
	}
	if cfg.Served == nil {
		errs = append(errs, errors.New("registry mirror: no served images"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Mirror{cfg: cfg}, nil
}

func (m *Mirror) Name() string { return "registry-mirror" }

func (m *Mirror) Init(context.Context) error { return nil }

// URL is http://<address>, the mirror's root.
func (m *Mirror) URL() string { return "http://" + m.cfg.Address }

// Start listens and serves in the background.
func (m *Mirror) Start(context.Context) error {
	client, err := containerd.New(m.cfg.Socket)
	if err != nil {
		return fmt.Errorf("registry mirror: %w", err)
	}
	ln, err := net.Listen("tcp", m.cfg.Address)
	if err != nil {
		client.Close()
		return fmt.Errorf("registry mirror: %w", err)
	}
	server := &http.Server{
		Handler:           NewHandler(client.ImageService(), client.ContentStore(), m.cfg.Served),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.client, m.server, m.done = client, server, done
	m.mu.Unlock()
	go func() {
		defer close(done)
		if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "Registry mirror stopped serving", "address", m.cfg.Address)
		}
	}()
	return nil
}

// Stop lets the requests under way finish while ctx allows, then closes them, and closes the
// containerd client.
func (m *Mirror) Stop(ctx context.Context) error {
	m.mu.Lock()
	client, server, done := m.client, m.server, m.done
	m.client, m.server = nil, nil
	m.mu.Unlock()
	if server == nil {
		return nil
	}
	err := server.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, server.Close())
	}
	<-done
	return errors.Join(err, client.Close())
}
