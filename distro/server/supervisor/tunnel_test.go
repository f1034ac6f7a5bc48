package supervisor_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	certutil "k8s.io/client-go/util/cert"

	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
	"github.com/distro-io/distro/distro/tunnel"
)

type lifecycle interface {
	Init(context.Context) error
	Start(context.Context) error
	Stop(context.Context) error
}

func run(t *testing.T, c lifecycle) {
	t.Helper()
	ctx := context.Background()
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := c.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// An agent registers through the join API, then opens its tunnel on the same port with the
// node token and the kubelet client certificate it was issued, and the server reaches its
// kubelet through it.
func TestJoinAPIServesTheTunnel(t *testing.T) {
	dataDir := t.TempDir()
	opts := pki.Options{
		DataDir: dataDir, Hostname: "server", NodeIPs: []string{"127.0.0.1"},
		ServiceCIDRs: []string{"10.43.0.0/16"}, AdminKubeconfig: filepath.Join(dataDir, "admin.yaml"),
	}
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg, err := opts.Complete()
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := cfg.Run()
	if err != nil {
		t.Fatal(err)
	}
	caHash := token.HashCA(keys.CABundle())
	serverTok, err := token.Ensure(token.ServerTokenFile(dataDir), token.ServerUser, caHash, "")
	if err != nil {
		t.Fatal(err)
	}
	nodeTok, err := token.Ensure(token.NodeTokenFile(dataDir), token.NodeUser, caHash, "")
	if err != nil {
		t.Fatal(err)
	}

	tunnels := tunnel.NewServer(tunnel.ServerConfig{ClientCAs: keys.ClientCA.Pool(), Log: logr.Discard()})
	run(t, tunnels)
	join := supervisor.New(supervisor.Config{
		Address:      "127.0.0.1:0",
		PKI:          keys,
		Auth:         &token.Authenticator{CAHash: caHash, ServerSecret: serverTok.Secret, NodeSecret: nodeTok.Secret},
		APIServerURL: "https://127.0.0.1:6443",
		Tunnel:       tunnels,
		Log:          logr.Discard(),
	})
	run(t, join)
	url := "https://" + join.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := supervisor.Register(ctx, url, nodeTok, supervisor.Node{Name: "worker-1", Addresses: []net.IP{net.ParseIP("192.0.2.7")}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(reg.Files.ClientCert(), reg.Files.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certutil.NewPool(reg.Files.ServerCA())
	if err != nil {
		t.Fatal(err)
	}

	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "kubelet") }))
	defer kubelet.Close()
	agentCfg := func(tok token.Token, certs []tls.Certificate) tunnel.AgentConfig {
		return tunnel.AgentConfig{
			ServerURL: url,
			TLS:       &tls.Config{RootCAs: roots, Certificates: certs},
			Token:     tok,
			NodeName:  "worker-1",
			Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.7")},
			Allow:     []string{kubelet.Listener.Addr().String()},
			Log:       logr.Discard(),
		}
	}

	// Refused: a wrong token (by the join API), no client certificate (by the tunnel).
	wrong := nodeTok
	wrong.Secret = "not-the-secret-0123456789"
	noCert := agentCfg(nodeTok, nil)
	noCert.TLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	for name, c := range map[string]tunnel.AgentConfig{"wrong token": agentCfg(wrong, []tls.Certificate{pair}), "no certificate": noCert} {
		a := tunnel.NewAgent(c)
		run(t, a)
		err := waitFor(func() error {
			err := a.Ready(ctx)
			if err != nil && strings.Contains(err.Error(), "answered") {
				return nil
			}
			return fmt.Errorf("no refusal yet: %v", err)
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := a.Ready(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: %v, want a 401", name, err)
		}
	}

	a := tunnel.NewAgent(agentCfg(nodeTok, []tls.Certificate{pair}))
	run(t, a)
	if err := waitFor(func() error {
		if !tunnels.Connected("worker-1") {
			return fmt.Errorf("worker-1 not connected: %v", a.Ready(ctx))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if node, ok := tunnels.Lookup("192.0.2.7"); !ok || node != "worker-1" {
		t.Errorf("Lookup(192.0.2.7) = %q, %v", node, ok)
	}
	kubeletRoots := x509.NewCertPool()
	kubeletRoots.AddCert(kubelet.Certificate())
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return tunnels.Dial(ctx, "worker-1", kubelet.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{RootCAs: kubeletRoots, ServerName: "example.com"},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://worker-1:10250/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "kubelet" {
		t.Errorf("kubelet through the join API's tunnel answered %q", body)
	}
}

func waitFor(cond func() error) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
