package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
)

// maxSocketPath is the longest path a unix socket can be bound to on Linux (sun_path less
// its terminating NUL).
const maxSocketPath = 107

// dialTimeout bounds opening a connection for one CONNECT.
const dialTimeout = 30 * time.Second

// LocalNode is the server's own node, whose kubelet the proxy reaches on loopback directly.
type LocalNode struct {
	Name      string
	Addresses []netip.Addr
}

// EgressConfig is what the egress proxy needs.
type EgressConfig struct {
	// Socket is the unix socket the apiserver dials (EgressSocket gives the default). It is
	// created with mode 0600: whoever can connect reaches every kubelet port.
	Socket string
	// Tunnel finds nodes and dials through their tunnels.
	Tunnel *Server
	// AllowedPorts are the ports a CONNECT to a node may name; [KubeletPort] when empty.
	//
	// Through a tunnel the apiserver lands on the node's loopback, where services listen that
	// trust loopback or were never meant to be reachable from elsewhere (containerd's stream
	// server, metrics and debug endpoints). Every user allowed to proxy to nodes
	// (nodes/proxy, kubectl get --raw /api/v1/nodes/<node>:<port>/proxy/...) could reach them
	// through the apiserver. The kubelet authenticates and authorizes every request itself, so
	// it alone is reachable by default; a CONNECT to another port is answered 403 without
	// touching the tunnel. Agents enforce their own allow list as well (AgentConfig.Allow).
	AllowedPorts []int
	// Local is the server's own node, when the server runs a kubelet; its kubelet is dialled on
	// 127.0.0.1 without a tunnel.
	Local LocalNode
	// Direct are networks the server dials itself, on any port, for CONNECTs that name no node.
	// The apiserver sends all its "cluster" traffic to the proxy, not only kubelet connections:
	// admission and conversion webhooks, aggregated APIs (metrics-server) and the pods/services
	// proxy subresources dial service and pod IPs. Set this to the cluster and service CIDRs when
	// the server can route to them (it runs the CNI and kube-proxy); without it those
	// connections fail with 502.
	Direct []netip.Prefix
	// DirectUnknown dials every other host directly as well, names included, as the apiserver
	// would without an egress selector: webhooks and aggregated APIs given by URL may name
	// hosts outside the cluster. When false such CONNECTs are answered 502.
	DirectUnknown bool
	// Log receives refusals and failures; klog's logger when zero.
	Log logr.Logger
}

// EgressProxy is the HTTP CONNECT proxy the apiserver's egress selector dials, as a component.
type EgressProxy struct {
	cfg     EgressConfig
	log     logr.Logger
	allowed []int

	http     *http.Server
	listener *net.UnixListener
	socket   os.FileInfo // the socket file this proxy created, so Stop removes only that one
	done     chan struct{}
	report   func(error)

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // hijacked connections being spliced
	closing bool
	splices sync.WaitGroup
}

var (
	_ component.Component       = (*EgressProxy)(nil)
	_ component.FailureReporter = (*EgressProxy)(nil)
)

// EgressSocket is where the server's egress proxy listens: <data-dir>/server/egress.sock.
func EgressSocket(dataDir string) string {
	return filepath.Join(dataDir, "server", "egress.sock")
}

// NewEgressProxy returns the egress proxy component.
func NewEgressProxy(cfg EgressConfig) *EgressProxy {
	log := cfg.Log
	if log.GetSink() == nil {
		log = klog.Background().WithName("egress-proxy")
	}
	allowed := slices.Clone(cfg.AllowedPorts)
	if len(allowed) == 0 {
		allowed = []int{KubeletPort}
	}
	return &EgressProxy{cfg: cfg, log: log, allowed: allowed, conns: map[net.Conn]struct{}{}}
}

func (p *EgressProxy) Name() string { return "egress-proxy" }

func (p *EgressProxy) ReportFailuresTo(report func(error)) { p.report = report }

// Init checks the configuration and creates the socket's directory.
func (p *EgressProxy) Init(context.Context) error {
	var errs []error
	if p.cfg.Tunnel == nil {
		errs = append(errs, errors.New("a tunnel server is required"))
	}
	if !filepath.IsAbs(p.cfg.Socket) {
		errs = append(errs, fmt.Errorf("socket %q is not an absolute path", p.cfg.Socket))
	} else if n := len(p.tempSocketPath(strings.Repeat("x", 10))); n > maxSocketPath {
		// The socket is bound in a temporary directory beside it first (see Start).
		errs = append(errs, fmt.Errorf("socket %q is too long for a unix socket (%d bytes while binding, at most %d)", p.cfg.Socket, n, maxSocketPath))
	}
	for _, port := range p.allowed {
		if port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("allowed port %d is not a TCP port", port))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("egress proxy: %w", err)
	}
	return os.MkdirAll(filepath.Dir(p.cfg.Socket), 0o700)
}

// tempSocketPath is where Start binds before renaming; random is os.MkdirTemp's suffix.
func (p *EgressProxy) tempSocketPath(random string) string {
	return filepath.Join(filepath.Dir(p.cfg.Socket), ".egress-"+random, "s")
}

// Start binds the socket and serves in the background. The socket is bound inside a fresh
// directory of mode 0700, made 0600 and only then renamed into place, so nobody can connect
// in the moment between binding and restricting its mode. A stale socket of an earlier run is
// replaced by the rename.
func (p *EgressProxy) Start(context.Context) error {
	dir, err := os.MkdirTemp(filepath.Dir(p.cfg.Socket), ".egress-")
	if err != nil {
		return fmt.Errorf("egress proxy: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return fmt.Errorf("egress proxy: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("egress proxy: %w", err)
	}
	if err := os.Rename(tmp, p.cfg.Socket); err != nil {
		ln.Close()
		return fmt.Errorf("egress proxy: %w", err)
	}
	if p.socket, err = os.Stat(p.cfg.Socket); err != nil {
		ln.Close()
		return fmt.Errorf("egress proxy: %w", err)
	}
	p.listener = ln
	p.http = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		err := p.http.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) && p.report != nil {
			p.report(fmt.Errorf("egress proxy on %s: %w", p.cfg.Socket, err))
		}
	}()
	p.log.Info("egress proxy listening", "socket", p.cfg.Socket, "allowedPorts", p.allowed, "direct", p.cfg.Direct)
	return nil
}

// Stop closes the socket and every spliced connection, and removes the socket file.
func (p *EgressProxy) Stop(ctx context.Context) error {
	if p.http == nil {
		return nil
	}
	err := p.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, p.http.Close())
	}
	<-p.done
	p.mu.Lock()
	p.closing = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.splices.Wait()
	if st, statErr := os.Stat(p.cfg.Socket); statErr == nil && os.SameFile(st, p.socket) {
		if rmErr := os.Remove(p.cfg.Socket); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}
	return err
}

// refusal is a CONNECT the proxy answers with an error status.
type refusal struct {
	code int
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func refuse(code int, format string, args ...any) error {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers CONNECT host:port. The answer's reason phrase carries the explanation,
// because the apiserver reports the status line and never reads a body.
func (p *EgressProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		http.Error(w, "this proxy answers CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	target := r.URL.Host
	if target == "" {
		target = r.Host
	}
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	upstream, route, err := p.dial(ctx, target)
	cancel()

	conn, brw, hijackErr := http.NewResponseController(w).Hijack()
	if hijackErr != nil {
		if upstream != nil {
			upstream.Close()
		}
		p.log.Error(hijackErr, "egress proxy could not take over a connection")
		http.Error(w, "could not take over the connection", http.StatusInternalServerError)
		return
	}
	conn.SetDeadline(time.Time{})
	if err != nil {
		code := http.StatusBadGateway
		if ref, ok := errors.AsType[*refusal](err); ok {
			code = ref.code
		}
		p.log.Info("egress proxy refused a CONNECT", "target", target, "code", code, "reason", err.Error())
		writeStatus(conn, code, err.Error())
		conn.Close()
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		upstream.Close()
		return
	}
	if !p.track(conn) {
		conn.Close()
		upstream.Close()
		return
	}
	p.log.V(4).Info("egress proxy connected", "target", target, "route", route)
	go func() {
		defer p.splices.Done()
		defer p.untrack(conn)
		// brw.Reader first: a client may send bytes right behind its CONNECT.
		splice(conn, brw.Reader, upstream)
	}()
}

// dial finds where target leads and opens the connection, or explains why not.
func (p *EgressProxy) dial(ctx context.Context, target string) (net.Conn, string, error) {
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		return nil, "", refuse(http.StatusBadRequest, "CONNECT %q: %v", target, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return nil, "", refuse(http.StatusBadRequest, "CONNECT %q: %q is not a port", target, portText)
	}
	loopback := net.JoinHostPort("127.0.0.1", portText)
	h := normalizeHost(host)

	if p.isLocal(h) {
		if !slices.Contains(p.allowed, port) {
			return nil, "", p.portRefused(p.cfg.Local.Name, port)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", loopback)
		if err != nil {
			return nil, "", refuse(http.StatusBadGateway, "local node %s: %v", p.cfg.Local.Name, err)
		}
		return c, "local", nil
	}
	if node, ok := p.cfg.Tunnel.Lookup(h); ok {
		if !slices.Contains(p.allowed, port) {
			return nil, "", p.portRefused(node, port)
		}
		c, err := p.cfg.Tunnel.Dial(ctx, node, loopback)
		if errors.Is(err, ErrNotConnected) {
			who := node
			if h != node {
				who += " (" + host + ")"
			}
			return nil, "", refuse(http.StatusBadGateway, "node %s has no tunnel connected to this server: is its agent running?", who)
		}
		if err != nil {
			return nil, "", refuse(http.StatusBadGateway, "node %s: tunnel: %v", node, err)
		}
		return c, "tunnel " + node, nil
	}
	if p.direct(h) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(h, portText))
		if err != nil {
			return nil, "", refuse(http.StatusBadGateway, "%s: %v", target, err)
		}
		return c, "direct", nil
	}
	return nil, "", refuse(http.StatusBadGateway, "no node is known as %s, by name or address, and it is not in a network this server dials directly", host)
}

// direct says whether the server dials host itself.
func (p *EgressProxy) direct(host string) bool {
	if p.cfg.DirectUnknown {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && slices.ContainsFunc(p.cfg.Direct, func(pf netip.Prefix) bool { return pf.Contains(a) })
}

func (p *EgressProxy) portRefused(node string, port int) error {
	return refuse(http.StatusForbidden, "port %d of node %s is not tunnelled: only %s", port, node, portList(p.allowed))
}

func portList(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

func (p *EgressProxy) isLocal(host string) bool {
	l := p.cfg.Local
	if l.Name != "" && host == normalizeHost(l.Name) {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && slices.Contains(l.Addresses, a)
}

func (p *EgressProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.conns[c] = struct{}{}
	p.splices.Add(1)
	return true
}

func (p *EgressProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// writeStatus answers a CONNECT with code, msg as its reason phrase and its body.
func writeStatus(c net.Conn, code int, msg string) {
	reason := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	body := msg + "\n"
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, reason, len(body), body)
}

// splice copies between the client and upstream until either side is done, then closes both.
// A client that half-closes its side is answered until upstream is done, where upstream can
// half-close too (a tunnelled connection cannot: then both close at once).
func splice(client net.Conn, fromClient io.Reader, upstream net.Conn) {
	defer client.Close()
	defer upstream.Close()
	toUpstream := make(chan struct{})
	go func() {
		defer close(toUpstream)
		_, err := io.Copy(upstream, fromClient)
		if cw, ok := upstream.(interface{ CloseWrite() error }); ok && err == nil {
			cw.CloseWrite()
			return
		}
		upstream.Close()
		client.Close()
	}()
	io.Copy(client, upstream)
	client.Close()
	upstream.Close()
	<-toUpstream
}
