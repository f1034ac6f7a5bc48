package encryption

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/client-go/rest"
)

// File is where the server keeps its encryption configuration: <data-dir>/server/cred/encryption-config.json.
func File(dataDir string) string {
	return filepath.Join(dataDir, "server", "cred", "encryption-config.json")
}

// Status describes the encryption configuration on disk.
type Status struct {
	File string
	// Encrypted says whether new Secrets are written encrypted.
	Encrypted bool
	// Provider is the type of the first provider for Secrets: "secretbox", "aesgcm", "identity", …
	Provider string
	// Keys are the first provider's key names; the first encrypts, all decrypt. More than one
	// means a rotation has not finished.
	Keys []string
	// Hash is the file's hash as the apiserver reports it in its metrics.
	Hash string
}

// ActiveKey is the key new Secrets are encrypted with; empty without one.
func (s Status) ActiveKey() string {
	if len(s.Keys) == 0 {
		return ""
	}
	return s.Keys[0]
}

// ReadStatus reads the configuration at path.
func ReadStatus(path string) (Status, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Status{}, err
	}
	st := Status{File: path, Hash: contentHash(data)}
	cfg, err := Parse(data)
	if err != nil {
		return Status{}, fmt.Errorf("%s: %w", path, err)
	}
	p := secretsProviders(cfg)[0]
	st.Encrypted = p.Identity == nil
	st.Provider, st.Keys = describe(p)
	return st, nil
}

// secretsProviders returns the providers of the first resource entry naming secrets; Parse
// guarantees there is one with at least one provider.
func secretsProviders(cfg *apiserverv1.EncryptionConfiguration) []apiserverv1.ProviderConfiguration {
	for _, r := range cfg.Resources {
		if slices.Contains(r.Resources, "secrets") && len(r.Providers) > 0 {
			return r.Providers
		}
	}
	return nil
}

func describe(p apiserverv1.ProviderConfiguration) (string, []string) {
	names := func(keys []apiserverv1.Key) []string {
		var out []string
		for _, k := range keys {
			out = append(out, k.Name)
		}
		return out
	}
	switch {
	case p.Secretbox != nil:
		return "secretbox", names(p.Secretbox.Keys)
	case p.AESGCM != nil:
		return "aesgcm", names(p.AESGCM.Keys)
	case p.AESCBC != nil:
		return "aescbc", names(p.AESCBC.Keys)
	case p.KMS != nil:
		return "kms", []string{p.KMS.Name}
	case p.Identity != nil:
		return "identity", nil
	}
	return "unknown", nil
}

// contentHash is how the apiserver names a configuration file's content in its metrics.
func contentHash(data []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(data))
}

// lastConfigMetric is the apiserver metric naming the hash of the configuration it runs.
const lastConfigMetric = "apiserver_encryption_config_controller_last_config_info"

// Loaded says whether the apiserver behind client runs the configuration whose hash is given,
// from its /metrics (the apiserver reloads the file within a minute of a change).
func Loaded(ctx context.Context, client rest.Interface, hash string) (bool, error) {
	body, err := client.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return false, fmt.Errorf("read the apiserver's /metrics: %w", err)
	}
	seen := false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, lastConfigMetric+"{") {
			continue
		}
		seen = true
		if strings.Contains(line, `hash="`+hash+`"`) {
			return true, nil
		}
	}
	if !seen {
		return false, errors.New("the apiserver reports no " + lastConfigMetric + ": is --encryption-provider-config-automatic-reload on?")
	}
	return false, nil
}
