package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestValidateJoinOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want string // "" for valid
	}{
		{"a first server without a token", func(o *Options) {}, ""},
		{"a first server with a secret", func(o *Options) { o.Token = "my-secret" }, ""},
		{"a secret with a colon", func(o *Options) { o.Token = "my:secret" }, "spaces or colons"},
		{"joining with the server token on PostgreSQL", func(o *Options) {
			o.Server, o.Token, o.DatastoreEndpoint = "https://10.0.0.1:6443", "K10"+testHash+"::server:s3cret", "postgres://u:p@db/k"
		}, ""},
		{"joining with a token file on etcd", func(o *Options) {
			o.Server, o.TokenFile, o.DatastoreEndpoint = "https://10.0.0.1:6443", "/t", "https://etcd:2379"
		}, ""},
		{"joining without a token", func(o *Options) {
			o.Server, o.DatastoreEndpoint = "https://10.0.0.1:6443", "postgres://db/k"
		}, "needs its server token"},
		{"joining on SQLite", func(o *Options) { o.Server, o.Token = "https://10.0.0.1:6443", "s3cret" }, "share an external datastore"},
		{"joining on an explicit SQLite file", func(o *Options) {
			o.Server, o.Token, o.DatastoreEndpoint = "https://10.0.0.1:6443", "s3cret", "sqlite:///var/db"
		}, "share an external datastore"},
		{"a server URL that is not https", func(o *Options) {
			o.Server, o.Token, o.DatastoreEndpoint = "http://10.0.0.1:6443", "s3cret", "postgres://db/k"
		}, "expected https://HOST:PORT"},
		{"the node token", func(o *Options) { o.Token = "K10" + testHash + "::node:s3cret" }, "a node token cannot add a server"},
		{"a join token", func(o *Options) { o.Token = "K10" + testHash + "::abcdef.0123456789abcdef" }, "join token lets agents join"},
		{"both token and token file", func(o *Options) { o.Token, o.TokenFile = "a", "/t" }, "give one of them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			o.DataDir, o.FlannelBackend = "/var/lib/distro", "vxlan"
			tc.set(o)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want an error saying %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestCompleteReadsTheTokenFileAndDerivesTheJoinAPI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte("K10"+testHash+"::server:s3cret\n"), 0o600)
	o := NewOptions()
	o.DataDir, o.FlannelBackend = t.TempDir(), "vxlan"
	o.NodeIPs = []string{"10.0.0.2"}
	o.Server, o.TokenFile, o.DatastoreEndpoint = "https://10.0.0.1:6443", file, "postgres://db/k"
	o.SupervisorPort = 9999
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := o.Complete()
	if err != nil {
		t.Fatal(err)
	}
	if c.token.Secret != "s3cret" || c.token.CAHash != testHash || c.joinURL != "https://10.0.0.1:9999" {
		t.Errorf("token %+v, join API %q", c.token, c.joinURL)
	}
	os.WriteFile(file, []byte("K10"+testHash+"::node:s3cret\n"), 0o600)
	if _, err := o.Complete(); err == nil || !strings.Contains(err.Error(), "node token") {
		t.Errorf("a node token in the token file: %v", err)
	}
}
