package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestSecretsEncryptRotate(t *testing.T) {
	s, _ := startWithJoinAPI(t)
	dd := []string{"--data-dir", s.dataDir}
	const value = "rotated-secret-value"
	s.kubectl("create", "secret", "generic", "rotated", "--from-literal=value="+value)

	activeKey := regexp.MustCompile(`Active key: (\S+) \(type secretbox\)`)
	before := run(t, s.bin, s.env, append([]string{"secrets-encrypt", "status"}, dd...)...)
	m := activeKey.FindStringSubmatch(before)
	if m == nil || !strings.Contains(before, "Encryption of Secrets: yes") || !strings.Contains(before, "runs this configuration") {
		t.Fatalf("secrets-encrypt status before the rotation:\n%s", before)
	}
	oldKey := m[1]

	out := run(t, s.bin, s.env, append([]string{"secrets-encrypt", "rotate"}, dd...)...)
	t.Logf("rotate:\n%s", out)
	after := run(t, s.bin, s.env, append([]string{"secrets-encrypt", "status"}, dd...)...)
	m = activeKey.FindStringSubmatch(after)
	if m == nil || m[1] == oldKey || !strings.Contains(after, "Keys: "+m[1]+"\n") || !strings.Contains(after, "runs this configuration") {
		t.Fatalf("secrets-encrypt status after the rotation (old key %s):\n%s", oldKey, after)
	}
	newKey := m[1]

	want := base64.StdEncoding.EncodeToString([]byte(value))
	if got := s.kubectl("get", "secret", "rotated", "-o", "jsonpath={.data.value}"); got != want {
		t.Errorf("after the rotation the Secret reads %q, want %q", got, want)
	}
	prefix := []byte("k8s:enc:secretbox:v1:" + newKey + ":")
	var stored []byte
	filepath.Walk(filepath.Join(s.dataDir, "server", "db"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(path)
			stored = append(stored, data...)
		}
		return nil
	})
	if !bytes.Contains(stored, prefix) {
		t.Errorf("no value in the sqlite files is encrypted with the new key (%s)", prefix)
	}

	// The old key is gone from the configuration: after a restart only Secrets rewritten with
	// the new key can be read.
	s.stop()
	s.start("--supervisor-port", fmt.Sprint(freePort(t)))
	if got := s.kubectl("get", "secret", "rotated", "-o", "jsonpath={.data.value}"); got != want {
		t.Errorf("after a restart without the old key the Secret reads %q, want %q", got, want)
	}
	s.stop()
}
