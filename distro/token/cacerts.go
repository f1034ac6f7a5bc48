package token

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	certutil "k8s.io/client-go/util/cert"
)

// CACertsPath is where the join API serves the server CA bundle.
const CACertsPath = "/cacerts"

// maxBundle bounds what a client reads from a server it does not trust yet.
const maxBundle = 1 << 20

// FetchCA downloads the CA bundle from serverURL without trusting the connection, then accepts it
// only if it matches the hash t pins and the server's own certificate chains to it. For a token
// that pins nothing the second check still rejects a server inconsistent with its own bundle.
// The returned bundle is what the client trusts from then on.
func FetchCA(ctx context.Context, serverURL string, t Token) ([]byte, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q is not an https:// URL", serverURL)
	}
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			// Trust is established below, from the token, not from the system roots.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
		},
	}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(serverURL, "/")+CACertsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch CA bundle: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch CA bundle from %s: %s", req.URL, resp.Status)
	}
	bundle, err := io.ReadAll(io.LimitReader(resp.Body, maxBundle+1))
	if err != nil {
		return nil, fmt.Errorf("fetch CA bundle from %s: %w", req.URL, err)
	}
	if len(bundle) > maxBundle {
		return nil, fmt.Errorf("CA bundle from %s is larger than %d bytes", req.URL, maxBundle)
	}
	if err := t.VerifyCA(bundle); err != nil {
		return nil, fmt.Errorf("refusing to trust %s: %w", u.Host, err)
	}
	if err := verifyPeer(resp.TLS, bundle, u.Hostname()); err != nil {
		return nil, fmt.Errorf("refusing to trust %s: %w", u.Host, err)
	}
	return bundle, nil
}

// verifyPeer checks the certificate the server presented against the bundle it served.
func verifyPeer(state *tls.ConnectionState, bundle []byte, host string) error {
	if state == nil || len(state.PeerCertificates) == 0 {
		return errors.New("server presented no certificate")
	}
	roots, err := certutil.NewPoolFromBytes(bundle)
	if err != nil {
		return fmt.Errorf("CA bundle: %w", err)
	}
	intermediates := x509.NewCertPool()
	for _, c := range state.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: intermediates, DNSName: host}
	if ip := net.ParseIP(host); ip != nil {
		opts.DNSName = ip.String()
	}
	if _, err := state.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("server certificate is not valid under the CA bundle it served: %w", err)
	}
	return nil
}
