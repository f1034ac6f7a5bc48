package supervisor

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/token"
)

// Config is what the join API needs.
type Config struct {
	// Address is host:port to listen on.
	Address string
	// PKI issues the kubelet certificates; its apiserver serving pair is the listener's certificate.
	PKI *pki.PKI
	// Auth checks the bearer tokens.
	Auth *token.Authenticator
	// APIServerURL is handed to registering agents.
	APIServerURL string
	// Cluster is handed to registering agents.
	Cluster ClusterSettings
	// Tunnel serves ConnectPath, behind the token check, for agents keeping their tunnel open
	// (tunnel.Server). The listener then requests client certificates, without verifying them,
	// so the tunnel can identify nodes by their kubelet client certificates; the other endpoints
	// ignore them. Nil answers 501.
	Tunnel http.Handler
	// Log receives refusals and failures; klog's logger when zero.
	Log logr.Logger
}

// Server serves the join API as a component.
type Server struct {
	cfg  Config
	log  logr.Logger
	cert *certFiles

	report   func(error)
	listener net.Listener
	http     *http.Server
	done     chan struct{}
}

var (
	_ component.Component       = (*Server)(nil)
	_ component.FailureReporter = (*Server)(nil)
)

// New returns the join API component.
func New(cfg Config) *Server {
	log := cfg.Log
	if log.GetSink() == nil {
		log = klog.Background().WithName("supervisor")
	}
	return &Server{cfg: cfg, log: log}
}

func (s *Server) Name() string { return "supervisor" }

func (s *Server) ReportFailuresTo(report func(error)) { s.report = report }

// Init loads the serving certificate, so a broken pair stops the server before anything starts.
func (s *Server) Init(context.Context) error {
	if s.cfg.PKI == nil || s.cfg.Auth == nil {
		return errors.New("supervisor: PKI and authenticator are required")
	}
	l := s.cfg.PKI.Layout
	s.cert = &certFiles{cert: l.CertFile(pki.APIServerServing), key: l.KeyFile(pki.APIServerServing)}
	_, err := s.cert.get(nil)
	return err
}

// Start binds the port and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("join API: listen on %s: %w", s.cfg.Address, err)
	}
	s.listener = ln
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.cert.get}
	if s.cfg.Tunnel != nil {
		tlsCfg.ClientAuth = tls.RequestClientCert
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		err := s.http.Serve(tls.NewListener(ln, tlsCfg))
		if !errors.Is(err, http.ErrServerClosed) && s.report != nil {
			s.report(fmt.Errorf("join API on %s: %w", ln.Addr(), err))
		}
	}()
	s.log.Info("join API listening", "address", ln.Addr().String())
	return nil
}

// Addr is the bound address; valid after Start.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Stop closes the listener and waits for requests in flight, within ctx.
func (s *Server) Stop(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	<-s.done
	return err
}

// Handler is the join API's routing, usable behind any TLS listener.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+CACertsPath, s.caCerts)
	mux.Handle("POST "+RegisterPath, s.authenticated(s.register))
	if s.cfg.Tunnel != nil {
		mux.Handle("GET "+ConnectPath, s.authenticated(func(w http.ResponseWriter, r *http.Request, _ token.Identity) {
			s.cfg.Tunnel.ServeHTTP(w, r)
		}))
	} else {
		mux.Handle("GET "+ConnectPath, s.authenticated(func(w http.ResponseWriter, _ *http.Request, _ token.Identity) {
			http.Error(w, "this server runs no node tunnel", http.StatusNotImplemented)
		}))
	}
	return mux
}

func (s *Server) caCerts(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(s.cfg.PKI.CABundle())
}

// authenticated admits requests whose bearer token the Authenticator accepts. A refusal is
// logged with the remote address and the reason; the token itself never reaches the log.
func (s *Server) authenticated(next func(http.ResponseWriter, *http.Request, token.Identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			s.log.Info("join API refused a request without a bearer token", "remote", r.RemoteAddr, "path", r.URL.Path)
			unauthorized(w)
			return
		}
		id, err := s.cfg.Auth.Check(r.Context(), presented)
		switch {
		case errors.Is(err, token.ErrUnauthorized):
			s.log.Info("join API refused a token", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", err.Error())
			unauthorized(w)
			return
		case err != nil:
			s.log.Error(err, "join API could not check a token", "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "could not check the token", http.StatusInternalServerError)
			return
		}
		next(w, r, id)
	})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="join"`)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, id token.Identity) {
	var req RegisterRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "register request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ips, err := req.validate()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var keys [4]crypto.PublicKey
	for i, csr := range []struct{ field, pem string }{
		{"kubeletClientCSR", req.KubeletClientCSR},
		{"kubeletServingCSR", req.KubeletServingCSR},
		{"kubeProxyCSR", req.KubeProxyCSR},
		{"controllerCSR", req.ControllerCSR},
	} {
		if keys[i], err = pki.PublicKeyFromCSR([]byte(csr.pem)); err != nil {
			http.Error(w, csr.field+": "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	ca := s.cfg.PKI
	resp := RegisterResponse{
		ServerCA:     string(ca.CABundle()),
		ClientCA:     string(ca.ClientCA.CertPEM),
		APIServerURL: s.cfg.APIServerURL,
		Cluster:      s.cfg.Cluster,
	}
	var certs [4][]byte
	if certs[0], err = ca.IssueKubeletClient(req.NodeName, keys[0]); err == nil {
		if certs[1], err = ca.IssueKubeletServing(req.NodeName, ips, req.DNSNames, keys[1]); err == nil {
			if certs[2], err = ca.IssueNodeClient(pki.KubeProxy, keys[2]); err == nil {
				certs[3], err = ca.IssueNodeClient(pki.Controller, keys[3])
			}
		}
	}
	if err == nil {
		resp.KubeletClientCert, resp.KubeletServingCert = string(certs[0]), string(certs[1])
		resp.KubeProxyCert, resp.ControllerCert = string(certs[2]), string(certs[3])
		s.log.Info("issued node certificates", "node", req.NodeName, "by", id.Username, "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
		return
	}
	s.log.Error(err, "join API could not issue node certificates", "node", req.NodeName)
	http.Error(w, "could not issue certificates", http.StatusInternalServerError)
}

// validate checks the names the certificates will carry and returns the parsed addresses.
func (req RegisterRequest) validate() ([]net.IP, error) {
	var errs []error
	if msgs := validation.IsDNS1123Subdomain(req.NodeName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("nodeName %q: %s", req.NodeName, strings.Join(msgs, "; ")))
	}
	for _, name := range req.DNSNames {
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("dnsNames %q: %s", name, strings.Join(msgs, "; ")))
		}
	}
	var ips []net.IP
	for _, a := range req.Addresses {
		ip := net.ParseIP(a)
		if ip == nil {
			errs = append(errs, fmt.Errorf("addresses %q: not an IP address", a))
			continue
		}
		ips = append(ips, ip)
	}
	return ips, errors.Join(errs...)
}

// certFiles serves a certificate pair from disk and reloads it when either file changes, so a
// reissued apiserver certificate (new SANs) is picked up without a restart.
type certFiles struct {
	cert, key string

	mu       sync.Mutex
	modified [2]time.Time
	loaded   *tls.Certificate
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var mod [2]time.Time
	for i, path := range []string{c.cert, c.key} {
		st, err := os.Stat(path)
		if err != nil {
			if c.loaded != nil {
				return c.loaded, nil // keep serving while the pair is being replaced
			}
			return nil, fmt.Errorf("join API serving certificate: %w", err)
		}
		mod[i] = st.ModTime()
	}
	if c.loaded != nil && mod == c.modified {
		return c.loaded, nil
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		if c.loaded != nil {
			return c.loaded, nil
		}
		return nil, fmt.Errorf("join API serving certificate %s: %w", c.cert, err)
	}
	c.loaded, c.modified = &pair, mod
	return c.loaded, nil
}
