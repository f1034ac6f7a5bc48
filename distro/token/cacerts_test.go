package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	certutil "k8s.io/client-go/util/cert"
)

// caServer serves bundle at /cacerts over TLS on loopback with httptest's own certificate.
func caServer(t *testing.T, bundle func(srv *httptest.Server) []byte) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != CACertsPath {
			http.NotFound(w, r)
			return
		}
		w.Write(bundle(srv))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// ownBundle is the CA that really signed the server's certificate.
func ownBundle(srv *httptest.Server) []byte {
	out, _ := certutil.EncodeCertificates(srv.Certificate())
	return out
}

func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "someone else"}, key)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := certutil.EncodeCertificates(cert)
	return out
}

func TestFetchCAAcceptsTheBundleTheTokenPins(t *testing.T) {
	srv := caServer(t, ownBundle)
	want := ownBundle(srv)
	tok := Token{CAHash: HashCA(want), Username: ServerUser, Secret: "x"}
	got, err := FetchCA(context.Background(), srv.URL, tok)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("returned bundle differs from the served one")
	}

	// A bare token pins nothing and takes the server's bundle on first contact.
	if _, err := FetchCA(context.Background(), srv.URL, Token{Secret: "x"}); err != nil {
		t.Errorf("bare token: %v", err)
	}
}

func TestFetchCARefusesABundleWithAnotherHash(t *testing.T) {
	srv := caServer(t, ownBundle)
	tok := Token{CAHash: HashCA(otherCA(t)), Username: ServerUser, Secret: "x"}
	_, err := FetchCA(context.Background(), srv.URL, tok)
	if !errors.Is(err, ErrCAMismatch) || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("error %v, want a refusal with ErrCAMismatch", err)
	}
}

// A server that serves the genuine (public) CA bundle but presents a certificate of its own is
// an impostor even though the hash matches.
func TestFetchCARefusesAServerItsBundleDoesNotSign(t *testing.T) {
	genuine := otherCA(t)
	srv := caServer(t, func(*httptest.Server) []byte { return genuine })
	tok := Token{CAHash: HashCA(genuine), Username: ServerUser, Secret: "x"}
	_, err := FetchCA(context.Background(), srv.URL, tok)
	if err == nil || !strings.Contains(err.Error(), "not valid under the CA bundle") {
		t.Fatalf("error %v, want the server certificate refused", err)
	}
}

func TestFetchCARejectsPlainHTTP(t *testing.T) {
	if _, err := FetchCA(context.Background(), "http://127.0.0.1:1", Token{Secret: "x"}); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Fatalf("error %v", err)
	}
}
