package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

const (
	keyMode  = 0o600
	certMode = 0o644

	// LeafValidity is how long issued leaf certificates live.
	LeafValidity = 365 * 24 * time.Hour
	// RenewBefore is how close to expiry a leaf certificate is reissued at start.
	RenewBefore = 90 * 24 * time.Hour
)

// LeafSpec describes what a leaf certificate must say. Comparing an existing certificate with
// its spec decides whether it can be kept.
type LeafSpec struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	Usages       []x509.ExtKeyUsage
}

// staleReason says why cert no longer fits spec under ca at now, or "" when it still does.
func staleReason(cert *x509.Certificate, spec LeafSpec, ca *Authority, now time.Time) string {
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return "not signed by the current CA " + ca.Cert.Subject.CommonName
	}
	if now.After(cert.NotAfter) {
		return "expired on " + cert.NotAfter.Format(time.DateOnly)
	}
	if left := cert.NotAfter.Sub(now); left < RenewBefore {
		return fmt.Sprintf("expires on %s, within %d days", cert.NotAfter.Format(time.DateOnly), int(RenewBefore.Hours()/24))
	}
	if cert.Subject.CommonName != spec.CommonName || !slices.Equal(cert.Subject.Organization, spec.Organization) {
		return fmt.Sprintf("subject changed from CN=%s,O=%v to CN=%s,O=%v",
			cert.Subject.CommonName, cert.Subject.Organization, spec.CommonName, spec.Organization)
	}
	for _, usage := range spec.Usages {
		if !slices.Contains(cert.ExtKeyUsage, usage) {
			return "extended key usage changed"
		}
	}
	if missing := missingSANs(cert, spec); len(missing) > 0 {
		return "SANs no longer cover " + strings.Join(missing, ", ")
	}
	return ""
}

func missingSANs(cert *x509.Certificate, spec LeafSpec) []string {
	var missing []string
	for _, name := range spec.DNSNames {
		if !slices.Contains(cert.DNSNames, name) {
			missing = append(missing, name)
		}
	}
	for _, ip := range spec.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			missing = append(missing, ip.String())
		}
	}
	return missing
}

// ensureLeaf keeps the certificate at certFile when it still fits spec and otherwise issues a
// new one, reusing the existing key when it is readable.
func ensureLeaf(certFile, keyFile string, spec LeafSpec, ca *Authority, now time.Time, report *Report) error {
	key, keyErr := readSigner(keyFile)
	certPEM, certErr := os.ReadFile(certFile)

	var pathErr *fs.PathError
	if keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist) && errors.As(keyErr, &pathErr) {
		// An existing key we may not read is not ours to replace.
		return keyErr
	}
	var reason string
	switch {
	case errors.Is(certErr, fs.ErrNotExist):
		reason = "missing"
	case certErr != nil:
		return certErr
	case keyErr != nil && errors.Is(keyErr, fs.ErrNotExist):
		reason = "key " + keyFile + " missing"
	case keyErr != nil:
		reason = "key unreadable: " + keyErr.Error()
	default:
		cert, err := parseCert(certPEM)
		switch {
		case err != nil:
			reason = "certificate unreadable: " + err.Error()
		case !publicKeysEqual(cert.PublicKey, key.Public()):
			reason = "key does not match certificate"
		default:
			reason = staleReason(cert, spec, ca, now)
		}
	}
	if reason == "" {
		report.add(certFile, Kept, "")
		return tightenKeyMode(keyFile, report)
	}

	action := Reissued
	if errors.Is(certErr, fs.ErrNotExist) {
		action = Created
		reason = ""
	}
	if keyErr != nil {
		var keyPEM []byte
		var err error
		if key, keyPEM, err = newECKey(); err != nil {
			return err
		}
		if err := atomicfile.Write(keyFile, keyPEM, keyMode); err != nil {
			return err
		}
	} else if err := tightenKeyMode(keyFile, report); err != nil {
		return err
	}
	_, newPEM, err := ca.Sign(spec, key.Public(), now, LeafValidity)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(certFile, newPEM, certMode); err != nil {
		return err
	}
	report.add(certFile, action, reason)
	return nil
}

func readSigner(keyFile string) (crypto.Signer, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	return parseSigner(keyPEM)
}
