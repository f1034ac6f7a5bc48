package encryption

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureCreatesOnceAndKeepsTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "encryption-config.json")
	if err := Ensure(path, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	cfg, err := Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	if key := cfg.Resources[0].Providers[0].Secretbox.Keys[0].Secret; len(key) != 44 {
		t.Errorf("secretbox key %q is not 32 bytes in base64", key)
	}
	if err := Ensure(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(path); string(second) != string(first) {
		t.Error("a second Ensure replaced the key: Secrets written with it would be lost")
	}
}

func TestEnsureRefusesAFileThatDoesNotEncrypt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "encryption-config.json")
	identityOnly := `{"kind":"EncryptionConfiguration","apiVersion":"apiserver.config.k8s.io/v1","resources":[{"resources":["secrets"],"providers":[{"identity":{}}]}]}`
	os.WriteFile(path, []byte(identityOnly), 0o600)
	err := Ensure(path, time.Now())
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not encrypted") {
		t.Errorf("Ensure on an identity-only file = %v, want an error naming the file", err)
	}
	if data, _ := os.ReadFile(path); string(data) != identityOnly {
		t.Error("the refused file was changed")
	}
}
