package token

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

var hash = HashCA([]byte("a CA bundle"))

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Token
		wantErr string
	}{
		{name: "server token", in: "K10" + hash + "::server:s3cret", want: Token{CAHash: hash, Username: "server", Secret: "s3cret"}},
		{name: "secret with colons", in: "K10" + hash + "::node:a:b::c", want: Token{CAHash: hash, Username: "node", Secret: "a:b::c"}},
		{name: "upper-case hash", in: "K10" + strings.ToUpper(hash) + "::server:x", want: Token{CAHash: hash, Username: "server", Secret: "x"}},
		{name: "pinned join token", in: "K10" + hash + "::abcdef.0123456789abcdef", want: Token{CAHash: hash, JoinID: "abcdef", Secret: "0123456789abcdef"}},
		{name: "bare secret", in: "  just-a-secret\n", want: Token{Secret: "just-a-secret"}},
		{name: "bare join token", in: "abcdef.0123456789abcdef", want: Token{JoinID: "abcdef", Secret: "0123456789abcdef"}},
		{name: "empty", in: " ", wantErr: "empty"},
		{name: "wrong prefix", in: "K11" + hash + "::server:x", wantErr: "does not start with K10"},
		{name: "short hash", in: "K10" + hash[:63] + "::server:x", wantErr: "63 characters, want 64"},
		{name: "long hash", in: "K10" + hash + "0::server:x", wantErr: "65 characters, want 64"},
		{name: "hash not hex", in: "K10" + strings.Repeat("z", 64) + "::server:x", wantErr: "not hexadecimal"},
		{name: "missing separator", in: "K10" + hash + "server:x", wantErr: `no "::"`},
		{name: "nothing after separator", in: "K10" + hash + "::", wantErr: `nothing after "::"`},
		{name: "missing colon", in: "K10" + hash + "::serverx", wantErr: `lacks ":"`},
		{name: "empty username", in: "K10" + hash + "::" + ":x", wantErr: "username is empty"},
		{name: "empty secret", in: "K10" + hash + "::server:", wantErr: "secret is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "x\"") || strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error repeats the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Errorf("String %q does not parse back: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestHashAndVerifyCA(t *testing.T) {
	bundle := []byte("-----BEGIN CERTIFICATE-----\n...")
	sum := sha256.Sum256(bundle)
	if HashCA(bundle) != hex.EncodeToString(sum[:]) {
		t.Fatal("HashCA is not the hex SHA-256")
	}
	pinned := Token{CAHash: HashCA(bundle), Username: "server", Secret: "x"}
	if err := pinned.VerifyCA(bundle); err != nil {
		t.Errorf("matching bundle: %v", err)
	}
	if err := pinned.VerifyCA(append(bundle, '\n')); !errors.Is(err, ErrCAMismatch) {
		t.Errorf("other bundle: %v, want ErrCAMismatch", err)
	}
	if err := (Token{Secret: "x"}).VerifyCA([]byte("anything")); err != nil {
		t.Errorf("bare token must accept any bundle: %v", err)
	}
}

func TestNewSecretIsRandomHex(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if len(a) != 32 || a == b {
		t.Errorf("secrets %q and %q", a, b)
	}
	if _, err := hex.DecodeString(a); err != nil {
		t.Error(err)
	}
}
