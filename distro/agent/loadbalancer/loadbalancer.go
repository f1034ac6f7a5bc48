// Package loadbalancer is a node's client-side load balancer for the apiserver: a TCP proxy on
// loopback that the kubelet, kube-proxy and the pod network talk to, forwarding each connection
// to one of the servers it knows. It follows the servers as they come and go, so a node keeps
// working while any one server is up, and it owns every connection it forwards, so stopping it
// closes them (the apiserver of the same process can then shut down without waiting for them).
package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
)

// dialTimeout bounds one attempt to reach a server.
const dialTimeout = 3 * time.Second

// LoadBalancer forwards connections on Address to the servers, trying them in turn and
// sticking to the last one that answered.
type LoadBalancer struct {
	name    string
	address string

	mu       sync.Mutex
	servers  []string
	current  int
	listener net.Listener
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

var _ component.Component = (*LoadBalancer)(nil)

// New returns a load balancer named name listening on address (host:port on loopback) for
// servers (host:port each).
func New(name, address string, servers []string) (*LoadBalancer, error) {
	if len(servers) == 0 {
		return nil, fmt.Errorf("%s load balancer: no servers", name)
	}
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("%s load balancer: server %q: %w", name, s, err)
		}
	}
	return &LoadBalancer{name: name, address: address, servers: slices.Clone(servers), conns: map[net.Conn]struct{}{}}, nil
}

func (lb *LoadBalancer) Name() string { return lb.name + "-load-balancer" }

func (lb *LoadBalancer) Init(context.Context) error { return nil }

// URL is https://<address>, where clients of the balanced servers connect.
func (lb *LoadBalancer) URL() string { return "https://" + lb.address }

// Servers returns the servers in the order they are tried.
func (lb *LoadBalancer) Servers() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return slices.Clone(lb.servers)
}

// Update replaces the servers; connections already forwarded stay where they are. An empty
// list is ignored: a node never forgets its last way to the control plane.
func (lb *LoadBalancer) Update(servers []string) {
	if len(servers) == 0 {
		return
	}
	servers = slices.Clone(servers)
	slices.Sort(servers)
	servers = slices.Compact(servers)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if slices.Equal(servers, lb.servers) {
		return
	}
	// Keep using the current server if it is still in the list.
	cur := lb.servers[lb.current%len(lb.servers)]
	lb.servers, lb.current = servers, max(0, slices.Index(servers, cur))
	klog.InfoS("Load balancer servers changed", "name", lb.name, "servers", servers)
}

// Start listens and forwards in the background.
func (lb *LoadBalancer) Start(context.Context) error {
	ln, err := net.Listen("tcp", lb.address)
	if err != nil {
		return fmt.Errorf("%s load balancer: %w", lb.name, err)
	}
	lb.mu.Lock()
	lb.listener = ln
	lb.mu.Unlock()
	lb.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !lb.track(c) {
				c.Close()
				return
			}
			lb.wg.Go(func() { lb.forward(c) })
		}
	})
	return nil
}

// Stop closes the listener and every forwarded connection.
func (lb *LoadBalancer) Stop(ctx context.Context) error {
	lb.mu.Lock()
	if lb.listener != nil {
		lb.listener.Close()
	}
	for c := range lb.conns {
		c.Close()
	}
	lb.conns = nil
	lb.mu.Unlock()
	done := make(chan struct{})
	go func() { lb.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track registers c for Stop; false once stopped.
func (lb *LoadBalancer) track(c net.Conn) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.conns == nil {
		return false
	}
	lb.conns[c] = struct{}{}
	return true
}

func (lb *LoadBalancer) untrack(c net.Conn) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.conns != nil {
		delete(lb.conns, c)
	}
	c.Close()
}

func (lb *LoadBalancer) forward(client net.Conn) {
	defer lb.untrack(client)
	server, err := lb.dial()
	if err != nil {
		klog.ErrorS(err, "Load balancer could not reach any server", "name", lb.name)
		return
	}
	if !lb.track(server) {
		server.Close()
		return
	}
	defer lb.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Half-close so the other direction can finish its last bytes.
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}

// dial tries the servers from the current one on, and makes the first that answers current.
func (lb *LoadBalancer) dial() (net.Conn, error) {
	lb.mu.Lock()
	servers, start := slices.Clone(lb.servers), lb.current
	lb.mu.Unlock()
	var errs []error
	for i := range servers {
		idx := (start + i) % len(servers)
		c, err := net.DialTimeout("tcp", servers[idx], dialTimeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if i > 0 {
			lb.mu.Lock()
			if slices.Equal(lb.servers, servers) {
				lb.current = idx
			}
			lb.mu.Unlock()
			klog.InfoS("Load balancer switched server", "name", lb.name, "server", servers[idx])
		}
		return c, nil
	}
	return nil, errors.Join(errs...)
}
