package strip

import (
	"context"
	"strings"
	"testing"
)

func TestEmbeddedDenyListParses(t *testing.T) {
	deny := DenyList()
	if len(deny) < 10 {
		t.Fatalf("deny list holds %d patterns, expected the cloud SDKs and storage plugins", len(deny))
	}
	for _, want := range []string{"k8s.io/kubernetes/pkg/volume/iscsi/...", "k8s.io/client-go/plugin/pkg/client/auth/gcp", "cloud.google.com/..."} {
		found := false
		for _, p := range deny {
			found = found || p.String() == want
		}
		if !found {
			t.Errorf("deny list lacks %s", want)
		}
	}
}

func TestPatternMatching(t *testing.T) {
	deny, err := ParseDenyList("test", "github.com/aws/...\nk8s.io/client-go/plugin/pkg/client/auth/gcp\n")
	if err != nil {
		t.Fatal(err)
	}
	for pkg, denied := range map[string]bool{
		"github.com/aws":                                  true,
		"github.com/aws/aws-sdk-go/service/ec2":           true,
		"github.com/awsome/thing":                         false,
		"k8s.io/client-go/plugin/pkg/client/auth/gcp":     true,
		"k8s.io/client-go/plugin/pkg/client/auth/gcp/sub": false,
		"k8s.io/client-go/plugin/pkg/client/auth/oidc":    false,
	} {
		if got := len(Audit([]string{pkg}, deny)) == 1; got != denied {
			t.Errorf("%s denied = %v, want %v", pkg, got, denied)
		}
	}
}

func TestParseDenyListNamesBadLines(t *testing.T) {
	_, err := ParseDenyList("deny.txt", "# fine\ngood/pkg\nbad pattern\n*/x\n")
	if err == nil {
		t.Fatal("bad patterns accepted")
	}
	for _, want := range []string{`deny.txt:3: "bad pattern"`, `deny.txt:4: "*/x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// The audit runs on the go command's real dependency list: a package that links
// os/exec is caught by a pattern for it, and one that does not link a denied package passes.
func TestAuditOfRealDependencyList(t *testing.T) {
	deps, err := ListDeps(context.Background(), "../..", "", nil, "./release/build")
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) == 0 || deps[0] == "" {
		t.Fatalf("no dependencies listed")
	}
	if v := Audit(deps, DenyList()); len(v) != 0 {
		t.Errorf("release/build links denied packages: %v", v)
	}
	selfDeny, _ := ParseDenyList("test", "github.com/distro-io/distro/release/...")
	found := map[string]bool{}
	for _, v := range Audit(deps, selfDeny) {
		found[v.Package] = true
	}
	if !found["github.com/distro-io/distro/release/build"] || found["os/exec"] {
		t.Errorf("audit with a pattern for the release packages found %v", found)
	}
}
