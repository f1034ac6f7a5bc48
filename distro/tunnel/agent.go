package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/websocket"
	"github.com/rancher/remotedialer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/server/supervisor"
	"github.com/distro-io/distro/distro/token"
)

// Defaults of AgentConfig.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// localDialTimeout bounds the agent's dial of a local port for the server.
const localDialTimeout = 10 * time.Second

// DefaultAllow is what an agent lets the server open by default: its kubelet.
var DefaultAllow = []string{net.JoinHostPort("127.0.0.1", fmt.Sprint(KubeletPort))}

// AgentConfig is what an agent's tunnel needs.
type AgentConfig struct {
	// ServerURL is the join API, https://<server>:9345; the tunnel connects to
	// wss://<server>:9345/v1-distro/connect.
	ServerURL string
	// TLS verifies the server and authenticates the node. RootCAs must be the CA bundle the
	// join token pinned, and the node's kubelet client certificate must be set (Certificates or
	// GetClientCertificate, which lets a renewed certificate be picked up at the next
	// reconnection): the server identifies the node by it.
	TLS *tls.Config
	// Token admits the agent at the join API.
	Token token.Token
	// NodeName must be the name in the kubelet client certificate.
	NodeName string
	// Addresses are the node's IPs, announced so the server finds the node by address before
	// its Node object exists.
	Addresses []netip.Addr
	// Allow lists the TCP addresses (host:port on the node) the server may open through the
	// tunnel; DefaultAllow when empty. Everything else is refused.
	Allow []string
	// MinBackoff and MaxBackoff bound the wait between connection attempts, doubling from the
	// first to the second while attempts fail; the defaults when zero.
	MinBackoff, MaxBackoff time.Duration
	// Log receives connections, refusals and failures; klog's logger when zero.
	Log logr.Logger
}

// Agent keeps the node's tunnel to the server open while it runs, reconnecting with backoff.
// It is ready once it has connected.
type Agent struct {
	cfg     AgentConfig
	log     logr.Logger
	url     string
	allow   map[string]bool
	headers http.Header
	ws      *websocket.Dialer

	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	connected bool  // now
	everUp    bool  // at least once
	lastErr   error // why the last attempt ended
}

var (
	_ component.Component = (*Agent)(nil)
	_ component.Readier   = (*Agent)(nil)
)

// NewAgent returns the agent's tunnel component.
func NewAgent(cfg AgentConfig) *Agent {
	log := cfg.Log
	if log.GetSink() == nil {
		log = klog.Background().WithName("tunnel-agent")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if len(cfg.Allow) == 0 {
		cfg.Allow = DefaultAllow
	}
	return &Agent{cfg: cfg, log: log}
}

func (a *Agent) Name() string { return "tunnel-agent" }

// Init checks the configuration and prepares the connection.
func (a *Agent) Init(context.Context) error {
	var errs []error
	u, err := connectURL(a.cfg.ServerURL)
	if err != nil {
		errs = append(errs, err)
	}
	a.url = u
	switch {
	case a.cfg.TLS == nil || a.cfg.TLS.RootCAs == nil:
		errs = append(errs, errors.New("the pinned server CA (TLS.RootCAs) is required"))
	case len(a.cfg.TLS.Certificates) == 0 && a.cfg.TLS.GetClientCertificate == nil:
		errs = append(errs, errors.New("the kubelet client certificate (TLS.Certificates or TLS.GetClientCertificate) is required"))
	}
	if a.cfg.Token.Secret == "" {
		errs = append(errs, errors.New("a token is required"))
	}
	if msgs := validation.IsDNS1123Subdomain(a.cfg.NodeName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("node name %q: %s", a.cfg.NodeName, strings.Join(msgs, "; ")))
	}
	a.allow = map[string]bool{}
	for _, entry := range a.cfg.Allow {
		host, port, err := net.SplitHostPort(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("allow %q: %w", entry, err))
			continue
		}
		a.allow[net.JoinHostPort(normalizeHost(host), port)] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tunnel agent: %w", err)
	}

	a.headers = http.Header{}
	a.headers.Set("Authorization", "Bearer "+a.cfg.Token.String())
	a.headers.Set(NodeNameHeader, a.cfg.NodeName)
	if len(a.cfg.Addresses) > 0 {
		addrs := make([]string, len(a.cfg.Addresses))
		for i, ip := range a.cfg.Addresses {
			addrs[i] = ip.String()
		}
		a.headers.Set(NodeAddressesHeader, strings.Join(addrs, ","))
	}
	tlsCfg := a.cfg.TLS.Clone()
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	a.ws = &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		TLSClientConfig:  tlsCfg,
		HandshakeTimeout: remotedialer.HandshakeTimeOut,
	}
	return nil
}

// connectURL turns the join API's https:// URL into the tunnel's wss:// URL.
func connectURL(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	switch u.Scheme {
	case "https", "wss":
	default:
		return "", fmt.Errorf("server URL %q: want https://<server>:<port>", serverURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URL %q has no host", serverURL)
	}
	return (&url.URL{Scheme: "wss", Host: u.Host, Path: supervisor.ConnectPath}).String(), nil
}

// Start runs the connection loop in the background.
func (a *Agent) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.done = make(chan struct{})
	go a.run(runCtx)
	return nil
}

// Ready is nil once the tunnel has been connected.
func (a *Agent) Ready(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.everUp {
		return nil
	}
	if a.lastErr != nil {
		return fmt.Errorf("tunnel to %s not connected yet: %w", a.url, a.lastErr)
	}
	return fmt.Errorf("tunnel to %s not connected yet", a.url)
}

// Connected says whether the tunnel is open now.
func (a *Agent) Connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.connected
}

// Stop closes the tunnel and waits for the loop to end, within ctx.
func (a *Agent) Stop(ctx context.Context) error {
	if a.cancel == nil {
		return nil
	}
	a.cancel()
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tunnel agent: still closing: %w", context.Cause(ctx))
	}
}

func (a *Agent) run(ctx context.Context) {
	defer close(a.done)
	delay := a.cfg.MinBackoff
	for {
		wasUp, err := a.connectOnce(ctx)
		a.mu.Lock()
		a.connected = false
		a.lastErr = err
		a.mu.Unlock()
		if ctx.Err() != nil {
			a.log.Info("tunnel closed", "server", a.url)
			return
		}
		if wasUp {
			delay = a.cfg.MinBackoff
		}
		// Up to a quarter less, so that agents cut off together do not come back together.
		wait := delay - time.Duration(rand.Int64N(int64(delay)/4+1))
		a.log.Info("tunnel to the server lost or refused; retrying", "server", a.url, "in", wait.Round(time.Millisecond), "reason", errText(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, a.cfg.MaxBackoff)
	}
}

func errText(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// connectOnce holds one tunnel until it breaks or ctx ends; wasUp says whether it was
// established.
func (a *Agent) connectOnce(ctx context.Context) (wasUp bool, err error) {
	ws, resp, err := a.ws.DialContext(ctx, a.url, a.headers)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			return false, fmt.Errorf("%s answered %s: %s", a.url, resp.Status, strings.TrimSpace(string(body)))
		}
		return false, err
	}
	// Admitting every request here and refusing in dialLocal matters: a refusal by
	// remotedialer's connect authorizer ends the whole session, cutting every exec, attach and
	// log stream of the node, while a failed dial fails that one connection only.
	session := remotedialer.NewClientSessionWithDialer(func(string, string) bool { return true }, ws, a.dialLocal)
	a.mu.Lock()
	a.connected, a.everUp, a.lastErr = true, true, nil
	a.mu.Unlock()
	a.log.Info("tunnel connected", "server", a.url, "node", a.cfg.NodeName)

	stop := context.AfterFunc(ctx, func() { ws.Close() })
	_, err = session.Serve(ctx)
	stop()
	session.Close()
	ws.Close()
	return true, err
}

// dialLocal opens a connection the server asked for, if the allow list has it.
func (a *Agent) dialLocal(ctx context.Context, network, address string) (net.Conn, error) {
	if !a.allowed(network, address) {
		a.log.Info("refused a connection the server asked for", "network", network, "address", address)
		return nil, fmt.Errorf("node %s does not open %s %s through its tunnel", a.cfg.NodeName, network, address)
	}
	d := net.Dialer{Timeout: localDialTimeout}
	return d.DialContext(ctx, network, address)
}

func (a *Agent) allowed(network, address string) bool {
	if network != "tcp" {
		return false
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	return a.allow[net.JoinHostPort(normalizeHost(host), port)]
}
