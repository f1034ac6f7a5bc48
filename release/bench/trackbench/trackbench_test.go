package trackbench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/bench/trackbench"
	"github.com/distro-io/distro/release/track"
	"github.com/distro-io/distro/release/upstream"
	"github.com/distro-io/distro/release/upstream/upstreamtest"
)

const serverGo = "// Package server is a made-up part of Kubernetes.\npackage server\n\n// Name names the component.\nfunc Name() string { return \"kube-apiserver\" }\n"

// locked serves the release the repository locks: Kubernetes v1.37.2 and two staging
// modules, client-go requiring api as the real ones do.
func locked(t *testing.T) *upstreamtest.Proxy {
	return upstreamtest.NewProxy(t,
		upstreamtest.Mod{Path: "k8s.io/kubernetes", Version: "v1.37.2", Files: map[string]string{
			"go.mod": "module k8s.io/kubernetes\n\ngo 1.22\n", "pkg/server/server.go": serverGo,
		}},
		upstreamtest.Mod{Path: "k8s.io/api", Version: "v0.37.2", Files: map[string]string{
			"go.mod": "module k8s.io/api\n\ngo 1.22\n", "core/core.go": "package core\n\nconst Kind = \"Pod\"\n",
		}},
		upstreamtest.Mod{Path: "k8s.io/client-go", Version: "v0.37.2", Files: map[string]string{
			"go.mod": "module k8s.io/client-go\n\ngo 1.22\n\nrequire k8s.io/api v0.37.2\n", "rest/rest.go": "package rest\n",
		}},
	)
}

func lock(p *upstreamtest.Proxy) *upstream.Lock {
	l := &upstream.Lock{Revision: 2}
	for _, m := range [][3]string{
		{"k8s.io/kubernetes", "v1.37.2", upstream.RoleKubernetes},
		{"k8s.io/api", "v0.37.2", upstream.RoleStaging},
		{"k8s.io/client-go", "v0.37.2", upstream.RoleStaging},
	} {
		l.Modules = append(l.Modules, upstream.Module{Path: m[0], Version: m[1], Sum: p.Sum(m[0], m[1]), Role: m[2]})
	}
	return l
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "GOWORK=off", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=A Person", "GIT_AUTHOR_EMAIL=person@example.com", "GIT_COMMITTER_NAME=A Person", "GIT_COMMITTER_EMAIL=person@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMadeUpReleaseIsTheLockedOneReversioned(t *testing.T) {
	p := locked(t)
	moved := trackbench.Moved(lock(p), "v1.37.3")
	if moved["k8s.io/kubernetes"] != [2]string{"v1.37.2", "v1.37.3"} || moved["k8s.io/api"] != [2]string{"v0.37.2", "v0.37.3"} || len(moved) != 3 {
		t.Fatalf("moved = %v", moved)
	}
	madeUp := filepath.Join(t.TempDir(), "proxy")
	if err := trackbench.MakeProxy(madeUp, moved, trackbench.GoZip(context.Background(), p.Env())); err != nil {
		t.Fatal(err)
	}
	env := append(p.Env(), "GOPROXY=file://"+madeUp, "GOMODCACHE="+filepath.Join(t.TempDir(), "modcache"))
	var got struct{ Dir, GoMod, Sum string }
	if err := json.Unmarshal([]byte(run(t, os.TempDir(), env, "go", "mod", "download", "-json", "k8s.io/client-go@v0.37.3")), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got.Dir, "client-go@v0.37.3") || got.Sum == p.Sum("k8s.io/client-go", "v0.37.2") {
		t.Errorf("download: %+v", got)
	}
	for _, f := range []string{filepath.Join(got.Dir, "go.mod"), got.GoMod} {
		if data, _ := os.ReadFile(f); !strings.Contains(string(data), "require k8s.io/api v0.37.3") {
			t.Errorf("%s:\n%s", f, data)
		}
	}
	if err := json.Unmarshal([]byte(run(t, os.TempDir(), env, "go", "mod", "download", "-json", "k8s.io/kubernetes@v1.37.3")), &got); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(got.Dir, "pkg/server/server.go")); string(data) != serverGo {
		t.Errorf("content changed:\n%s", data)
	}
	if versions := run(t, os.TempDir(), env, "go", "list", "-m", "-versions", "k8s.io/kubernetes"); strings.TrimSpace(versions) != "k8s.io/kubernetes v1.37.2 v1.37.3" {
		t.Errorf("versions: %s", versions)
	}
}

// The whole benchmark on a small distro-shaped repository, with small real steps: two
// runs, each bumping to a new made-up release and opening one pull request.
func TestRunReportsDetectionToPullRequest(t *testing.T) {
	p := locked(t)
	repo := t.TempDir()
	write(t, filepath.Join(repo, "go.mod"), "module example.com/distro\n\ngo 1.22\n\nrequire k8s.io/kubernetes v1.37.2\n\n"+
		"replace (\n\tk8s.io/api => k8s.io/api v0.37.2\n\tk8s.io/client-go => k8s.io/client-go v0.37.2\n)\n")
	write(t, filepath.Join(repo, "main.go"), "package main\n\nimport \"k8s.io/kubernetes/pkg/server\"\n\nfunc main() { println(server.Name()) }\n")
	write(t, filepath.Join(repo, ".gitignore"), "/build/\n")
	if err := lock(p).Write(filepath.Join(repo, "upstream.lock")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(repo, "patches/k8s.io/kubernetes/0001-server-name-the-component-after-distro.patch"), patch(t))
	run(t, repo, p.Env(), "go", "mod", "tidy")
	run(t, repo, nil, "git", "init", "--quiet", "-b", "main")
	run(t, repo, nil, "git", "add", ".")
	run(t, repo, nil, "git", "commit", "--quiet", "-m", "distro")
	// Uncommitted changes are not what the tracker sees.
	write(t, filepath.Join(repo, "main.go"), "does not compile")

	// An earlier invocation served v1.37.3 (and a release of another minor): its packages
	// are in the build cache, so the runs start above it.
	served := filepath.Join(t.TempDir(), "bench-track", "served")
	write(t, served, "v1.37.3\nv1.36.9\n")

	var out, log bytes.Buffer
	results, err := trackbench.Run(context.Background(), trackbench.Options{
		RepoDir: repo, Runs: 2, Scratch: t.TempDir(), GoEnv: p.Env(), Fallback: "file://" + p.Dir,
		Steps: []track.Step{
			{Name: "build", Command: []string{"go", "build", "-o", os.DevNull, "."}, Target: "build"},
			{Name: "unit tests", Command: []string{"go", "vet", "."}, Target: "test"},
			{Name: "conformance:quick", Command: []string{"false"}, Target: "conformance:quick"},
		},
		ListTargets: []string{"sh", "-c", "printf 'Targets:\\n  build  b\\n  test  t\\n'"},
		Log:         &log,
		Served:      served,
	}, &out)
	t.Logf("report:\n%s", out.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(results) != 2 || results[0].To != "v1.37.4" || results[1].To != "v1.37.5" {
		t.Fatalf("results %+v", results)
	}
	if data, _ := os.ReadFile(served); string(data) != "v1.37.3\nv1.36.9\nv1.37.4\nv1.37.5\n" {
		t.Errorf("served after the runs:\n%s", data)
	}
	for _, r := range results {
		if r.Update.Action != track.Opened || r.Update.NeedsHuman || r.Update.Elapsed <= 0 {
			t.Errorf("update %+v", r.Update)
		}
	}
	for _, want := range []string{
		"bench:track — ", "2 run(s), medians with min–max",
		"bumps", "v1.37.2 → v1.37.4, v1.37.2 → v1.37.5",
		"outcome", "opened; opened",
		"detection → pull request opened", "n=2)",
		"build ", "unit tests", "conformance:quick", "patches  ", "skipped: not available (no mage target conformance:quick)",
		"note: a run starts with the work clone and detection",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// patch renames the made-up apiserver, as a git format-patch.
func patch(t *testing.T) string {
	dir := t.TempDir()
	run(t, dir, nil, "git", "init", "--quiet")
	write(t, filepath.Join(dir, "pkg/server/server.go"), serverGo)
	run(t, dir, nil, "git", "add", ".")
	run(t, dir, nil, "git", "commit", "--quiet", "-m", "upstream")
	write(t, filepath.Join(dir, "pkg/server/server.go"), strings.Replace(serverGo, "kube-apiserver", "distro-apiserver", 1))
	run(t, dir, nil, "git", "commit", "--quiet", "-am", "server: name the component after distro\n\nWhy: the test says so.")
	return run(t, dir, nil, "git", "format-patch", "-1", "--stdout")
}

func TestABadServedListStopsTheBenchmark(t *testing.T) {
	served := filepath.Join(t.TempDir(), "served")
	write(t, served, "v1.37.3\nlatest\n")
	repo := t.TempDir()
	p := locked(t)
	if err := lock(p).Write(filepath.Join(repo, "upstream.lock")); err != nil {
		t.Fatal(err)
	}
	run(t, repo, nil, "git", "init", "--quiet", "-b", "main")
	run(t, repo, nil, "git", "add", ".")
	run(t, repo, nil, "git", "commit", "--quiet", "-m", "distro")
	_, err := trackbench.Run(context.Background(), trackbench.Options{RepoDir: repo, Runs: 1, Scratch: t.TempDir(), GoEnv: p.Env(), Served: served}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), served+`:2: "latest" is not a vX.Y.Z version`) {
		t.Fatalf("err = %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	err := trackbench.Options{}.Validate()
	for _, s := range []string{"repository", "runs 0", "scratch"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v lacks %q", err, s)
		}
	}
}
