package tunnel

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// servers is a list of join API URLs a test changes while a pool follows it.
type servers struct {
	mu   sync.Mutex
	urls []string
}

func (s *servers) set(urls ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urls = urls
}

func (s *servers) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.urls)
}

// twoServers are two servers of one cluster and an agent configuration both accept.
func twoServers(t *testing.T) (*fixture, *fixture, AgentConfig) {
	first := start(t)
	second := startWith(t, first.keys)
	cfg := first.agentConfig("worker-1", "192.0.2.7")
	roots := x509.NewCertPool()
	roots.AddCert(first.join.Certificate())
	roots.AddCert(second.join.Certificate())
	cfg.TLS.RootCAs = roots
	// Each fixture has its own fake kubelet.
	cfg.Allow = []string{"127.0.0.1:" + first.port, "127.0.0.1:" + second.port}
	return first, second, cfg
}

func connected(f *fixture, want bool) func() error {
	return func() error {
		if got := f.server.Connected("worker-1"); got != want {
			return fmt.Errorf("server holds worker-1's tunnel: %v, want %v", got, want)
		}
		return nil
	}
}

func TestPoolKeepsATunnelToEveryServer(t *testing.T) {
	first, second, cfg := twoServers(t)
	firstURL, secondURL := cfg.ServerURL, "https://"+second.cutter.ln.Addr().String()
	list := &servers{}
	p := NewPool(PoolConfig{Agent: cfg, Servers: list.get, Interval: 20 * time.Millisecond})
	startComponent(t, p)
	first.eventually("pool ready", func() error { return p.Ready(t.Context()) })
	first.wantAnswer("192.0.2.7", first.port, "/first")
	second.wantRefusal("worker-1", second.port, "code 502")

	// The second server appears among the apiservers: the node tunnels to it too.
	list.set(firstURL, secondURL)
	second.eventually("tunnel to the second server", connected(second, true))
	second.wantAnswer("192.0.2.7", second.port, "/second")
	first.wantAnswer("192.0.2.7", first.port, "/first-still")
	if got := p.Servers(); !slices.Equal(got, slices.Sorted(slices.Values([]string{firstURL, secondURL}))) {
		t.Errorf("pool servers %v", got)
	}

	// The second server goes: its tunnel is closed. The first one stays even when the list
	// forgets it, as the node was pointed at it.
	list.set()
	second.eventually("tunnel to the second server closed", connected(second, false))
	first.wantAnswer("192.0.2.7", first.port, "/first-kept")
	if got := p.Servers(); !slices.Equal(got, []string{firstURL}) {
		t.Errorf("pool servers after the second went: %v", got)
	}
}

// A server's own node tunnels only to the servers the list names.
func TestPoolWithoutAFirstServer(t *testing.T) {
	_, second, cfg := twoServers(t)
	cfg.ServerURL = ""
	list := &servers{}
	p := NewPool(PoolConfig{Agent: cfg, Servers: list.get, Interval: 20 * time.Millisecond})
	startComponent(t, p)
	if err := p.Ready(t.Context()); err != nil {
		t.Errorf("a pool without a first server is not ready at once: %v", err)
	}
	list.set("https://" + second.cutter.ln.Addr().String())
	second.eventually("tunnel to the listed server", connected(second, true))
	second.wantAnswer("192.0.2.7", second.port, "/listed")
}

func TestPoolChecksTheAgentConfiguration(t *testing.T) {
	_, _, cfg := twoServers(t)
	cfg.ServerURL = ""
	cfg.TLS = nil
	if err := NewPool(PoolConfig{Agent: cfg, Servers: func() []string { return nil }}).Init(t.Context()); err == nil {
		t.Error("a pool without the server CA initialised")
	}
	cfg.ServerURL = ""
	if err := NewPool(PoolConfig{Agent: cfg}).Init(t.Context()); err == nil {
		t.Error("a pool with neither a server nor a list initialised")
	}
}
