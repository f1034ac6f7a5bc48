package supervisor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"

	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/token"
)

// syncBuffer collects the server's log lines across its goroutines.
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

type fixture struct {
	keys      *pki.PKI
	url       string
	caHash    string
	nodeToken token.Token
	joins     *token.FileStore
	log       *syncBuffer
}

// start generates a real PKI and serves the join API on loopback with it.
func start(t *testing.T) *fixture {
	t.Helper()
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
	joins := token.NewFileStore(token.JoinTokensFile(dataDir))
	log := &syncBuffer{}
	s := New(Config{
		Address: "127.0.0.1:0",
		PKI:     keys,
		Auth: &token.Authenticator{CAHash: caHash, ServerSecret: serverTok.Secret,
			NodeSecret: nodeTok.Secret, JoinTokens: joins},
		APIServerURL: "https://127.0.0.1:6443",
		Log:          funcr.New(log.line, funcr.Options{}),
	})
	ctx := context.Background()
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &fixture{keys: keys, url: "https://" + s.Addr().String(), caHash: caHash, nodeToken: nodeTok, joins: joins, log: log}
}

func register(t *testing.T, f *fixture, tok token.Token) (*Registration, string, error) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := Register(ctx, f.url, tok, Node{Name: "worker-1", Addresses: []net.IP{net.ParseIP("192.0.2.7")}, DNSNames: []string{"worker-1.example"}}, dir)
	return reg, dir, err
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := certutil.CertsFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestRegisterWithTheNodeTokenIssuesKubeletCertificates(t *testing.T) {
	f := start(t)
	reg, _, err := register(t, f, f.nodeToken)
	if err != nil {
		t.Fatalf("register: %v\nserver log:\n%s", err, f.log)
	}
	if reg.APIServerURL != "https://127.0.0.1:6443" {
		t.Errorf("apiserver URL %q", reg.APIServerURL)
	}
	files := reg.Files

	client := readCert(t, files.ClientCert())
	if _, err := client.Verify(x509.VerifyOptions{Roots: f.keys.ClientCA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("kubelet client certificate does not chain to the client CA: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: f.keys.ServerCA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("kubelet client certificate chains to the server CA: the apiserver would not accept it")
	}
	if client.Subject.CommonName != "system:node:worker-1" || !slices.Equal(client.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("client subject %v", client.Subject)
	}

	serving := readCert(t, files.ServingCert())
	if _, err := serving.Verify(x509.VerifyOptions{Roots: f.keys.ServerCA.Pool(), DNSName: "worker-1.example"}); err != nil {
		t.Errorf("kubelet serving certificate: %v", err)
	}
	if err := serving.VerifyHostname("192.0.2.7"); err != nil {
		t.Errorf("serving certificate lacks the node address: %v", err)
	}
	if serving.Subject.CommonName != "system:node:worker-1" {
		t.Errorf("serving subject %v", serving.Subject)
	}

	// The key files belong to the certificates and are private.
	for _, pair := range [][2]string{{files.ClientCert(), files.ClientKey()}, {files.ServingCert(), files.ServingKey()}} {
		if _, err := tls.LoadX509KeyPair(pair[0], pair[1]); err != nil {
			t.Errorf("%s with %s: %v", pair[0], pair[1], err)
		}
		if st, _ := os.Stat(pair[1]); st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", pair[1], st.Mode().Perm())
		}
	}
	if ca, _ := os.ReadFile(files.ServerCA()); !bytes.Equal(ca, f.keys.CABundle()) {
		t.Error("server-ca.crt is not the server's CA bundle")
	}
	if ca, _ := os.ReadFile(files.ClientCA()); !bytes.Equal(ca, f.keys.ClientCA.CertPEM) {
		t.Error("client-ca.crt is not the server's client CA")
	}
	kc, err := clientcmd.LoadFromFile(files.KubeletKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server; got != reg.APIServerURL {
		t.Errorf("kubelet kubeconfig points at %q", got)
	}
	if !strings.Contains(f.log.String(), "worker-1") {
		t.Errorf("issuing was not logged:\n%s", f.log)
	}
}

func TestRegisterWithAJoinTokenUntilItIsDeleted(t *testing.T) {
	f := start(t)
	j, err := token.NewJoinToken("test", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.joins.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, _, err := register(t, f, j.Token(f.caHash)); err != nil {
		t.Fatalf("register with a join token: %v\n%s", err, f.log)
	}
	if err := f.joins.Delete(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := register(t, f, j.Token(f.caHash)); !errors.Is(err, ErrRefused) {
		t.Fatalf("register with a deleted join token: %v, want ErrRefused", err)
	}
}

func TestWrongTokenGets401AndALogLineWithoutTheSecret(t *testing.T) {
	f := start(t)
	wrong := token.Token{CAHash: f.caHash, Username: token.NodeUser, Secret: "not-the-secret-0123456789"}
	_, dir, err := register(t, f, wrong)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("register with a wrong secret: %v, want a 401 refusal", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused registration wrote %d files", len(entries))
	}
	log := f.log.String()
	if !strings.Contains(log, "refused a token") || !strings.Contains(log, "127.0.0.1:") {
		t.Errorf("no refusal naming the remote address in the log:\n%s", log)
	}
	if strings.Contains(log, wrong.Secret) {
		t.Errorf("the presented secret is in the log:\n%s", log)
	}

	// Without any token the protected paths answer 401 too, and /cacerts needs none.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.keys.ServerCA.Pool()}}}
	defer client.CloseIdleConnections()
	for path, want := range map[string]int{ConnectPath: http.StatusUnauthorized, CACertsPath: http.StatusOK} {
		resp, err := client.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a token: %s, want %d", path, resp.Status, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, f.url+ConnectPath, nil)
	req.Header.Set("Authorization", "Bearer "+f.nodeToken.String())
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("GET %s with the node token: %s, want 501 until the tunnel exists", ConnectPath, resp.Status)
	}
}

func TestClientRefusesAServerWhoseCADoesNotMatchTheToken(t *testing.T) {
	f := start(t)
	other := token.HashCA([]byte("another cluster's CA"))
	pinnedElsewhere := f.nodeToken
	pinnedElsewhere.CAHash = other
	_, dir, err := register(t, f, pinnedElsewhere)
	if !errors.Is(err, token.ErrCAMismatch) {
		t.Fatalf("register against a server with another CA: %v, want ErrCAMismatch", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused server got %d files written", len(entries))
	}
	if strings.Contains(f.log.String(), "issued") {
		t.Errorf("the client sent its registration to a server it does not trust:\n%s", f.log)
	}
}

func TestBadRegistrationIsA400NamingTheField(t *testing.T) {
	f := start(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.keys.ServerCA.Pool()}}}
	defer client.CloseIdleConnections()
	body := `{"nodeName":"Not_A_Name","kubeletClientCSR":"","kubeletServingCSR":"","addresses":["nope"]}`
	req, _ := http.NewRequest(http.MethodPost, f.url+RegisterPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.nodeToken.String())
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg bytes.Buffer
	msg.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg.String(), "nodeName") || !strings.Contains(msg.String(), "addresses") {
		t.Errorf("%s: %s", resp.Status, msg.String())
	}
}
