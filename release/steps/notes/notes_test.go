package notes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
)

func TestUpstreamChangelog(t *testing.T) {
	if got := UpstreamChangelog("v1.37.2"); got != "https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-1.37.md#v1372" {
		t.Errorf("got %s", got)
	}
	if got := UpstreamChangelog("v1.40.12"); got != "https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-1.40.md#v14012" {
		t.Errorf("got %s", got)
	}
}

func TestPrevious(t *testing.T) {
	tags := []string{"v1.36.9+distro1", "v1.37.1+distro1", "v1.37.1+distro2", "v1.37.2-rc1+distro1", "v1.37.2-rc2+distro1", "not-ours", "v1.37.2+distro1"}
	for v, want := range map[string]string{
		"v1.37.2+distro1":     "v1.37.1+distro2", // a release follows the last release, not its candidates
		"v1.37.2+distro2":     "v1.37.2+distro1",
		"v1.37.2-rc3+distro1": "v1.37.2-rc2+distro1",
		"v1.37.2-rc1+distro1": "v1.37.1+distro2",
		"v1.36.9+distro1":     "",
	} {
		got, err := Previous(pipelinetest.Version(t, v), tags)
		if err != nil || got != want {
			t.Errorf("Previous(%s) = %q, %v; want %q", v, got, err, want)
		}
	}
	if _, err := Previous(pipelinetest.Version(t, "v1.37.2+distro1"), []string{"v1.37.1+distroX"}); err == nil {
		t.Error("a malformed tag of ours was ignored")
	}
}

// modCache makes a module cache holding go-sqlite3's header.
func modCache(t *testing.T, release string) string {
	dir := t.TempDir()
	h := filepath.Join(dir, "github.com", "mattn", "go-sqlite3@v1.14.52", "sqlite3-binding.h")
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h, []byte("/* header */\n#define SQLITE_VERSION        \""+release+"\"\n#define SQLITE_VERSION_NUMBER 3053004\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNotesSincePreviousRelease(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	repo.Tag("v1.37.2+distro1")
	repo.Commit("agent: wait for containerd before starting the kubelet")
	repo.Git("checkout", "-q", "-b", "side")
	repo.Commit("images: import airgap archives at agent start")
	repo.Git("checkout", "-q", "main")
	repo.Git("merge", "-q", "--no-ff", "-m", "Merge branch side", "side")
	repo.Write("upstream.lock", strings.Replace(pipelinetest.LockText, "revision: 1", "revision: 2", 1)+
		"  - path: github.com/coredns/coredns\n    version: v1.12.4\n    sum: h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE=\n    role: linked\n")
	repo.Commit("upstream.lock: revision 2, CoreDNS")
	results := filepath.Join("conformance", "results", "v1.37.2+distro2")
	repo.Write(filepath.Join(results, "PRODUCT.yaml"), "vendor: distro-io\nname: distro\nversion: v1.37.2+distro2\ntype: distribution\n")
	repo.Write(filepath.Join(results, "junit_01.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="Kubernetes e2e suite" tests="4">
  <testcase name="[sig-api-machinery] one [Conformance]"></testcase>
  <testcase name="[sig-node] two [Conformance]"><system-out>ok</system-out></testcase>
  <testcase name="[sig-storage] three"><skipped message="skipped"></skipped></testcase>
  <testcase name="[sig-network] four [Conformance]"></testcase>
</testsuite></testsuites>`)
	repo.Commit("conformance results")

	c := repo.Context()
	c.Version = pipelinetest.Version(t, "v1.37.2+distro2")
	c.Commit = repo.Git("rev-parse", "HEAD")
	res, err := Step{ModCache: modCache(t, "3.53.4")}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := res.(pipeline.Done); !ok || !strings.Contains(d.Detail, "4 commits since v1.37.2+distro1") || !strings.Contains(d.Detail, "3 passed") {
		t.Errorf("result %#v", res)
	}
	written, err := os.ReadFile(filepath.Join(c.DistDir, File))
	if err != nil || string(written) != c.Notes {
		t.Fatalf("dist/%s differs from the notes: %v", File, err)
	}
	for _, want := range []string{
		"[v1.37.2](https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-1.37.md#v1372)",
		"## Changes since v1.37.2+distro1\n",
		"### Added\n- Airgap images imported at agent start.\n", // CHANGELOG's Unreleased section
		"- agent: wait for containerd before starting the kubelet\n",
		"- images: import airgap archives at agent start\n",
		"## Embedded component versions\n\n| Component | Version | Source |\n| --- | --- | --- |\n" +
			"| Kubernetes | v1.37.2 | `k8s.io/kubernetes` (kubernetes) |\n" +
			"| kine | v0.17.5 | `github.com/k3s-io/kine` (linked) |\n" +
			"| SQLite | 3.53.4 | `github.com/mattn/go-sqlite3` v1.14.52 (go.mod) |\n" +
			"| containerd | v2.4.2 | `github.com/containerd/containerd/v2` (linked) |\n" +
			"| runc | v1.5.3 | `github.com/opencontainers/runc` (payload) |\n" +
			"| CNI plugins | v1.10.0 | `github.com/containernetworking/plugins` (payload) |\n" +
			"| CoreDNS | v1.12.4 | `github.com/coredns/coredns` (linked) |\n" +
			"| Kubernetes staging modules | v0.37.2 | 1 `k8s.io/*` modules (staging) |\n",
		"passed for distro v1.37.2+distro2: 3 passed, 0 failed, 1 skipped",
	} {
		if !strings.Contains(c.Notes, want) {
			t.Errorf("notes lack %q:\n%s", want, c.Notes)
		}
	}
	for _, unwanted := range []string{"Module skeleton", "Merge branch side"} {
		if strings.Contains(c.Notes, unwanted) {
			t.Errorf("notes include %q (before the previous release, or a merge)", unwanted)
		}
	}
}

func TestNotesFirstReleaseWithoutConformanceOrSQLiteCache(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	c := repo.Context()
	c.Version = pipelinetest.Version(t, "v1.37.2-rc1+distro1")
	res, err := Step{ModCache: t.TempDir()}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"This is the first release.", "- Module skeleton\n", "release candidate 1, published as a pre-release",
		"| SQLite | bundled | `github.com/mattn/go-sqlite3` v1.14.52 (go.mod) |",
		"No conformance results for this version yet.",
	} {
		if !strings.Contains(c.Notes, want) {
			t.Errorf("notes lack %q:\n%s", want, c.Notes)
		}
	}
	if d := res.(pipeline.Done); !strings.Contains(d.Detail, "no conformance results") {
		t.Errorf("detail %q", d.Detail)
	}
}

func TestConformanceErrors(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"no junit":      {"PRODUCT.yaml": "name: distro\nversion: v1\n"},
		"no product":    {"junit_01.xml": "<testsuite><testcase/></testsuite>"},
		"bad xml":       {"PRODUCT.yaml": "name: distro\nversion: v1\n", "junit_01.xml": "<testsuite><testcase>"},
		"no cases":      {"PRODUCT.yaml": "name: distro\nversion: v1\n", "junit_01.xml": "<testsuite></testsuite>"},
		"product blank": {"PRODUCT.yaml": "vendor: x\n", "junit_01.xml": "<testsuite><testcase/></testsuite>"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, content := range files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c, err := ReadConformance(dir); err == nil {
				t.Fatalf("accepted: %+v", c)
			}
		})
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "PRODUCT.yaml"), []byte("name: distro\nversion: v1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "junit_01.xml"), []byte(`<testsuite><testcase><failure message="x">boom</failure></testcase><testcase><error/></testcase><testcase/></testsuite>`), 0o644)
	c, err := ReadConformance(dir)
	if err != nil || c.Passed != 1 || c.Failed != 2 || !strings.Contains(c.Markdown(), "FAILED") {
		t.Fatalf("bare testsuite with failures: %+v, %v", c, err)
	}
}
