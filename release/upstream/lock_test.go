package upstream

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/distro/version"
)

const (
	sumA = "h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE="
	sumB = "h1:PnxqnUFy93jr2GcpWDkKOm8wfy25kT9wa572MuQS8oc="
	sumC = "h1:QHFCxnRqLvpstdUE86BAUCPiJjOxxV3mBe6pb/fOeYQ="
)

// validLock is a small lock every bad-input case below is one edit away from.
const validLock = `# a header
revision: 2
modules:
  - path: k8s.io/kubernetes
    version: v1.37.2
    sum: ` + sumA + `
    role: kubernetes
  - path: k8s.io/api
    version: v0.37.2
    sum: ` + sumB + `
    role: staging
  - path: github.com/k3s-io/kine
    version: v0.17.5
    sum: ` + sumC + `
    role: linked
`

func TestCommittedLockRoundTrips(t *testing.T) {
	committed := filepath.Join("..", "..", "upstream.lock")
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := Load(committed)
	if err != nil {
		t.Fatalf("the committed lock does not load: %v", err)
	}
	out := filepath.Join(t.TempDir(), "upstream.lock")
	if err := lock.Write(out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Errorf("Load then Write changed the committed lock:\n%s", got)
	}
}

func TestHelpers(t *testing.T) {
	lock, err := Parse("upstream.lock", []byte(validLock))
	if err != nil {
		t.Fatal(err)
	}
	if k := lock.Kubernetes(); k.Path != "k8s.io/kubernetes" || k.Version != "v1.37.2" || k.Sum != sumA {
		t.Errorf("Kubernetes() = %+v", k)
	}
	if s := lock.ByRole(RoleStaging); len(s) != 1 || s[0].Path != "k8s.io/api" {
		t.Errorf("ByRole(staging) = %+v", s)
	}
	if p := lock.ByRole(RolePayload); len(p) != 0 {
		t.Errorf("ByRole(payload) = %+v, want none", p)
	}
	if m, ok := lock.Find("github.com/k3s-io/kine"); !ok || m.Version != "v0.17.5" {
		t.Errorf("Find(kine) = %+v, %v", m, ok)
	}
	if _, ok := lock.Find("example.com/absent"); ok {
		t.Error("Find found a module the lock does not hold")
	}
	if got, want := lock.ReleaseVersion(), "v1.37.2+"+version.Program+"2"; got != want {
		t.Errorf("ReleaseVersion() = %q, want %q", got, want)
	}
	if lock.Header != "# a header\n" {
		t.Errorf("Header = %q", lock.Header)
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string // one edit of validLock
		want     []string
	}{
		{"unknown top-level key", "revision: 2\n", "revision: 2\nrevisoin: 3\n", []string{`upstream.lock:3: unknown key "revisoin"`}},
		{"unknown module key", "    role: linked\n", "    role: linked\n    replace: x\n", []string{`upstream.lock:16: module github.com/k3s-io/kine: unknown key "replace"`}},
		{"missing module key", "    sum: " + sumB + "\n", "", []string{`upstream.lock:8: module k8s.io/api: missing key "sum"`}},
		{"missing revision", "revision: 2\n", "", []string{`upstream.lock:2: missing key "revision"`}},
		{"bad semver", "version: v0.17.5", "version: v0.17", []string{`upstream.lock:13: module github.com/k3s-io/kine: version "v0.17" is not a canonical semantic version`}},
		{"version against path major", "version: v0.17.5", "version: v2.0.0", []string{`upstream.lock:13: module github.com/k3s-io/kine: `, `invalid version`}},
		{"sum without h1", sumC, strings.TrimPrefix(sumC, "h1:"), []string{`upstream.lock:14: module github.com/k3s-io/kine: sum`, `does not start with "h1:"`}},
		{"sum not base64", sumC, "h1:not*base64", []string{`upstream.lock:14: module github.com/k3s-io/kine: sum "h1:not*base64" is not valid base64`}},
		{"sum too short", sumC, "h1:AAAA", []string{`module github.com/k3s-io/kine: sum "h1:AAAA" holds 3 bytes, a SHA-256 hash has 32`}},
		{"duplicate path", "path: github.com/k3s-io/kine", "path: k8s.io/api", []string{`upstream.lock:12: module k8s.io/api: listed twice (first as module #2)`}},
		{"unknown role", "role: linked", "role: vendored", []string{`upstream.lock:15: module github.com/k3s-io/kine: unknown role "vendored"`}},
		{"revision zero", "revision: 2", "revision: 0", []string{`upstream.lock:2: revision 0 is less than 1`}},
		{"revision not a number", "revision: 2", "revision: two", []string{`upstream.lock:2: revision "two" is not a whole number`}},
		{"no kubernetes module", "role: kubernetes", "role: linked", []string{`upstream.lock:3: 0 modules have role kubernetes`}},
		{"two kubernetes modules", "role: linked", "role: kubernetes", []string{`2 modules have role kubernetes (k8s.io/kubernetes, github.com/k3s-io/kine)`}},
		{"staging behind kubernetes", "version: v0.37.2", "version: v0.37.1", []string{`upstream.lock:9: module k8s.io/api: staging version v0.37.1 does not follow kubernetes v1.37.2 (want v0.37.2)`}},
		{"not yaml", "modules:\n", "modules: [\n", []string{`upstream.lock: yaml:`}},
		{"empty file", validLock, "# only a comment\n", []string{`upstream.lock: file is empty`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(validLock, tc.from, tc.to, 1)
			if data == validLock {
				t.Fatalf("the edit %q → %q changed nothing", tc.from, tc.to)
			}
			_, err := Parse("upstream.lock", []byte(data))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", data)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	data := strings.NewReplacer("revision: 2", "revision: 0", "role: linked", "role: bundled", sumB, "h1:AAAA").Replace(validLock)
	_, err := Parse("upstream.lock", []byte(data))
	if err == nil {
		t.Fatal("Parse accepted a lock with three problems")
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 3 {
		t.Errorf("want 3 problems, got %d:\n%v", n, err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my.lock")
	os.WriteFile(path, []byte(strings.Replace(validLock, "role: linked", "role: other", 1)), 0o644)
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":15: ") {
		t.Errorf("error does not start with the file and line: %v", err)
	}
}

func TestEmptySumLoadsAndWritesQuoted(t *testing.T) {
	data := strings.Replace(validLock, "sum: "+sumC, "sum:", 1)
	lock, err := Parse("upstream.lock", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := lock.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "    sum: \"\"\n    role: linked\n") {
		t.Errorf("empty sum not written as \"\":\n%s", out)
	}
	if again, err := Parse("again", out); err != nil || again.Modules[2].Sum != "" {
		t.Errorf("written lock does not load back: %v", err)
	}
}

func TestWriteRefusesAnInvalidLockAndKeepsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "upstream.lock")
	os.WriteFile(path, []byte(validLock), 0o644)
	lock, _ := Parse(path, []byte(validLock))
	lock.Modules[1].Version = "latest"
	err := lock.Write(path)
	if err == nil || !strings.Contains(err.Error(), `module k8s.io/api: version "latest"`) {
		t.Fatalf("Write: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != validLock {
		t.Error("a refused Write changed the file")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("a refused Write left files behind: %v", entries)
	}
}

func TestWriteWithoutHeaderUsesDefault(t *testing.T) {
	lock, _ := Parse("x", []byte(validLock))
	lock.Header = ""
	out, err := lock.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), DefaultHeader+"revision: 2\n") {
		t.Errorf("default header missing:\n%s", out)
	}
	lock.Header = "not a comment\n"
	if _, err := lock.Marshal(); err == nil {
		t.Error("Marshal accepted a header that is not a comment")
	}
}

// Test and image modules are built with their own go.mod (or not shipped at all): the lock
// takes them, and go.mod need not require them.
func TestRolesGoModNeedNotRequire(t *testing.T) {
	for _, tc := range []struct{ role, path, version string }{
		{RoleTest, "go.etcd.io/etcd/server/v3", "v3.7.3"},
		{RoleImage, "github.com/coredns/coredns", "v1.15.0"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			data := validLock + "  - path: " + tc.path + "\n    version: " + tc.version + "\n    sum: " + sumC + "\n    role: " + tc.role + "\n"
			lock, err := Parse("upstream.lock", []byte(data))
			if err != nil {
				t.Fatalf("a lock with a %s module does not load: %v", tc.role, err)
			}
			if m := lock.ByRole(tc.role); len(m) != 1 || m[0].Path != tc.path {
				t.Errorf("ByRole(%s) = %+v", tc.role, m)
			}
			goMod := filepath.Join(t.TempDir(), "go.mod")
			os.WriteFile(goMod, []byte("module example.com/distro\n\ngo 1.22\n\nrequire (\n\tk8s.io/kubernetes v1.37.2\n\tgithub.com/k3s-io/kine v0.17.5\n)\n\nreplace k8s.io/api => k8s.io/api v0.37.2\n"), 0o644)
			if err := CheckGoMod(lock, goMod); err != nil {
				t.Errorf("go.mod without the %s module was refused: %v", tc.role, err)
			}
			out := filepath.Join(t.TempDir(), "upstream.lock")
			if err := lock.Write(out); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(out); !strings.Contains(string(got), "    role: "+tc.role+"\n") || !strings.Contains(DefaultHeader, "#       "+tc.role+" ") {
				t.Errorf("written lock or default header lacks the %s role:\n%s", tc.role, got)
			}
		})
	}
}
