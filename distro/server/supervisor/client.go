package supervisor

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/distro-io/distro/distro/pki"
	"github.com/distro-io/distro/distro/pki/atomicfile"
	"github.com/distro-io/distro/distro/token"
)

// Node is what an agent registers.
type Node struct {
	Name      string
	Addresses []net.IP
	DNSNames  []string
}

// Files name what Register writes into its directory.
type Files struct {
	Dir string
}

func (f Files) ServerCA() string          { return filepath.Join(f.Dir, "server-ca.crt") }
func (f Files) ClientCA() string          { return filepath.Join(f.Dir, "client-ca.crt") }
func (f Files) ClientCert() string        { return filepath.Join(f.Dir, "kubelet-client.crt") }
func (f Files) ClientKey() string         { return filepath.Join(f.Dir, "kubelet-client.key") }
func (f Files) ServingCert() string       { return filepath.Join(f.Dir, "kubelet-serving.crt") }
func (f Files) ServingKey() string        { return filepath.Join(f.Dir, "kubelet-serving.key") }
func (f Files) KubeletKubeconfig() string { return filepath.Join(f.Dir, "kubelet.kubeconfig") }

// KubeProxyCert and KubeProxyKey are kube-proxy's identity (system:kube-proxy).
func (f Files) KubeProxyCert() string { return filepath.Join(f.Dir, "kube-proxy.crt") }
func (f Files) KubeProxyKey() string  { return filepath.Join(f.Dir, "kube-proxy.key") }

// ControllerCert and ControllerKey are the node controllers' identity (pki.ControllerUser).
func (f Files) ControllerCert() string { return filepath.Join(f.Dir, "controller.crt") }
func (f Files) ControllerKey() string  { return filepath.Join(f.Dir, "controller.key") }

// KubeProxyKubeconfig is kube-proxy's kubeconfig.
func (f Files) KubeProxyKubeconfig() string { return filepath.Join(f.Dir, "kube-proxy.kubeconfig") }

// ControllerKubeconfig is the node controllers' kubeconfig.
func (f Files) ControllerKubeconfig() string { return filepath.Join(f.Dir, "controller.kubeconfig") }

// ErrRefused means the server answered 401: it does not accept the token.
var ErrRefused = errors.New("the server refused the token")

// Registration is the outcome of Register.
type Registration struct {
	Files        Files
	APIServerURL string
	Cluster      ClusterSettings
}

// Register joins node to the server at serverURL (https://host:port of the join API): it fetches
// the CA bundle and refuses to continue unless it matches the hash tok pins, then, trusting only
// that bundle, sends fresh key pairs' certificate requests with the token, checks the returned
// certificates and writes keys, certificates, CA bundles and a kubelet kubeconfig into dir.
func Register(ctx context.Context, serverURL string, tok token.Token, node Node, dir string) (*Registration, error) {
	bundle, err := token.FetchCA(ctx, serverURL, tok)
	if err != nil {
		return nil, err
	}
	roots, err := certutil.NewPoolFromBytes(bundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle from %s: %w", serverURL, err)
	}

	// One key pair per identity: kubelet client, kubelet serving, kube-proxy, node controllers.
	var keys [4]crypto.Signer
	var csrs [4][]byte
	for i := range keys {
		if keys[i], csrs[i], err = newKeyAndCSR(node.Name); err != nil {
			return nil, err
		}
	}
	req := RegisterRequest{NodeName: node.Name, KubeletClientCSR: string(csrs[0]), KubeletServingCSR: string(csrs[1]),
		KubeProxyCSR: string(csrs[2]), ControllerCSR: string(csrs[3]), DNSNames: node.DNSNames}
	for _, ip := range node.Addresses {
		req.Addresses = append(req.Addresses, ip.String())
	}
	resp, err := post(ctx, strings.TrimSuffix(serverURL, "/")+RegisterPath, roots, tok, req)
	if err != nil {
		return nil, err
	}
	var pubs [4]crypto.PublicKey
	for i, k := range keys {
		pubs[i] = k.Public()
	}
	if err := resp.check(bundle, node, pubs); err != nil {
		return nil, fmt.Errorf("registration answer from %s: %w", serverURL, err)
	}

	files := Files{Dir: dir}
	var keyPEMs [4][]byte
	for i, k := range keys {
		if keyPEMs[i], err = keyutil.MarshalPrivateKeyToPEM(k); err != nil {
			return nil, err
		}
	}
	// Keys before certificates: a certificate on disk always has its key.
	for _, f := range []struct {
		path string
		data []byte
		mode fs.FileMode
	}{
		{files.ClientKey(), keyPEMs[0], 0o600},
		{files.ServingKey(), keyPEMs[1], 0o600},
		{files.KubeProxyKey(), keyPEMs[2], 0o600},
		{files.ControllerKey(), keyPEMs[3], 0o600},
		{files.ServerCA(), bundle, 0o644},
		{files.ClientCA(), []byte(resp.ClientCA), 0o644},
		{files.ClientCert(), []byte(resp.KubeletClientCert), 0o644},
		{files.ServingCert(), []byte(resp.KubeletServingCert), 0o644},
		{files.KubeProxyCert(), []byte(resp.KubeProxyCert), 0o644},
		{files.ControllerCert(), []byte(resp.ControllerCert), 0o644},
	} {
		if err := atomicfile.Write(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	kc, err := pki.KubeconfigFor(resp.APIServerURL, files.ServerCA(), files.ClientCert(), files.ClientKey(), false)
	if err != nil {
		return nil, err
	}
	kcData, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(files.KubeletKubeconfig(), kcData, 0o600); err != nil {
		return nil, err
	}
	return &Registration{Files: files, APIServerURL: resp.APIServerURL, Cluster: resp.Cluster}, nil
}

func newKeyAndCSR(nodeName string) (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + nodeName},
	}, key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func post(ctx context.Context, url string, roots *x509.CertPool, tok token.Token, body RegisterRequest) (*RegisterResponse, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	client := &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			Proxy:           http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		},
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.String())
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("register at %s: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("register at %s: %w (401)", url, ErrRefused)
	default:
		return nil, fmt.Errorf("register at %s: %s: %s", url, resp.Status, strings.TrimSpace(string(raw)))
	}
	var out RegisterResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("register at %s: answer is not a registration: %w", url, err)
	}
	return &out, nil
}

// check makes sure the certificates are for this node's identities and these keys (in the
// order kubelet client, kubelet serving, kube-proxy, node controllers) and chain to the CAs the
// server named, and that the server CA is the bundle the token pinned.
func (r *RegisterResponse) check(pinned []byte, node Node, pubs [4]crypto.PublicKey) error {
	if r.ServerCA != string(pinned) {
		return errors.New("its server CA differs from the pinned /cacerts bundle")
	}
	if !strings.HasPrefix(r.APIServerURL, "https://") {
		return fmt.Errorf("apiserver URL %q is not an https:// URL", r.APIServerURL)
	}
	serverRoots, err := certutil.NewPoolFromBytes(pinned)
	if err != nil {
		return err
	}
	clientRoots, err := certutil.NewPoolFromBytes([]byte(r.ClientCA))
	if err != nil {
		return fmt.Errorf("client CA: %w", err)
	}
	nodeUser := "system:node:" + node.Name
	for i, c := range []struct {
		what  string
		pem   string
		roots *x509.CertPool
		usage x509.ExtKeyUsage
		user  string
		group string
	}{
		{"kubelet client certificate", r.KubeletClientCert, clientRoots, x509.ExtKeyUsageClientAuth, nodeUser, pki.NodesGroup},
		{"kubelet serving certificate", r.KubeletServingCert, serverRoots, x509.ExtKeyUsageServerAuth, nodeUser, pki.NodesGroup},
		{"kube-proxy certificate", r.KubeProxyCert, clientRoots, x509.ExtKeyUsageClientAuth, "system:kube-proxy", ""},
		{"node controllers' certificate", r.ControllerCert, clientRoots, x509.ExtKeyUsageClientAuth, pki.ControllerUser, ""},
	} {
		certs, err := certutil.ParseCertsPEM([]byte(c.pem))
		if err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
		cert := certs[0]
		if _, err := cert.Verify(x509.VerifyOptions{Roots: c.roots, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
		if cert.Subject.CommonName != c.user || (c.group != "" && !slices.Contains(cert.Subject.Organization, c.group)) {
			return fmt.Errorf("%s is for %q %v, want %q %s", c.what, cert.Subject.CommonName, cert.Subject.Organization, c.user, c.group)
		}
		if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(pubs[i]) {
			return fmt.Errorf("%s does not hold the key this node sent", c.what)
		}
	}
	return nil
}
