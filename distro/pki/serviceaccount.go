package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"k8s.io/client-go/util/keyutil"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// ensureServiceAccountKey keeps the service-account signing key or creates it, and keeps the
// public half beside it in step. The key is RSA because every consumer of service-account
// tokens (OIDC discovery clients included) accepts RS256.
func ensureServiceAccountKey(keyFile, pubFile string, report *Report) error {
	keyPEM, err := os.ReadFile(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		if keyPEM, err = keyutil.MarshalPrivateKeyToPEM(rsaKey); err != nil {
			return err
		}
		if err := atomicfile.Write(keyFile, keyPEM, keyMode); err != nil {
			return err
		}
		report.add(keyFile, Created, "")
	case err != nil:
		return err
	default:
		// Replacing this key would invalidate every service-account token: refuse instead.
		if _, err := parseSigner(keyPEM); err != nil {
			return fmt.Errorf("service-account key %s is unusable (left untouched): %w", keyFile, err)
		}
		if err := tightenKeyMode(keyFile, report); err != nil {
			return err
		}
		report.add(keyFile, Kept, "")
	}

	signer, err := parseSigner(keyPEM)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return err
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: keyutil.PublicKeyBlockType, Bytes: pubDER})
	existing, err := os.ReadFile(pubFile)
	if err == nil && bytes.Equal(existing, pubPEM) {
		report.add(pubFile, Kept, "")
		return nil
	}
	if err := atomicfile.Write(pubFile, pubPEM, certMode); err != nil {
		return err
	}
	report.add(pubFile, Written, "public half of "+keyFile)
	return nil
}
