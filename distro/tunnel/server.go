// Package tunnel lets the apiserver reach kubelets that expose no port to the network.
//
// Each kubelet listens on 127.0.0.1:10250 only. Each agent keeps one websocket open to the join
// API (GET /v1-distro/connect, see the supervisor package) and multiplexes connections over it
// with remotedialer: the Agent is the websocket's client side, the Server its server side. The
// apiserver is told by an EgressSelectorConfiguration (EgressSelectorConfig) to open its
// "cluster" connections through an HTTP CONNECT proxy on a unix socket, the EgressProxy, which
// finds the node a CONNECT names and dials the kubelet's loopback port on that node through the
// node's tunnel.
//
//	kube-apiserver ──CONNECT worker-1:10250──► EgressProxy (unix socket, 0600)
//	     ──► Server.Dial("worker-1", "127.0.0.1:10250") ──websocket──► Agent on worker-1
//	     ──► net.Dial("tcp", "127.0.0.1:10250") ──► kubelet
//
// TLS between the apiserver and the kubelet stays end to end: the tunnel carries the bytes, the
// apiserver still verifies the kubelet's serving certificate and presents its client certificate.
package tunnel

import (
	"bufio"
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/rancher/remotedialer"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/version"
)

// Headers an agent sends when it opens its tunnel.
var (
	// NodeNameHeader names the node the agent runs on; it must match its client certificate.
	NodeNameHeader = http.CanonicalHeaderKey("X-" + version.Program + "-Node-Name")
	// NodeAddressesHeader lists the node's IP addresses, separated by commas, so that CONNECTs
	// to <node IP>:10250 find the node before its Node object is known.
	NodeAddressesHeader = http.CanonicalHeaderKey("X-" + version.Program + "-Node-Addresses")
)

// KubeletPort is the port the apiserver reaches kubelets on, and the only one tunnelled by default.
const KubeletPort = 10250

// maxAnnounced bounds how many addresses one agent may announce.
const maxAnnounced = 32

// ErrNotConnected means the node has no tunnel open to this server.
var ErrNotConnected = errors.New("no tunnel is connected for the node")

// ServerConfig is what the tunnel server needs.
type ServerConfig struct {
	// ClientCAs verifies the kubelet client certificate every agent must present (the client CA,
	// which signs system:node:<name> certificates at registration). Required.
	ClientCAs *x509.CertPool
	// Nodes, when set, is watched for Node objects so that the addresses the apiserver dials
	// (status.addresses, chosen by --kubelet-preferred-address-types) map to node names even for
	// addresses an agent did not announce. The watch starts with the component and is not
	// waited for: until the apiserver answers, nodes are found by name and announced address.
	Nodes kubernetes.Interface
	// Log receives connections, refusals and failures; klog's logger when zero.
	Log logr.Logger
}

// Server is the server side of the agents' tunnels: an http.Handler for the connect path of the
// join API, and a dialer that opens connections on a node through that node's tunnel.
//
// Who may open a tunnel for a node. The join API admits the request only with a valid join
// token, but join tokens are shared by every node, so the token cannot say which node is
// speaking; a header alone would let any token holder take over another node's tunnel and
// receive the apiserver's connections meant for that node's kubelet. The server therefore
// also requires the node's kubelet client certificate (CN system:node:<name>, O system:nodes,
// signed by ClientCAs) over the TLS connection, and the node name header must equal the name in
// it. The tunnel then answers to the same credential the kubelet uses with the apiserver, so it
// grants a node nothing the Node authorizer does not already let it claim. (Registration issues
// certificates to any token holder for the name it asks for; binding a name to the first
// machine that registered it is the registration's job and would protect both at once.)
//
// The handler must be mounted behind the join API's token check (supervisor.Config.Tunnel) and
// on a TLS listener that requests client certificates.
type Server struct {
	cfg ServerConfig
	log logr.Logger
	rd  *remotedialer.Server

	mu        sync.Mutex
	seq       uint64
	sessions  map[string][]*session // by node name, oldest first
	announced map[netip.Addr]string // address → node, from the sessions' headers
	watched   map[string]string     // address or host name → node, from Node objects
	nodeKeys  map[string][]string   // node → its keys in watched
	// gone remembers the addresses of nodes whose last tunnel closed, so that a CONNECT for
	// them says the node is disconnected rather than unknown. A node's entry goes when it
	// connects again.
	gone     map[string][]netip.Addr
	stopped  bool
	handlers sync.WaitGroup

	stopWatch context.CancelFunc
	factory   informers.SharedInformerFactory
}

// session is one websocket an agent holds open. Its remotedialer client key is unique, so the
// server can pick the newest of a node's sessions: after a network fault the old one lingers
// until its pings time out, and dialling through it would fail.
type session struct {
	node  string
	seq   uint64
	key   string // remotedialer's client key: <node>#<seq>
	addrs []netip.Addr
	conn  net.Conn // the hijacked connection, once upgraded
}

var (
	_ component.Component = (*Server)(nil)
	_ http.Handler        = (*Server)(nil)
)

// NewServer returns the tunnel server component.
func NewServer(cfg ServerConfig) *Server {
	log := cfg.Log
	if log.GetSink() == nil {
		log = klog.Background().WithName("tunnel-server")
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		sessions:  map[string][]*session{},
		announced: map[netip.Addr]string{},
		watched:   map[string]string{},
		nodeKeys:  map[string][]string{},
		gone:      map[string][]netip.Addr{},
	}
	s.rd = remotedialer.New(s.authorize, s.writeError)
	return s
}

func (s *Server) Name() string { return "tunnel-server" }

// Init checks the configuration.
func (s *Server) Init(context.Context) error {
	if s.cfg.ClientCAs == nil {
		return errors.New("tunnel server: the client CA pool that verifies kubelet client certificates is required")
	}
	return nil
}

// Start begins watching Node objects when a clientset is configured.
func (s *Server) Start(ctx context.Context) error {
	if s.cfg.Nodes == nil {
		return nil
	}
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopWatch = cancel
	s.factory = informers.NewSharedInformerFactory(s.cfg.Nodes, 0)
	_, err := s.factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.nodeChanged(obj, false) },
		UpdateFunc: func(_, obj any) { s.nodeChanged(obj, false) },
		DeleteFunc: func(obj any) { s.nodeChanged(obj, true) },
	})
	if err != nil {
		cancel()
		return fmt.Errorf("tunnel server: watch nodes: %w", err)
	}
	s.factory.Start(watchCtx.Done())
	return nil
}

// Stop refuses new tunnels, closes the open ones and stops the Node watch. http.Server's
// Shutdown leaves hijacked connections alone, so the tunnels are closed here.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	for _, list := range s.sessions {
		for _, sess := range list {
			if sess.conn != nil {
				sess.conn.Close()
			}
		}
	}
	s.mu.Unlock()
	if s.stopWatch != nil {
		s.stopWatch()
		s.factory.Shutdown()
	}
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tunnel server: sessions still closing: %w", context.Cause(ctx))
	}
}

type sessionKey struct{}

// ServeHTTP identifies the agent and upgrades the request to its tunnel, which lasts as long
// as the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	node, addrs, code, err := s.identify(r)
	if err != nil {
		s.log.Info("refused a tunnel", "remote", r.RemoteAddr, "node", r.Header.Get(NodeNameHeader), "reason", err.Error())
		http.Error(w, err.Error(), code)
		return
	}
	sess := s.open(node, addrs)
	if sess == nil {
		http.Error(w, "the tunnel server is stopping", http.StatusServiceUnavailable)
		return
	}
	defer s.handlers.Done()
	defer s.close(sess)
	hw := &hijackWatcher{ResponseWriter: w, hijacked: func(c net.Conn) {
		s.attach(sess, c)
		s.log.Info("agent connected its tunnel", "node", node, "remote", r.RemoteAddr, "addresses", addrs)
	}}
	s.rd.ServeHTTP(hw, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	s.log.Info("agent tunnel closed", "node", node, "remote", r.RemoteAddr)
}

// identify returns the node the request speaks for and the addresses it announces, or the
// status and reason of a refusal.
func (s *Server) identify(r *http.Request) (string, []netip.Addr, int, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", nil, http.StatusUnauthorized, errors.New("a tunnel needs the node's kubelet client certificate")
	}
	certs := r.TLS.PeerCertificates
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.cfg.ClientCAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", nil, http.StatusUnauthorized, fmt.Errorf("client certificate: %w", err)
	}
	certNode, ok := strings.CutPrefix(leaf.Subject.CommonName, "system:node:")
	if !ok || !slices.Contains(leaf.Subject.Organization, pki.NodesGroup) {
		return "", nil, http.StatusForbidden, fmt.Errorf("client certificate for %q is not a node's (system:node:<name> in %s)", leaf.Subject.CommonName, pki.NodesGroup)
	}
	node := r.Header.Get(NodeNameHeader)
	switch {
	case node == "":
		return "", nil, http.StatusBadRequest, fmt.Errorf("header %s is missing", NodeNameHeader)
	case node != certNode:
		return "", nil, http.StatusForbidden, fmt.Errorf("header %s says %q but the client certificate is node %q's", NodeNameHeader, node, certNode)
	}
	if msgs := validation.IsDNS1123Subdomain(node); len(msgs) > 0 {
		return "", nil, http.StatusBadRequest, fmt.Errorf("node name %q: %s", node, strings.Join(msgs, "; "))
	}
	addrs, err := parseAnnounced(r.Header.Get(NodeAddressesHeader))
	if err != nil {
		return "", nil, http.StatusBadRequest, fmt.Errorf("header %s: %w", NodeAddressesHeader, err)
	}
	return node, addrs, 0, nil
}

// parseAnnounced reads the addresses header. Addresses that cannot name another machine
// (loopback, unspecified, multicast) are refused, since they would capture traffic meant for
// the server itself or nobody.
func parseAnnounced(header string) ([]netip.Addr, error) {
	var out []netip.Addr
	for f := range strings.SplitSeq(header, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", f)
		}
		a = a.Unmap().WithZone("")
		if a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("%s cannot be a node's address", a)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) > maxAnnounced {
		return nil, fmt.Errorf("%d addresses, at most %d", len(out), maxAnnounced)
	}
	return out, nil
}

// authorize is remotedialer's authorizer: ServeHTTP has identified the agent already and put
// its session in the request's context.
func (s *Server) authorize(r *http.Request) (string, bool, error) {
	sess, ok := r.Context().Value(sessionKey{}).(*session)
	if !ok {
		return "", false, nil
	}
	return sess.key, true, nil
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, code int, err error) {
	s.log.Info("tunnel failed", "remote", r.RemoteAddr, "node", r.Header.Get(NodeNameHeader), "code", code, "reason", err.Error())
	http.Error(w, err.Error(), code)
}

// open registers a session for node, or returns nil once the server is stopping.
func (s *Server) open(node string, addrs []netip.Addr) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.handlers.Add(1)
	s.seq++
	sess := &session{node: node, seq: s.seq, key: node + "#" + strconv.FormatUint(s.seq, 10), addrs: addrs}
	for _, a := range addrs {
		if other, ok := s.announced[a]; ok && other != node {
			s.log.Info("address announced by two nodes; the newest tunnel wins", "address", a, "node", node, "previous", other)
		}
	}
	s.sessions[node] = append(s.sessions[node], sess)
	delete(s.gone, node)
	s.reindexLocked()
	return sess
}

func (s *Server) close(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := slices.DeleteFunc(s.sessions[sess.node], func(x *session) bool { return x == sess })
	if len(list) == 0 {
		delete(s.sessions, sess.node)
		s.gone[sess.node] = sess.addrs
	} else {
		s.sessions[sess.node] = list
	}
	s.reindexLocked()
}

// attach records the upgraded connection so Stop can close it.
func (s *Server) attach(sess *session, c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.conn = c
	if s.stopped {
		c.Close()
	}
}

// reindexLocked rebuilds address → node from the open sessions, newer sessions last so that
// they win a conflict.
func (s *Server) reindexLocked() {
	var all []*session
	for _, list := range s.sessions {
		all = append(all, list...)
	}
	slices.SortFunc(all, func(a, b *session) int { return cmp.Compare(a.seq, b.seq) })
	clear(s.announced)
	for _, sess := range all {
		for _, a := range sess.addrs {
			s.announced[a] = sess.node
		}
	}
}

// nodeChanged keeps watched in step with a Node object.
func (s *Server) nodeChanged(obj any, deleted bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.nodeKeys[n.Name] {
		if s.watched[k] == n.Name {
			delete(s.watched, k)
		}
	}
	delete(s.nodeKeys, n.Name)
	if deleted {
		return
	}
	keys := []string{}
	for _, a := range n.Status.Addresses {
		if k := normalizeHost(a.Address); k != "" {
			s.watched[k] = n.Name
			keys = append(keys, k)
		}
	}
	s.nodeKeys[n.Name] = keys
}

// normalizeHost is the form hosts are compared in: an IP in its canonical text, a name in
// lower case without a trailing dot.
func normalizeHost(host string) string {
	host = strings.TrimSuffix(strings.TrimSpace(host), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return strings.ToLower(host)
}

// Lookup returns the node that host (a node name, a host name or an IP, as the apiserver puts
// it in a CONNECT) stands for. A node name wins over addresses; addresses of Node objects win
// over those agents announce, since the apiserver dials exactly those; nodes whose tunnel has
// closed come last. The node need not be connected (see Connected).
func (s *Server) Lookup(host string) (string, bool) {
	h := normalizeHost(host)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[h]; ok {
		return h, true
	}
	if _, ok := s.nodeKeys[h]; ok {
		return h, true
	}
	if n, ok := s.watched[h]; ok {
		return n, true
	}
	a, err := netip.ParseAddr(h)
	if err == nil {
		if n, ok := s.announced[a]; ok {
			return n, true
		}
	}
	if _, ok := s.gone[h]; ok {
		return h, true
	}
	if err == nil {
		for n, addrs := range s.gone {
			if slices.Contains(addrs, a) {
				return n, true
			}
		}
	}
	return "", false
}

// liveKeys returns the client keys of node's sessions, newest first, that remotedialer holds.
func (s *Server) liveKeys(node string) []string {
	s.mu.Lock()
	list := slices.Clone(s.sessions[node])
	s.mu.Unlock()
	var keys []string
	for i := len(list) - 1; i >= 0; i-- {
		if s.rd.HasSession(list[i].key) {
			keys = append(keys, list[i].key)
		}
	}
	return keys
}

// Connected says whether node has a tunnel open.
func (s *Server) Connected(node string) bool { return len(s.liveKeys(node)) > 0 }

// Dial opens a TCP connection to address (as the node sees it, such as 127.0.0.1:10250) on
// node, through the node's newest tunnel.
//
// remotedialer returns the connection as soon as the request is on its way: when the agent
// refuses it or nothing listens there, the connection fails on its first read instead.
func (s *Server) Dial(ctx context.Context, node, address string) (net.Conn, error) {
	keys := s.liveKeys(node)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, node)
	}
	return s.rd.Dialer(keys[0])(ctx, "tcp", address)
}

// hijackWatcher hands the connection the websocket upgrade takes over to hijacked.
type hijackWatcher struct {
	http.ResponseWriter
	hijacked func(net.Conn)
}

func (h *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err == nil {
		h.hijacked(c)
	}
	return c, rw, err
}

func (h *hijackWatcher) Unwrap() http.ResponseWriter { return h.ResponseWriter }
