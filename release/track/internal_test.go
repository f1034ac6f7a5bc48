package track

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/upstream"
)

func TestMageTargets(t *testing.T) {
	out := []byte(`Targets for building, testing and releasing distro.

Targets:
  binary                   builds build/distro.
  build*                   makes dist/distro.
  conformance:quick        runs the quick conformance suite.
  upstream:track           turns a new upstream Kubernetes patch release into a pull request.

* default target
`)
	got := mageTargets(out)
	want := map[string]bool{"binary": true, "build": true, "conformance:quick": true, "upstream:track": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets = %v, want %v", got, want)
	}
	if len(mageTargets([]byte("Error: no magefiles\n"))) != 0 {
		t.Error("targets found in an error message")
	}
}

func TestTail(t *testing.T) {
	if got := tail([]byte("1\n2\n3\n4\n"), 2); got != "3\n4" {
		t.Errorf("tail = %q", got)
	}
	if got := tail([]byte("only"), 5); got != "only" {
		t.Errorf("tail = %q", got)
	}
}

func TestFailuresPicksTheLinesNamingWhatFailed(t *testing.T) {
	out := []byte("ok  \tgithub.com/distro-io/distro/a\t0.1s\n" +
		"--- FAIL: TestServer (2.00s)\n    server_test.go:10: boom\n" +
		"FAIL\tgithub.com/distro-io/distro/distro/server\t2.1s\n" +
		"FAIL\tgithub.com/distro-io/distro/distro/agent [build failed]\n" +
		"ok  \tgithub.com/distro-io/distro/z\t0.1s\nFAIL\n")
	want := "--- FAIL: TestServer (2.00s)\n    server_test.go:10: boom\nFAIL\tgithub.com/distro-io/distro/distro/server\t2.1s\nFAIL\tgithub.com/distro-io/distro/distro/agent [build failed]\n… (failures above; the last lines of output below)\n"
	if got := failures(out, 10); got != want {
		t.Errorf("failures =\n%s\nwant\n%s", got, want)
	}
	if got := failures(out, 1); !strings.HasPrefix(got, "--- FAIL: TestServer (2.00s)\n    server_test.go:10: boom\n… and 2 more\n") {
		t.Errorf("bounded failures = %q", got)
	}
	long := "--- FAIL: TestLong (9.00s)\n"
	for i := range 20 {
		long += fmt.Sprintf("    long_test.go:%d: step %d\n", i, i)
	}
	long += "FAIL\n"
	wantLong := "--- FAIL: TestLong (9.00s)\n    … 12 earlier lines\n"
	for i := 12; i < 20; i++ {
		wantLong += fmt.Sprintf("    long_test.go:%d: step %d\n", i, i)
	}
	if got := failures([]byte(long), 10); got != wantLong+"… (failures above; the last lines of output below)\n" {
		t.Errorf("failures of a long test log =\n%s", got)
	}
	if got := failures([]byte("ok\nall good\n"), 10); got != "" {
		t.Errorf("failures of a passing output = %q", got)
	}
	res := runStep(context.Background(), t.TempDir(), nil, Step{Name: "unit tests", Command: []string{"sh", "-c", "printf -- '--- FAIL: TestA (0.00s)\\n'; seq 1 30; exit 1"}})
	if res.Status != Failed || !strings.HasPrefix(res.Tail, "--- FAIL: TestA (0.00s)\n… (failures above") || !strings.HasSuffix(res.Tail, "\n30") {
		t.Errorf("failed step tail:\n%s", res.Tail)
	}
}

func TestUpstreamChangelog(t *testing.T) {
	for v, want := range map[string]string{
		"v1.37.3":      "CHANGELOG-1.37.md#v1373",
		"v1.38.0-rc.1": "CHANGELOG-1.38.md#v1380-rc1",
	} {
		if got := UpstreamChangelog(v); !strings.HasSuffix(got, "/CHANGELOG/"+want) {
			t.Errorf("%s: %s", v, got)
		}
	}
}

func TestAddChangelogEntry(t *testing.T) {
	item := "- Kubernetes v1.37.3."
	old := "## [v1.37.2+distro1] - 2026-11-01\n\n- First release.\n"
	for name, c := range map[string]struct{ before, after string }{
		"empty unreleased": {
			"# Changelog\n\n## [Unreleased]\n\n" + old,
			"# Changelog\n\n## [Unreleased]\n\n### Changed\n\n" + item + "\n\n" + old,
		},
		"unreleased with other kinds": {
			"# Changelog\n\n## [Unreleased]\n\n### Added\n\n- A flag.\n\n" + old,
			"# Changelog\n\n## [Unreleased]\n\n### Changed\n\n" + item + "\n\n### Added\n\n- A flag.\n\n" + old,
		},
		"unreleased with changes": {
			"# Changelog\n\n## [Unreleased]\n\n### Changed\n\n- Faster start.\n\n" + old,
			"# Changelog\n\n## [Unreleased]\n\n### Changed\n\n" + item + "\n- Faster start.\n\n" + old,
		},
		"no unreleased section": {
			"# Changelog\n\n" + old,
			"# Changelog\n\n## [Unreleased]\n\n### Changed\n\n" + item + "\n\n" + old,
		},
	} {
		path := filepath.Join(t.TempDir(), "CHANGELOG.md")
		os.WriteFile(path, []byte(c.before), 0o644)
		if changed, err := addChangelogEntry(path, item); err != nil || !changed {
			t.Fatalf("%s: %v %v", name, changed, err)
		}
		if got, _ := os.ReadFile(path); string(got) != c.after {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, c.after)
		}
	}
	if changed, err := addChangelogEntry(filepath.Join(t.TempDir(), "CHANGELOG.md"), item); changed || err != nil {
		t.Errorf("a missing changelog: %v %v", changed, err)
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	body := "text\n" + marker("v1.37.3", "0123abcd") + "\n"
	if got := markedTree(body); got != "0123abcd" {
		t.Errorf("tree = %q", got)
	}
	if got := markedTree("a person's own words"); got != "" {
		t.Errorf("tree in an unmarked body: %q", got)
	}
}

// The real go.mod's shape: one replace block for every staging module, a staging module
// required at its real version, another at Kubernetes' v0.0.0 placeholder.
func TestMoveGoMod(t *testing.T) {
	path := filepath.Join(t.TempDir(), "go.mod")
	os.WriteFile(path, []byte(`module example.com/distro

go 1.27.3

replace (
	k8s.io/api => k8s.io/api v0.37.2
	k8s.io/client-go => k8s.io/client-go v0.37.2
)

require (
	example.com/other v1.0.0
	k8s.io/client-go v0.37.2
	k8s.io/kubectl v0.0.0
	k8s.io/kubernetes v1.37.2
)
`), 0o644)
	lock := &upstream.Lock{Revision: 1, Modules: []upstream.Module{
		{Path: "k8s.io/kubernetes", Version: "v1.37.3", Role: upstream.RoleKubernetes},
		{Path: "k8s.io/api", Version: "v0.37.3", Role: upstream.RoleStaging},
		{Path: "k8s.io/client-go", Version: "v0.37.3", Role: upstream.RoleStaging},
		{Path: "k8s.io/kubectl", Version: "v0.37.3", Role: upstream.RoleStaging},
		{Path: "example.com/other", Version: "v1.0.0", Role: upstream.RoleLinked},
	}}
	if err := moveGoMod(path, lock); err != nil {
		t.Fatal(err)
	}
	if err := upstream.CheckGoMod(lock, path); err != nil {
		t.Errorf("moved go.mod does not follow the lock: %v", err)
	}
	got, _ := os.ReadFile(path)
	for _, want := range []string{"\tk8s.io/client-go v0.37.3\n", "\tk8s.io/kubectl v0.0.0\n", "\tk8s.io/kubernetes v1.37.3\n", "k8s.io/kubectl => k8s.io/kubectl v0.37.3"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "v0.37.2") || strings.Contains(string(got), "v1.37.2") {
		t.Errorf("go.mod keeps an old version:\n%s", got)
	}
}
