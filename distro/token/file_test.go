package token

import (
	"os"
	"strings"
	"testing"
)

func TestEnsureCreatesOnceAndReuses(t *testing.T) {
	dir := t.TempDir()
	path := ServerTokenFile(dir)

	first, err := Ensure(path, ServerUser, hash, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.Username != "server" || first.CAHash != hash || len(first.Secret) != 32 {
		t.Fatalf("created %+v", first)
	}
	data, _ := os.ReadFile(path)
	if string(data) != first.String()+"\n" {
		t.Errorf("file holds %q", data)
	}
	if !strings.HasPrefix(string(data), "K10"+hash+"::server:") {
		t.Errorf("file is not in the secure format: %q", data)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}

	again, err := Ensure(path, ServerUser, hash, "")
	if err != nil || again != first {
		t.Fatalf("second Ensure: %+v, %v; want the stored token", again, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Error("file rewritten")
	}
	if same, err := Ensure(path, ServerUser, hash, first.Secret); err != nil || same != first {
		t.Errorf("Ensure with the stored secret: %v", err)
	}

	node, err := Ensure(NodeTokenFile(dir), NodeUser, hash, "")
	if err != nil {
		t.Fatal(err)
	}
	if node.Username != "node" || node.Secret == first.Secret {
		t.Errorf("node token %+v shares the server's secret", node)
	}
}

func TestEnsureUsesGivenSecret(t *testing.T) {
	path := ServerTokenFile(t.TempDir())
	got, err := Ensure(path, ServerUser, hash, "chosen-by-admin")
	if err != nil || got.Secret != "chosen-by-admin" {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestEnsureRefusesDisagreementAndLeavesTheFile(t *testing.T) {
	tests := []struct {
		name, content, user, caHash, secret, wantErr string
	}{
		{name: "other secret", content: "K10" + hash + "::server:old\n", user: ServerUser, caHash: hash, secret: "new", wantErr: "differs"},
		{name: "other CA", content: "K10" + hash + "::server:old\n", user: ServerUser, caHash: HashCA([]byte("new CA")), wantErr: "CA was replaced"},
		{name: "other user", content: "K10" + hash + "::node:old\n", user: ServerUser, caHash: hash, wantErr: `user "node"`},
		{name: "malformed", content: "K10" + hash[:10] + "::server:old\n", user: ServerUser, caHash: hash, wantErr: "left untouched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ServerTokenFile(t.TempDir())
			os.MkdirAll(strings.TrimSuffix(path, "/token"), 0o700)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Ensure(path, tt.user, tt.caHash, tt.secret)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, path, tt.wantErr)
			}
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Errorf("file changed to %q", got)
			}
		})
	}
}
