package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOptionsNameEveryProblem(t *testing.T) {
	o := NewOptions()
	o.DataDir = "relative"
	o.Server = "http://10.0.0.1:6443"
	o.NodeIPs = []string{"not-an-ip"}
	err := o.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"data-dir", "server", "token: required", "node-ip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
}

func TestCompleteDerivesTheJoinAPIAndRefusesUnpinnedTokens(t *testing.T) {
	o := NewOptions()
	o.Server = "https://10.0.0.1:6443"
	o.NodeName = "worker-1"
	o.NodeIPs = []string{"10.0.0.2"}
	o.Token = "K10" + strings.Repeat("a", 64) + "::node:secret"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := o.Complete()
	if err != nil {
		t.Fatal(err)
	}
	if c.joinURL != "https://10.0.0.1:9345" || c.apiserver != "10.0.0.1:6443" {
		t.Errorf("join API %s, apiserver %s", c.joinURL, c.apiserver)
	}
	o.Token = ""
	o.TokenFile = filepath.Join(t.TempDir(), "token")
	os.WriteFile(o.TokenFile, []byte("secret-only\n"), 0o600)
	if _, err := o.Complete(); err == nil || !strings.Contains(err.Error(), "pins the cluster CA") {
		t.Errorf("an unpinned token: %v", err)
	}
}

func TestNodeNameIsCheckedAndLowerCased(t *testing.T) {
	if _, err := NodeName("Not_Valid"); err == nil {
		t.Error("an invalid node name was accepted")
	}
	name, err := NodeName("")
	if err != nil {
		t.Skip("host name is not a valid node name here:", err)
	}
	if name != strings.ToLower(name) {
		t.Errorf("%q is not lower case", name)
	}
}
