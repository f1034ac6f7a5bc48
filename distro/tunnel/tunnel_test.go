package tunnel

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/server/egressselector"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/keyutil"

	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
)

// syncBuffer collects log lines from every goroutine of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) line(prefix, args string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(prefix + " " + args + "\n")
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) logger(name string) logr.Logger {
	return funcr.New(b.line, funcr.Options{}).WithName(name)
}

// cutter forwards TCP connections to a backend and can cut all of them at once, as a network
// fault would, while still accepting new ones.
type cutter struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	conns   []net.Conn
}

func newCutter(t *testing.T, backend string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, backend: backend}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", backend)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { io.Copy(out, in); out.Close(); in.Close() }()
			go func() { io.Copy(in, out); out.Close(); in.Close() }()
		}
	}()
	return c
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

type fixture struct {
	t       *testing.T
	keys    *pki.PKI
	tok     token.Token
	server  *Server
	join    *httptest.Server // stands in for the join API: token check, then the tunnel
	cutter  *cutter          // between agents and the join API
	socket  string
	dial    func(ctx context.Context, network, addr string) (net.Conn, error) // the apiserver's
	kubelet *httptest.Server
	port    string // the fake kubelet's port
	log     *syncBuffer
}

func newPKI(t *testing.T) *pki.PKI {
	t.Helper()
	dataDir := t.TempDir()
	opts := pki.Options{
		DataDir: dataDir, Hostname: "server-0", NodeIPs: []string{"127.0.0.1"},
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
	return keys
}

// start runs a tunnel server behind a supervisor-like TLS server, an egress proxy on a unix
// socket, a fake kubelet on 127.0.0.1 and the apiserver's own egress dialer built from the
// written configuration file.
func start(t *testing.T, tweaks ...func(*EgressConfig)) *fixture {
	t.Helper()
	return startWith(t, newPKI(t), tweaks...)
}

// startWith is start with the given PKI: fixtures sharing one stand for servers of one cluster.
func startWith(t *testing.T, keys *pki.PKI, tweaks ...func(*EgressConfig)) *fixture {
	t.Helper()
	f := &fixture{t: t, keys: keys, log: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("log:\n%s", f.log)
		}
	})
	f.tok = token.Token{CAHash: token.HashCA(f.keys.CABundle()), Username: token.NodeUser, Secret: "0123456789abcdef0123"}

	f.server = NewServer(ServerConfig{ClientCAs: f.keys.ClientCA.Pool(), Log: f.log.logger("server")})
	startComponent(t, f.server)

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+supervisor.ConnectPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.tok.String() {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		f.server.ServeHTTP(w, r)
	})
	f.join = httptest.NewUnstartedServer(mux)
	f.join.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	// The join API's timeouts, shortened: they must not reach the hijacked tunnel.
	f.join.Config.ReadTimeout = 500 * time.Millisecond
	f.join.Config.WriteTimeout = 500 * time.Millisecond
	f.join.StartTLS()
	t.Cleanup(f.join.Close)
	f.cutter = newCutter(t, f.join.Listener.Addr().String())

	f.kubelet = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "kubelet answers %s", r.URL.Path)
	}))
	t.Cleanup(f.kubelet.Close)
	_, f.port, _ = net.SplitHostPort(f.kubelet.Listener.Addr().String())
	port, _ := strconv.Atoi(f.port)

	// Unix socket paths are short; t.TempDir's are not.
	dir, err := os.MkdirTemp("", "tun")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f.socket = filepath.Join(dir, "egress.sock")
	egressCfg := EgressConfig{
		Socket:       f.socket,
		Tunnel:       f.server,
		AllowedPorts: []int{port},
		Local:        LocalNode{Name: "server-0", Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		Direct:       []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Log:          f.log.logger("egress"),
	}
	for _, tweak := range tweaks {
		tweak(&egressCfg)
	}
	startComponent(t, NewEgressProxy(egressCfg))

	cfgFile := filepath.Join(dir, "egress-selector.yaml")
	if err := WriteEgressSelectorConfig(cfgFile, f.socket); err != nil {
		t.Fatal(err)
	}
	esc, err := egressselector.ReadEgressSelectorConfiguration(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := egressselector.NewEgressSelector(esc)
	if err != nil {
		t.Fatal(err)
	}
	f.dial, err = sel.Lookup(egressselector.Cluster.AsNetworkContext())
	if err != nil || f.dial == nil {
		t.Fatalf("no cluster dialer: %v", err)
	}
	return f
}

type lifecycle interface {
	Init(context.Context) error
	Start(context.Context) error
	Stop(context.Context) error
}

func startComponent(t *testing.T, c lifecycle) {
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

// kubeletCert issues node's kubelet client certificate from the cluster's client CA.
func kubeletCert(t *testing.T, keys *pki.PKI, node string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := keys.IssueKubeletClient(node, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func (f *fixture) agentConfig(node string, addrs ...string) AgentConfig {
	roots := x509.NewCertPool()
	roots.AddCert(f.join.Certificate())
	var ips []netip.Addr
	for _, a := range addrs {
		ips = append(ips, netip.MustParseAddr(a))
	}
	return AgentConfig{
		ServerURL:  "https://" + f.cutter.ln.Addr().String(),
		TLS:        &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{kubeletCert(f.t, f.keys, node)}},
		Token:      f.tok,
		NodeName:   node,
		Addresses:  ips,
		Allow:      []string{"127.0.0.1:" + f.port},
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		Log:        f.log.logger("agent-" + node),
	}
}

// startAgent starts an agent and waits until it is ready and the server holds its session.
func (f *fixture) startAgent(cfg AgentConfig) *Agent {
	f.t.Helper()
	a := NewAgent(cfg)
	startComponent(f.t, a)
	f.eventually("agent "+cfg.NodeName+" ready", func() error { return a.Ready(context.Background()) })
	f.eventually("server holds "+cfg.NodeName+"'s tunnel", func() error {
		if !f.server.Connected(cfg.NodeName) {
			return fmt.Errorf("not connected")
		}
		return nil
	})
	return a
}

func (f *fixture) eventually(what string, cond func() error) {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get asks the kubelet at host:port through the egress proxy, as the apiserver would.
func (f *fixture) get(host, port, path string) (string, error) {
	roots := x509.NewCertPool()
	roots.AddCert(f.kubelet.Certificate())
	tr := &http.Transport{
		DialContext:     f.dial,
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + net.JoinHostPort(host, port) + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func (f *fixture) wantAnswer(host, port, path string) {
	f.t.Helper()
	got, err := f.get(host, port, path)
	if err != nil {
		f.t.Fatalf("GET %s:%s%s through the egress proxy: %v", host, port, path, err)
	}
	if want := "kubelet answers " + path; got != want {
		f.t.Fatalf("GET %s:%s%s: %q, want %q", host, port, path, got, want)
	}
}

func (f *fixture) wantRefusal(host, port string, parts ...string) {
	f.t.Helper()
	_, err := f.get(host, port, "/healthz")
	if err == nil {
		f.t.Fatalf("GET %s:%s succeeded, want a refusal", host, port)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			f.t.Fatalf("GET %s:%s: %v\nwant it to say %q", host, port, err, p)
		}
	}
}

func TestKubeletThroughTheTunnelByAddressAndByName(t *testing.T) {
	f := start(t)
	f.startAgent(f.agentConfig("worker-1", "192.0.2.7"))

	f.wantAnswer("192.0.2.7", f.port, "/pods")
	f.wantAnswer("worker-1", f.port, "/containerLogs/ns/pod/c")
	f.wantAnswer("WORKER-1.", f.port, "/healthz")

	// The join API's read and write timeouts, already passed, did not reach the tunnel.
	time.Sleep(time.Second)
	f.wantAnswer("192.0.2.7", f.port, "/after-the-timeouts")
}

func TestRefusedConnectsSayWhy(t *testing.T) {
	f := start(t)
	f.startAgent(f.agentConfig("worker-1", "192.0.2.7"))

	// A port other than the kubelet's is refused by the proxy, on tunnelled and local nodes.
	f.wantRefusal("192.0.2.7", "22", "code 403", "port 22 of node worker-1 is not tunnelled")
	f.wantRefusal("server-0", "2379", "code 403", "port 2379 of node server-0")
	// An address nobody announced, outside the direct networks.
	f.wantRefusal("203.0.113.9", f.port, "code 502", "no node is known as 203.0.113.9")
	f.wantRefusal("worker-9", f.port, "code 502", "no node is known as worker-9")
	if !strings.Contains(f.log.String(), "refused a CONNECT") {
		t.Errorf("refusals are not logged:\n%s", f.log)
	}
	// The tunnel is still up after all that.
	f.wantAnswer("worker-1", f.port, "/still-up")
}

func TestAgentRefusesWhatItsAllowListLacks(t *testing.T) {
	f := start(t)
	f.startAgent(f.agentConfig("worker-1", "192.0.2.7"))
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secret") }))
	defer other.Close()

	// A server that asks for more than the allow list (here by dialling itself) gets nothing,
	// and the tunnel survives: only that connection fails.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// remotedialer hands out the connection before the agent answers; the refusal arrives
	// as the connection's error.
	conn, err := f.server.Dial(ctx, "worker-1", other.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	got, readErr := io.ReadAll(conn)
	conn.Close()
	if readErr == nil || len(got) > 0 {
		t.Fatalf("read %q, %v through a connection the agent should refuse", got, readErr)
	}
	if !strings.Contains(readErr.Error(), "does not open tcp") {
		t.Errorf("refusal reads %v", readErr)
	}
	if !strings.Contains(f.log.String(), "refused a connection the server asked for") {
		t.Errorf("the agent did not log its refusal:\n%s", f.log)
	}
	f.wantAnswer("worker-1", f.port, "/tunnel-survived")
}

func TestLocalNodeAndDirectNetworksBypassTheTunnel(t *testing.T) {
	f := start(t)
	// No agent at all: the server's own node is dialled on loopback.
	f.wantAnswer("192.0.2.1", f.port, "/local")
	f.wantAnswer("server-0", f.port, "/local-by-name")
	// 127.0.0.0/8 is a direct network in the fixture: any port, dialled by the server.
	f.wantAnswer("127.0.0.1", f.port, "/direct")
}

func TestDirectUnknownDialsWhatNamesNoNode(t *testing.T) {
	f := start(t, func(c *EgressConfig) { c.Direct, c.DirectUnknown = nil, true })
	f.startAgent(f.agentConfig("worker-1", "192.0.2.7"))
	f.wantAnswer("localhost", f.port, "/by-name")
	f.wantAnswer("127.0.0.1", f.port, "/by-address")
	// Nodes are still reached through their tunnels only, on the allowed ports only.
	f.wantAnswer("worker-1", f.port, "/tunnel")
	f.wantRefusal("worker-1", "22", "code 403")
}

func TestDisconnectAndReconnect(t *testing.T) {
	f := start(t)
	a := f.startAgent(f.agentConfig("worker-1", "192.0.2.7"))
	f.wantAnswer("192.0.2.7", f.port, "/before")

	// A network fault: the agent notices and comes back by itself.
	f.cutter.cut()
	f.eventually("agent back after the cut", func() error {
		if !a.Connected() || !f.server.Connected("worker-1") {
			return fmt.Errorf("agent connected %v, server sees it %v", a.Connected(), f.server.Connected("worker-1"))
		}
		if _, err := f.get("192.0.2.7", f.port, "/"); err != nil {
			return err
		}
		return nil
	})
	f.wantAnswer("192.0.2.7", f.port, "/after-reconnect")

	// The agent stops: CONNECTs fail until another one connects.
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	f.eventually("server drops the tunnel", func() error {
		if f.server.Connected("worker-1") {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	f.wantRefusal("worker-1", f.port, "code 502", "node worker-1 has no tunnel connected")
	f.wantRefusal("192.0.2.7", f.port, "code 502", "node worker-1 (192.0.2.7) has no tunnel connected")

	f.startAgent(f.agentConfig("worker-1", "192.0.2.7"))
	f.wantAnswer("192.0.2.7", f.port, "/new-agent")
}

func TestNewestTunnelOfANodeWins(t *testing.T) {
	f := start(t)
	first := f.startAgent(f.agentConfig("worker-1", "192.0.2.7"))
	cfg := f.agentConfig("worker-1", "192.0.2.7")
	second := f.startAgent(cfg)
	f.wantAnswer("worker-1", f.port, "/two")
	// The server dials through the newest session; stopping the older one changes nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f.wantAnswer("worker-1", f.port, "/second")
	if !second.Connected() {
		t.Error("second agent lost its tunnel")
	}
}

func TestAgentIdentity(t *testing.T) {
	f := start(t)
	wrongName := f.agentConfig("worker-1")
	wrongName.NodeName = "worker-2"
	noCert := f.agentConfig("worker-3")
	noCert.TLS.Certificates = nil
	noCert.TLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	badToken := f.agentConfig("worker-4")
	badToken.Token.Secret = "not-the-secret-0123456"
	otherCA := f.agentConfig("worker-5")
	otherCA.TLS.Certificates = []tls.Certificate{kubeletCert(t, newPKI(t), "worker-5")}
	badAddr := f.agentConfig("worker-6")
	badAddr.Addresses = []netip.Addr{netip.MustParseAddr("127.0.0.1")}

	for _, tc := range []struct {
		name string
		cfg  AgentConfig
		want []string
	}{
		{"certificate of another node", wrongName, []string{"403", `certificate is node "worker-1"`}},
		{"no certificate", noCert, []string{"401", "kubelet client certificate"}},
		{"wrong token", badToken, []string{"401"}},
		{"certificate of another cluster", otherCA, []string{"401", "client certificate"}},
		{"loopback announced", badAddr, []string{"400", "127.0.0.1 cannot be a node's address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAgent(tc.cfg)
			startComponent(t, a)
			f.eventually("a refusal", func() error {
				err := a.Ready(context.Background())
				if err == nil {
					return nil
				}
				if strings.Contains(err.Error(), "answered") {
					return nil
				}
				return fmt.Errorf("no answer yet: %w", err)
			})
			err := a.Ready(context.Background())
			if err == nil {
				t.Fatal("agent is ready")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("readiness error %q lacks %q", err, w)
				}
			}
			if f.server.Connected(tc.cfg.NodeName) {
				t.Error("server accepted the tunnel")
			}
		})
	}
}

func TestAgentConfigErrors(t *testing.T) {
	err := NewAgent(AgentConfig{ServerURL: "http://server:9345", NodeName: "Bad_Name", Allow: []string{"10250"}}).Init(context.Background())
	if err == nil {
		t.Fatal("Init accepted an empty configuration")
	}
	for _, want := range []string{"want https://", "RootCAs", "token", "Bad_Name", `allow "10250"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	got, err := connectURL("https://192.0.2.1:9345/ignored")
	if err != nil || got != "wss://192.0.2.1:9345"+supervisor.ConnectPath {
		t.Errorf("connectURL: %q, %v", got, err)
	}
}

func TestNodeObjectsMapAddressesToNodes(t *testing.T) {
	client := fake.NewClientset(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-2"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "192.0.2.20"},
			{Type: corev1.NodeExternalIP, Address: "2001:db8::20"},
			{Type: corev1.NodeHostName, Address: "Worker-2.Example"},
		}},
	})
	s := NewServer(ServerConfig{ClientCAs: x509.NewCertPool(), Nodes: client, Log: logr.Discard()})
	startComponent(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, ok := s.Lookup("192.0.2.20"); ok && n == "worker-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Node's InternalIP never mapped to it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, host := range []string{"2001:db8::20", "worker-2.example", "worker-2", "::ffff:192.0.2.20"} {
		if n, ok := s.Lookup(host); !ok || n != "worker-2" {
			t.Errorf("Lookup(%q) = %q, %v", host, n, ok)
		}
	}
	if _, ok := s.Lookup("192.0.2.21"); ok {
		t.Error("an unknown address found a node")
	}
	// Without a tunnel the node is known but not reachable.
	if _, err := s.Dial(context.Background(), "worker-2", "127.0.0.1:10250"); err == nil || !strings.Contains(err.Error(), ErrNotConnected.Error()) {
		t.Errorf("Dial without a tunnel: %v", err)
	}

	if err := client.CoreV1().Nodes().Delete(context.Background(), "worker-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, ok := s.Lookup("192.0.2.20"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a deleted Node's address still maps to it")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEgressSocketIsPrivateAndRemovedOnStop(t *testing.T) {
	dir, err := os.MkdirTemp("", "tun")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "egress.sock")
	// A stale socket of an earlier run is replaced.
	if err := os.WriteFile(socket, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	p := NewEgressProxy(EgressConfig{Socket: socket, Tunnel: NewServer(ServerConfig{}), Log: logr.Discard()})
	ctx := context.Background()
	if err := p.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", st.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the socket", len(entries))
	}

	// Anything but CONNECT is refused.
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
	resp, err := client.Get("http://egress/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s", resp.Status)
	}
	client.CloseIdleConnections()

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestEgressProxyConfigErrors(t *testing.T) {
	long := "/" + strings.Repeat("d", 120) + "/egress.sock"
	for _, tc := range []struct {
		cfg  EgressConfig
		want string
	}{
		{EgressConfig{Socket: "relative.sock", Tunnel: &Server{}}, "not an absolute path"},
		{EgressConfig{Socket: long, Tunnel: &Server{}}, "too long"},
		{EgressConfig{Socket: "/run/x.sock"}, "tunnel server is required"},
		{EgressConfig{Socket: "/run/x.sock", Tunnel: &Server{}, AllowedPorts: []int{0}}, "allowed port 0"},
	} {
		err := NewEgressProxy(tc.cfg).Init(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestEgressSelectorConfigLoadsInTheApiserver(t *testing.T) {
	dir := t.TempDir()
	path := EgressSelectorFile(dir)
	socket := EgressSocket("/var/lib/distro")
	if err := WriteEgressSelectorConfig(path, socket); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v", st, err)
	}
	cfg, err := egressselector.ReadEgressSelectorConfiguration(path)
	if err != nil {
		t.Fatal(err)
	}
	if errs := egressselector.ValidateEgressSelectorConfiguration(cfg); len(errs) > 0 {
		t.Fatalf("invalid: %v", errs.ToAggregate())
	}
	if len(cfg.EgressSelections) != 1 {
		t.Fatalf("%d egress selections", len(cfg.EgressSelections))
	}
	sel := cfg.EgressSelections[0]
	if sel.Name != "cluster" || sel.Connection.ProxyProtocol != "HTTPConnect" || sel.Connection.Transport == nil ||
		sel.Connection.Transport.UDS == nil || sel.Connection.Transport.UDS.UDSName != "/var/lib/distro/server/egress.sock" {
		t.Errorf("selection %+v", sel)
	}
	if _, err := EgressSelectorConfig("egress.sock"); err == nil {
		t.Error("a relative socket path was accepted")
	}
}

func TestParseAnnounced(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"", "[]", ""},
		{"192.0.2.7, 2001:db8::7,192.0.2.7", "[192.0.2.7 2001:db8::7]", ""},
		{"::ffff:192.0.2.7", "[192.0.2.7]", ""},
		{"node-1", "", "not an IP address"},
		{"0.0.0.0", "", "cannot be a node's address"},
		{"::1", "", "cannot be a node's address"},
		{"224.0.0.1", "", "cannot be a node's address"},
	} {
		got, err := parseAnnounced(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("%q: %v, %v, want %s", tc.in, got, err, tc.want)
		}
	}
	many := make([]string, maxAnnounced+1)
	for i := range many {
		many[i] = fmt.Sprintf("192.0.2.%d", i+1)
	}
	if _, err := parseAnnounced(strings.Join(many, ",")); err == nil {
		t.Error("too many addresses accepted")
	}
}
