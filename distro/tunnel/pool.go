package tunnel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
)

// DefaultPoolInterval is how often a Pool looks at its list of servers.
const DefaultPoolInterval = 5 * time.Second

// PoolConfig is what a Pool needs.
type PoolConfig struct {
	// Agent is the configuration of every tunnel. Its ServerURL is the server the node was
	// pointed at: its tunnel is opened at start, is what Ready waits for, and is kept whatever
	// the list says. Empty when there is no such server (a server's own node, whose local
	// apiserver needs no tunnel).
	Agent AgentConfig
	// Servers returns the join API URLs (https://host:port) of every server the node should
	// keep a tunnel to. It is called every Interval.
	Servers func() []string
	// Interval is DefaultPoolInterval when zero.
	Interval time.Duration
}

// Pool keeps a tunnel open to every server. A server's apiserver reaches a kubelet only
// through a tunnel the node opened to that very server, so with several servers each node
// needs one to each of them: the pool follows the list of servers, opening a tunnel to a server
// that appears and closing the one to a server that is gone.
type Pool struct {
	cfg PoolConfig
	log logr.Logger

	first *Agent // the tunnel to Agent.ServerURL; nil without one

	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	others map[string]*Agent // by server URL
}

var (
	_ component.Component = (*Pool)(nil)
	_ component.Readier   = (*Pool)(nil)
)

// NewPool returns the node's tunnels as one component.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPoolInterval
	}
	log := cfg.Agent.Log
	if log.GetSink() == nil {
		log = klog.Background().WithName("tunnel-pool")
	}
	p := &Pool{cfg: cfg, log: log, others: map[string]*Agent{}}
	if cfg.Agent.ServerURL != "" {
		p.first = NewAgent(cfg.Agent)
	}
	return p
}

func (p *Pool) Name() string { return "tunnel-agent" }

// Init checks the configuration with the first server's tunnel, or with a stand-in URL.
func (p *Pool) Init(ctx context.Context) error {
	if p.first != nil {
		return p.first.Init(ctx)
	}
	if p.cfg.Servers == nil {
		return errors.New("tunnel pool: neither a server URL nor a list of servers")
	}
	probe := p.cfg.Agent
	probe.ServerURL = "https://127.0.0.1:1"
	return NewAgent(probe).Init(ctx)
}

// Start opens the first tunnel and follows the list in the background.
func (p *Pool) Start(ctx context.Context) error {
	if p.first != nil {
		if err := p.first.Start(ctx); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.run(runCtx)
	return nil
}

func (p *Pool) run(ctx context.Context) {
	defer close(p.done)
	if p.cfg.Servers == nil {
		return
	}
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sync opens tunnels to the servers that appeared and closes those to servers that are gone.
func (p *Pool) sync(ctx context.Context) {
	want := slices.Compact(slices.Sorted(slices.Values(p.cfg.Servers())))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, url := range want {
		if url == p.cfg.Agent.ServerURL || p.others[url] != nil {
			continue
		}
		cfg := p.cfg.Agent
		cfg.ServerURL = url
		a := NewAgent(cfg)
		if err := a.Init(ctx); err != nil {
			p.log.Error(err, "cannot open a tunnel to a server", "server", url)
			continue
		}
		if err := a.Start(ctx); err != nil {
			p.log.Error(err, "cannot open a tunnel to a server", "server", url)
			continue
		}
		p.log.Info("opening a tunnel to another server", "server", url)
		p.others[url] = a
	}
	for url, a := range p.others {
		if slices.Contains(want, url) {
			continue
		}
		p.log.Info("closing the tunnel to a server that is gone", "server", url)
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := a.Stop(stopCtx); err != nil {
			p.log.Error(err, "closing a tunnel", "server", url)
		}
		cancel()
		delete(p.others, url)
	}
}

// Ready is the first tunnel's readiness; without a first server the pool is ready at once.
func (p *Pool) Ready(ctx context.Context) error {
	if p.first == nil {
		return nil
	}
	return p.first.Ready(ctx)
}

// Servers returns the URLs of the servers the pool holds a tunnel to now, connected or not.
func (p *Pool) Servers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	if p.first != nil {
		out = append(out, p.cfg.Agent.ServerURL)
	}
	for url := range p.others {
		out = append(out, url)
	}
	slices.Sort(out)
	return out
}

// Stop closes every tunnel.
func (p *Pool) Stop(ctx context.Context) error {
	if p.cancel != nil {
		p.cancel()
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("tunnel pool: still following the servers: %w", context.Cause(ctx))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for url, a := range p.others {
		errs = append(errs, a.Stop(ctx))
		delete(p.others, url)
	}
	if p.first != nil {
		errs = append(errs, p.first.Stop(ctx))
	}
	return errors.Join(errs...)
}
