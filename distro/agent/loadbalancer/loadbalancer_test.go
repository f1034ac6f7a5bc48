package loadbalancer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// echoServer answers each line with name: line.
func echoServer(t *testing.T, name string) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewScanner(c)
				for r.Scan() {
					fmt.Fprintf(c, "%s: %s\n", name, r.Text())
				}
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func ask(t *testing.T, addr string) (string, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, "hello")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading through the load balancer: %v", err)
	}
	return line, c
}

func TestForwardsFailsOverAndClosesConnectionsOnStop(t *testing.T) {
	a, stopA := echoServer(t, "a")
	b, stopB := echoServer(t, "b")
	defer stopB()
	lb, err := New("test", freeAddr(t), []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if err := lb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, c := ask(t, lb.address); got != "a: hello\n" {
		t.Fatalf("first answer %q, want server a", got)
	} else {
		c.Close()
	}
	stopA()
	got, held := ask(t, lb.address)
	if got != "b: hello\n" {
		t.Fatalf("after a stopped: %q, want server b", got)
	}
	if err := lb.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The held connection was closed by Stop.
	held.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Error("a forwarded connection survived Stop")
	}
	if _, err := net.DialTimeout("tcp", lb.address, time.Second); err == nil {
		t.Error("the load balancer still listens after Stop")
	}
}

func TestUpdateKeepsCurrentAndIgnoresEmpty(t *testing.T) {
	lb, err := New("test", "127.0.0.1:0", []string{"10.0.0.1:6443"})
	if err != nil {
		t.Fatal(err)
	}
	lb.Update(nil)
	if got := lb.Servers(); len(got) != 1 {
		t.Fatalf("an empty update changed the servers: %v", got)
	}
	lb.Update([]string{"10.0.0.2:6443", "10.0.0.1:6443", "10.0.0.2:6443"})
	if got := lb.Servers(); len(got) != 2 || lb.servers[lb.current] != "10.0.0.1:6443" {
		t.Fatalf("servers %v current %d, want both with 10.0.0.1 current", got, lb.current)
	}
	if _, err := New("test", "127.0.0.1:0", []string{"no-port"}); err == nil {
		t.Error("a server without a port was accepted")
	}
}

func TestServersFromEndpointSlicesSkipNotReady(t *testing.T) {
	port, name := int32(6443), "https"
	ready, notReady := true, false
	slices := []any{&discoveryv1.EndpointSlice{
		Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
			{Addresses: []string{"10.0.0.3"}},
		},
	}}
	got := servers(slices)
	if fmt.Sprint(got) != "[10.0.0.1:6443 10.0.0.3:6443]" {
		t.Errorf("servers %v", got)
	}
}
