package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// Authority is a loaded certificate authority: its certificate, the PEM it was read from and the
// key that signs with it.
type Authority struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     crypto.Signer
}

// LoadAuthority reads a CA certificate and its key and checks that they belong together.
func LoadAuthority(certFile, keyFile string) (*Authority, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	return parseAuthority(certFile, certPEM, keyFile, keyPEM)
}

func parseAuthority(certFile string, certPEM []byte, keyFile string, keyPEM []byte) (*Authority, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: certificate %q is not a CA", certFile, cert.Subject.CommonName)
	}
	key, err := parseSigner(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s does not hold the key of %s", keyFile, certFile)
	}
	return &Authority{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// ensureAuthority loads the CA at certFile/keyFile, or creates it when both files are absent.
// A half-present or damaged CA is an error: replacing it would invalidate every certificate and
// token issued under it, so a person has to decide.
func ensureAuthority(certFile, keyFile, commonName string, now time.Time, report *Report) (*Authority, error) {
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return createAuthority(certFile, keyFile, commonName, now, report)
	case errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("CA key %s exists but its certificate %s is missing; restore it or remove both to create a new CA", keyFile, certFile)
	case errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("CA certificate %s exists but its key %s is missing; restore it or remove both to create a new CA", certFile, keyFile)
	}
	ca, err := LoadAuthority(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("existing CA is unusable (left untouched): %w", err)
	}
	if now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("CA certificate %s expired on %s; it has to be rotated by hand", certFile, ca.Cert.NotAfter.Format(time.DateOnly))
	}
	if err := tightenKeyMode(keyFile, report); err != nil {
		return nil, err
	}
	report.add(certFile, Kept, "")
	return ca, nil
}

func createAuthority(certFile, keyFile, commonName string, now time.Time, report *Report) (*Authority, error) {
	key, keyPEM, err := newECKey()
	if err != nil {
		return nil, err
	}
	// The creation time in the name tells CAs of different generations apart in error messages.
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{
		CommonName: fmt.Sprintf("%s@%d", commonName, now.Unix()),
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", certFile, err)
	}
	certPEM := encodeCert(cert)
	// Key first: a crash before the certificate lands leaves a key without certificate, which
	// the next start reports instead of silently pairing a new certificate with an old key.
	if err := atomicfile.Write(keyFile, keyPEM, keyMode); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(certFile, certPEM, certMode); err != nil {
		return nil, err
	}
	report.add(certFile, Created, "")
	return &Authority{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// Sign issues a certificate for pub described by spec, valid from now for validity.
func (a *Authority) Sign(spec LeafSpec, pub crypto.PublicKey, now time.Time, validity time.Duration) (*x509.Certificate, []byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject: pkix.Name{
			CommonName:   spec.CommonName,
			Organization: spec.Organization,
		},
		DNSNames:    spec.DNSNames,
		IPAddresses: spec.IPs,
		// Backdated so that a node whose clock runs a little behind still accepts the certificate.
		NotBefore:             now.Add(-5 * time.Minute).UTC(),
		NotAfter:              now.Add(validity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           spec.Usages,
		BasicConstraintsValid: true,
	}
	if tmpl.NotAfter.After(a.Cert.NotAfter) {
		// A certificate never outlives its issuer.
		tmpl.NotAfter = a.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, pub, a.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %q: %w", spec.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, encodeCert(cert), nil
}

// Pool returns a certificate pool holding only this CA.
func (a *Authority) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(a.Cert)
	return pool
}

func newECKey() (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return key, keyPEM, nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

func parseSigner(keyPEM []byte) (crypto.Signer, error) {
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return signer, nil
}

func encodeCert(cert *x509.Certificate) []byte {
	out, _ := certutil.EncodeCertificates(cert) // encoding a parsed certificate cannot fail
	return out
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// tightenKeyMode repairs a private key readable by others; the content stays as it is.
func tightenKeyMode(keyFile string, report *Report) error {
	info, err := os.Stat(keyFile)
	if err != nil {
		return err
	}
	if info.Mode().Perm()&^keyMode == 0 {
		return nil
	}
	if err := os.Chmod(keyFile, keyMode); err != nil {
		return fmt.Errorf("restrict permissions of %s: %w", keyFile, err)
	}
	report.add(keyFile, Repaired, fmt.Sprintf("mode was %v, now %v", info.Mode().Perm(), fs.FileMode(keyMode)))
	return nil
}
