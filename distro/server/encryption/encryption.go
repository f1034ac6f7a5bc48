// Package encryption keeps the apiserver's encryption-at-rest configuration: Secrets are
// encrypted in the datastore from the first start, with a key generated into the data dir.
package encryption

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// Ensure writes an EncryptionConfiguration with a fresh secretbox key to path unless a
// valid one is there already; an existing file is never replaced.
func Ensure(path string, now time.Time) error {
	data, err := os.ReadFile(path)
	if err == nil {
		if _, err := Parse(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	cfg := apiserverv1.EncryptionConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: apiserverv1.SchemeGroupVersion.String(), Kind: "EncryptionConfiguration"},
		Resources: []apiserverv1.ResourceConfiguration{{
			Resources: []string{"secrets"},
			Providers: []apiserverv1.ProviderConfiguration{
				{Secretbox: &apiserverv1.SecretboxConfiguration{Keys: []apiserverv1.Key{{
					Name:   keyName(now),
					Secret: base64.StdEncoding.EncodeToString(key),
				}}}},
				// identity last: Secrets written before encryption was on stay readable.
				{Identity: &apiserverv1.IdentityConfiguration{}},
			},
		}},
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Create(path, append(out, '\n'), 0o600)
}

// Parse reads an EncryptionConfiguration and checks that it encrypts Secrets with a key.
func Parse(data []byte) (*apiserverv1.EncryptionConfiguration, error) {
	var cfg apiserverv1.EncryptionConfiguration
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("not an EncryptionConfiguration: %w", err)
	}
	if cfg.Kind != "EncryptionConfiguration" {
		return nil, fmt.Errorf("kind is %q, want EncryptionConfiguration", cfg.Kind)
	}
	for _, r := range cfg.Resources {
		for _, res := range r.Resources {
			if res == "secrets" && len(r.Providers) > 0 && r.Providers[0].Identity == nil {
				return &cfg, nil
			}
		}
	}
	return nil, errors.New("secrets are not encrypted: the first provider for secrets must hold a key")
}
