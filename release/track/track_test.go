package track_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/track"
	"github.com/distro-io/distro/release/track/detect"
	"github.com/distro-io/distro/release/upstream"
	"github.com/distro-io/distro/release/upstream/upstreamtest"
)

const token = "track-test-token"

// Made-up upstream sources. The kubernetes module's patch changes Name; the api module's
// patch adds a line after Kind. Lines far from both change with every release, so the
// patches apply to v1.37.3 unless a test changes the lines they touch.
func kubernetesServer(release string) string {
	return "// Package server is a made-up part of Kubernetes.\npackage server\n\nimport \"k8s.io/api/core\"\n\n" +
		"// Name names the component.\nfunc Name() string { return \"kube-apiserver\" }\n\n" +
		"// Kind is the kind it serves.\nfunc Kind() string { return core.Kind }\n\n" +
		strings.Repeat("// filler\n", 8) + "\n// Release is the upstream release.\nconst Release = \"" + release + "\"\n"
}

func apiCore(kind, release string) string {
	return "// Package core is a made-up API group.\npackage core\n\n// Kind is the one kind.\nconst Kind = \"" + kind + "\"\n\n" +
		strings.Repeat("// filler\n", 8) + "\n// Release is the upstream release.\nconst Release = \"" + release + "\"\n"
}

const kubernetesGoMod = "module k8s.io/kubernetes\n\ngo 1.22\n\nrequire k8s.io/api v0.0.0\n"

// upstreamModules serves v1.37.2 and v1.37.3 of kubernetes and two staging modules;
// api373Kind is the Kind v0.37.3 of k8s.io/api has ("Pod" keeps the patch applying).
func upstreamModules(t *testing.T, api373Kind string) *upstreamtest.Proxy {
	var mods []upstreamtest.Mod
	for _, patch := range []string{"2", "3"} {
		kind := "Pod"
		if patch == "3" {
			kind = api373Kind
		}
		mods = append(mods,
			upstreamtest.Mod{Path: "k8s.io/kubernetes", Version: "v1.37." + patch, Files: map[string]string{
				"go.mod": kubernetesGoMod, "pkg/server/server.go": kubernetesServer("v1.37." + patch),
			}},
			upstreamtest.Mod{Path: "k8s.io/api", Version: "v0.37." + patch, Files: map[string]string{
				"core/core.go": apiCore(kind, "v0.37."+patch),
			}},
			upstreamtest.Mod{Path: "k8s.io/client-go", Version: "v0.37." + patch},
		)
	}
	// A linked module go.mod requires ahead of any code importing it.
	mods = append(mods, upstreamtest.Mod{Path: "example.com/vxlan", Version: "v0.1.0"})
	return upstreamtest.NewProxy(t, mods...)
}

// makePatch returns a git format-patch of one file changing from before to after.
func makePatch(t *testing.T, file, before, after, subject string) string {
	dir := t.TempDir()
	gitIn(t, dir, "init", "--quiet")
	write(t, filepath.Join(dir, file), before)
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "--quiet", "-m", "upstream")
	write(t, filepath.Join(dir, file), after)
	gitIn(t, dir, "commit", "--quiet", "-am", subject+"\n\nWhy: the test says so.")
	return gitIn(t, dir, "format-patch", "-1", "--stdout")
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=A Person", "GIT_AUTHOR_EMAIL=person@example.com",
		"GIT_COMMITTER_NAME=A Person", "GIT_COMMITTER_EMAIL=person@example.com")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
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

const (
	kubernetesPatch = "patches/k8s.io/kubernetes/0001-server-name-the-component-after-distro.patch"
	apiPatch        = "patches/k8s.io/api/0001-core-mark-the-group-patched.patch"
)

// world is one test's upstream, repository, bare remote and GitHub.
type world struct {
	proxy  *upstreamtest.Proxy
	remote string
	fake   *githubfake.Server
	pulls  *github.Client
	rels   *detect.GitHubReleases
}

// newWorld makes a distro-shaped repository locked to v1.37.2 with patches for two
// modules, pushes it to a bare remote, and serves both releases on GitHub.
func newWorld(t *testing.T, api373Kind string) *world {
	w := &world{proxy: upstreamModules(t, api373Kind)}
	seed := t.TempDir()
	write(t, filepath.Join(seed, "go.mod"), "module example.com/distro\n\ngo 1.22\n\nrequire k8s.io/kubernetes v1.37.2\n\n"+
		"replace (\n\tk8s.io/api => k8s.io/api v0.37.2\n\tk8s.io/client-go => k8s.io/client-go v0.37.2\n)\n")
	write(t, filepath.Join(seed, "main.go"), "package main\n\nimport (\n\t\"fmt\"\n\n\t\"k8s.io/kubernetes/pkg/server\"\n)\n\nfunc main() { fmt.Println(server.Name(), server.Kind()) }\n")
	write(t, filepath.Join(seed, ".gitignore"), "/build/\n")
	write(t, filepath.Join(seed, "CHANGELOG.md"), "# Changelog\n\n## [Unreleased]\n\n## [v1.37.2+distro1] - 2026-11-01\n\n- First release.\n")
	lock := &upstream.Lock{Revision: 3}
	for _, m := range [][3]string{
		{"k8s.io/kubernetes", "v1.37.2", upstream.RoleKubernetes},
		{"k8s.io/api", "v0.37.2", upstream.RoleStaging},
		{"k8s.io/client-go", "v0.37.2", upstream.RoleStaging},
		{"example.com/vxlan", "v0.1.0", upstream.RoleLinked},
	} {
		lock.Modules = append(lock.Modules, upstream.Module{Path: m[0], Version: m[1], Sum: w.proxy.Sum(m[0], m[1]), Role: m[2]})
	}
	if err := lock.Write(filepath.Join(seed, "upstream.lock")); err != nil {
		t.Fatal(err)
	}
	server := kubernetesServer("v1.37.2")
	write(t, filepath.Join(seed, kubernetesPatch), makePatch(t, "pkg/server/server.go", server,
		strings.Replace(server, `"kube-apiserver"`, `"distro-apiserver"`, 1), "server: name the component after distro"))
	core := apiCore("Pod", "v0.37.2")
	write(t, filepath.Join(seed, apiPatch), makePatch(t, "core/core.go", core,
		strings.Replace(core, "const Kind = \"Pod\"\n", "const Kind = \"Pod\"\n\n// Patched says distro changed this group.\nconst Patched = true\n", 1), "core: mark the group patched"))
	goCmd(t, w.proxy, seed, "mod", "tidy")
	goCmd(t, w.proxy, seed, "get", "example.com/vxlan@v0.1.0") // required, not yet imported: tidy would drop it
	gitIn(t, seed, "init", "--quiet", "-b", "main")
	gitIn(t, seed, "add", ".")
	gitIn(t, seed, "commit", "--quiet", "-m", "distro on Kubernetes v1.37.2")
	w.remote = filepath.Join(t.TempDir(), "distro.git")
	gitIn(t, seed, "init", "--quiet", "--bare", "-b", "main", w.remote)
	gitIn(t, seed, "push", "--quiet", w.remote, "main")

	w.fake = githubfake.New(t, token)
	w.fake.AddRepo("distro-io", "distro")
	w.fake.AddRepo("kubernetes", "kubernetes")
	admin, err := gh.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(w.fake.APIURL(), w.fake.UploadURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1.37.2", "v1.37.3"} {
		if _, _, err := admin.Repositories.CreateRelease(context.Background(), "kubernetes", "kubernetes", &gh.RepositoryRelease{TagName: gh.Ptr(tag)}); err != nil {
			t.Fatal(err)
		}
	}
	if w.pulls, err = github.NewClient(github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: w.fake.APIURL(), UploadURL: w.fake.UploadURL()}); err != nil {
		t.Fatal(err)
	}
	if w.rels, err = detect.NewGitHubReleases(detect.GitHubOptions{Token: token, APIURL: w.fake.APIURL(), UploadURL: w.fake.UploadURL()}); err != nil {
		t.Fatal(err)
	}
	return w
}

func goCmd(t *testing.T, p *upstreamtest.Proxy, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), p.Env()...), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// steps are small real commands: the build really builds the moved module, the unit tests
// say they passed, and quick conformance is missing from the listed targets.
func steps(unitTests string) []track.Step {
	return []track.Step{
		{Name: "build", Command: []string{"go", "build", "-o", os.DevNull, "."}, Target: "build"},
		{Name: "unit tests", Command: []string{"sh", "-c", unitTests}, Target: "test"},
		{Name: "conformance:quick", Command: []string{"sh", "-c", "echo must not run; exit 1"}, Target: "conformance:quick"},
	}
}

var listTargets = []string{"sh", "-c", "printf 'Targets:\\n  build    builds\\n  test     tests\\n'"}

func (w *world) options(t *testing.T, log *bytes.Buffer) track.Options {
	return track.Options{
		Remote:       w.remote,
		GoEnv:        w.proxy.Env(),
		Releases:     w.rels,
		PullRequests: w.pulls,
		Steps:        steps("echo 'ok  example.com/distro 0.01s'"),
		ListTargets:  listTargets,
		Out:          log,
	}
}

func (w *world) run(t *testing.T, o track.Options) track.Report {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	rep, err := track.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, o.Out)
	}
	if len(rep.Updates) != 1 {
		t.Fatalf("%d updates, want 1", len(rep.Updates))
	}
	return rep
}

func (w *world) head(t *testing.T, branch string) string {
	out := gitIn(t, w.remote, "for-each-ref", "--format=%(objectname)", "refs/heads/"+branch)
	return strings.TrimSpace(out)
}

func (w *world) onePull(t *testing.T) githubfake.PullRequest {
	t.Helper()
	prs := w.fake.PullRequests("distro-io", "distro")
	if len(prs) != 1 {
		t.Fatalf("%d pull requests, want exactly 1: %+v", len(prs), prs)
	}
	return prs[0]
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

const branch = "upstream/v1.37.3"

func TestCleanBumpOpensOnePullRequestAndRerunsKeepIt(t *testing.T) {
	w := newWorld(t, "Pod")
	var log bytes.Buffer
	o := w.options(t, &log)

	start := time.Now()
	rep := w.run(t, o)
	u := rep.Updates[0]
	t.Logf("detection → pull request opened: %s (whole run %s)", u.Elapsed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if u.Action != track.Opened || !u.Pushed || u.NeedsHuman || u.From != "v1.37.2" || u.To != "v1.37.3" {
		t.Fatalf("update = %+v\n%s", u, log.String())
	}
	pr := w.onePull(t)
	if pr.Head != "distro-io:"+branch || pr.Base != "main" || pr.State != "open" || len(pr.Labels) != 0 || pr.Number != u.PullRequest {
		t.Errorf("pull request = %+v", pr)
	}
	mustContain(t, "title", pr.Title, "Kubernetes v1.37.3", "v1.37.3+distro1")
	mustContain(t, "body", pr.Body,
		"### Changed\n\n- Kubernetes v1.37.3 (was v1.37.2) with its 2 staging modules; released as v1.37.3+distro1.",
		"https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-1.37.md#v1373",
		"| upstream.lock | passed |", "| go.mod and go.sum | passed |", "| patches | passed |",
		"| build | passed |", "| unit tests | passed |",
		"| conformance:quick | skipped: not available (no mage target conformance:quick) |",
		"ok  example.com/distro 0.01s",
		"k8s.io/kubernetes@v1.37.3: 1 patches applied", "k8s.io/api@v0.37.3: 1 patches applied",
		"-    version: v1.37.2\n-    sum: "+w.proxy.Sum("k8s.io/kubernetes", "v1.37.2")+"\n+    version: v1.37.3\n+    sum: "+w.proxy.Sum("k8s.io/kubernetes", "v1.37.3"),
		"-revision: 3\n+revision: 1",
	)
	if strings.Contains(pr.Body, "must not run") {
		t.Error("a step whose mage target is missing ran")
	}

	// The branch: one commit on main changing the lock, go.mod, go.sum and the changelog.
	changed := gitIn(t, w.remote, "diff", "--name-only", "main", branch)
	if changed != "CHANGELOG.md\ngo.mod\ngo.sum\nupstream.lock\n" {
		t.Errorf("branch changes:\n%s", changed)
	}
	if parent := strings.TrimSpace(gitIn(t, w.remote, "rev-parse", branch+"^")); parent != w.head(t, "main") {
		t.Errorf("branch starts at %s, not main", parent)
	}
	lock, err := upstream.Parse("branch lock", []byte(gitIn(t, w.remote, "show", branch+":upstream.lock")))
	if err != nil {
		t.Fatal(err)
	}
	if lock.Revision != 1 {
		t.Errorf("revision %d, want 1", lock.Revision)
	}
	for _, m := range lock.Modules {
		want := map[string]string{"k8s.io/kubernetes": "v1.37.3", "k8s.io/api": "v0.37.3", "k8s.io/client-go": "v0.37.3", "example.com/vxlan": "v0.1.0"}[m.Path]
		if m.Version != want || m.Sum != w.proxy.Sum(m.Path, m.Version) {
			t.Errorf("branch locks %s %s, want %s %s", m, m.Sum, want, w.proxy.Sum(m.Path, want))
		}
	}
	goMod := filepath.Join(t.TempDir(), "go.mod")
	write(t, goMod, gitIn(t, w.remote, "show", branch+":go.mod"))
	if err := upstream.CheckGoMod(lock, goMod); err != nil {
		t.Errorf("branch go.mod does not follow its lock: %v", err)
	}
	mustContain(t, "go.sum", gitIn(t, w.remote, "show", branch+":go.sum"), "k8s.io/kubernetes v1.37.3 h1:", "k8s.io/api v0.37.3 h1:")
	mustContain(t, "CHANGELOG.md", gitIn(t, w.remote, "show", branch+":CHANGELOG.md"), "# Changelog\n\n## [Unreleased]\n\n### Changed\n\n- Kubernetes v1.37.3 (was v1.37.2)")
	mustContain(t, "commit", gitIn(t, w.remote, "log", "-1", "--format=%an <%ae>%n%B", branch), "distro-track <", "upstream: Kubernetes v1.37.3\n")

	// Second run, nothing changed: no push, no second pull request, no steps run.
	pushed := w.head(t, branch)
	log.Reset()
	if u := w.run(t, o).Updates[0]; u.Action != track.Current || u.Pushed || u.PullRequest != pr.Number || len(u.Steps) != 0 {
		t.Errorf("second run: %+v\n%s", u, log.String())
	}
	if w.head(t, branch) != pushed || w.onePull(t).Body != pr.Body {
		t.Error("second run changed the branch or the body")
	}

	// main moves on: the branch is rebuilt on it and force-pushed, the same pull request
	// refreshed.
	seed := t.TempDir()
	gitIn(t, seed, "clone", "--quiet", w.remote, ".")
	write(t, filepath.Join(seed, "README.md"), "distro\n")
	gitIn(t, seed, "add", "README.md")
	gitIn(t, seed, "commit", "--quiet", "-m", "readme")
	gitIn(t, seed, "push", "--quiet", "origin", "main")
	log.Reset()
	if u := w.run(t, o).Updates[0]; u.Action != track.Updated || !u.Pushed || u.PullRequest != pr.Number {
		t.Errorf("run after main moved: %+v\n%s", u, log.String())
	}
	if parent := strings.TrimSpace(gitIn(t, w.remote, "rev-parse", branch+"^")); parent != w.head(t, "main") {
		t.Errorf("branch was not rebuilt on the new main")
	}
	if refreshed := w.onePull(t); refreshed.Body == pr.Body || !strings.Contains(refreshed.Body, "| build | passed |") {
		t.Errorf("body not refreshed:\n%s", refreshed.Body)
	}

	// Rerun asks for the steps again on unchanged content: the body is refreshed, the branch
	// is not pushed.
	pushed = w.head(t, branch)
	o.Rerun = true
	if u := w.run(t, o).Updates[0]; u.Action != track.Updated || u.Pushed || len(u.Steps) == 0 {
		t.Errorf("rerun: %+v", u)
	}
	if w.head(t, branch) != pushed {
		t.Error("rerun pushed unchanged content")
	}
	w.onePull(t)
}

func TestPatchThatNoLongerAppliesOpensAPullRequestForAPerson(t *testing.T) {
	w := newWorld(t, "PodV2") // v0.37.3 of k8s.io/api changed the line the patch follows
	var log bytes.Buffer
	u := w.run(t, w.options(t, &log)).Updates[0]
	if u.Action != track.Opened || !u.Pushed || !u.NeedsHuman {
		t.Fatalf("update = %+v\n%s", u, log.String())
	}
	pr := w.onePull(t)
	if len(pr.Labels) != 1 || pr.Labels[0] != track.NeedsHuman {
		t.Errorf("labels = %q, want [%s]", pr.Labels, track.NeedsHuman)
	}
	mustContain(t, "body", pr.Body,
		"**Needs a person**",
		"### Patch that no longer applies",
		"- patch: `"+apiPatch+"`",
		"- file: `core/core.go`",
		"- hunk: #1 `@@ -",
		"| patches | failed |",
		"| build | skipped: patches do not apply |",
		"| unit tests | skipped: patches do not apply |",
		"+    version: v1.37.3",
	)
	// The lock still moved, so a person starts from the bumped branch.
	mustContain(t, "branch lock", gitIn(t, w.remote, "show", branch+":upstream.lock"), "version: v0.37.3")

	// A person fixes the branch; the tracker leaves it alone from then on.
	work := t.TempDir()
	gitIn(t, work, "clone", "--quiet", "--branch", branch, w.remote, ".")
	write(t, filepath.Join(work, "NOTES"), "refreshing the api patch\n")
	gitIn(t, work, "add", "NOTES")
	gitIn(t, work, "commit", "--quiet", "-m", "wip")
	gitIn(t, work, "push", "--quiet", "origin", branch)
	fixed := w.head(t, branch)
	if u := w.run(t, w.options(t, &log)).Updates[0]; u.Action != track.Handsoff || u.Pushed {
		t.Errorf("run after a person pushed: %+v", u)
	}
	if w.head(t, branch) != fixed || w.onePull(t).Body != pr.Body {
		t.Error("the tracker overwrote a person's branch or pull request")
	}
}

func TestFailingStepAsksForAPerson(t *testing.T) {
	w := newWorld(t, "Pod")
	var log bytes.Buffer
	o := w.options(t, &log)
	o.Steps = steps("echo '--- FAIL: TestServer (0.00s)'; echo FAIL; exit 1")
	u := w.run(t, o).Updates[0]
	if u.Action != track.Opened || !u.NeedsHuman {
		t.Fatalf("update = %+v", u)
	}
	pr := w.onePull(t)
	if len(pr.Labels) != 1 || pr.Labels[0] != track.NeedsHuman {
		t.Errorf("labels = %q", pr.Labels)
	}
	mustContain(t, "body", pr.Body, "| build | passed |", "| unit tests | failed |", "--- FAIL: TestServer (0.00s)\nFAIL", "- unit tests failed")
}

func TestDryRunPushesNothingAndOpensNothing(t *testing.T) {
	w := newWorld(t, "Pod")
	var log bytes.Buffer
	o := w.options(t, &log)
	o.DryRun = true
	o.Minors = []string{"1.36", "1.37"}
	rep, err := track.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Updates) != 2 || rep.Updates[0].Action != track.NoBranch || rep.Updates[1].Action != track.WouldAct {
		t.Fatalf("updates = %+v", rep.Updates)
	}
	mustContain(t, "plan", rep.Updates[1].Plan, "would move main from v1.37.2 to v1.37.3 on branch upstream/v1.37.3", "push it", "open a pull request")
	mustContain(t, "log", log.String(), "1.36: no branch release-1.36 to update")
	if heads := gitIn(t, w.remote, "for-each-ref", "--format=%(refname)", "refs/heads/"); heads != "refs/heads/main\n" {
		t.Errorf("remote branches after a dry run:\n%s", heads)
	}
	if prs := w.fake.PullRequests("distro-io", "distro"); len(prs) != 0 {
		t.Errorf("pull requests after a dry run: %+v", prs)
	}
	for _, r := range w.fake.Requests() {
		if r.Method != "GET" && strings.Contains(r.Path, "/distro-io/distro/") {
			t.Errorf("a dry run sent %s %s", r.Method, r.Path)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	err := track.Options{ReleaseBranch: "release", Minors: []string{"1.37.1"}, Steps: []track.Step{{}}}.Validate()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	mustContain(t, "error", err.Error(), "git remote", "GitHub client", "1.37.1", "%s once", "needs a name")
	if err := (track.Options{Remote: "x", DryRun: true}).Validate(); err != nil {
		t.Errorf("a dry run without GitHub: %v", err)
	}
}

func TestConfigFromEnvActsThroughTheGitHubClient(t *testing.T) {
	w := newWorld(t, "Pod")
	env := map[string]string{
		"TRACK_REMOTE": w.remote, "TRACK_OPEN_PR": "1", "GITHUB_TOKEN": token, "GITHUB_REPOSITORY": "distro-io/distro",
		"TRACK_GITHUB_API_URL": w.fake.APIURL(), "TRACK_GITHUB_UPLOAD_URL": w.fake.UploadURL(), "TRACK_MINORS": "1.37",
	}
	var log bytes.Buffer
	o, err := track.ConfigFromEnv(func(k string) string { return env[k] }).Complete(context.Background(), &log)
	if err != nil {
		t.Fatal(err)
	}
	if o.DryRun || o.PullRequests == nil || o.Releases == nil {
		t.Fatalf("options = %+v", o)
	}
	o.GoEnv, o.Steps, o.ListTargets = w.proxy.Env(), steps("true"), listTargets
	rep := w.run(t, o)
	var summary bytes.Buffer
	rep.WriteSummary(&summary)
	mustContain(t, "summary", summary.String(), "1.37: opened v1.37.2 → v1.37.3 on upstream/v1.37.3, pull request #1 ")
	w.onePull(t)

	delete(env, "GITHUB_TOKEN")
	env["GITHUB_REPOSITORY"] = "no-slash"
	_, err = track.ConfigFromEnv(func(k string) string { return env[k] }).Complete(context.Background(), &log)
	if err == nil || !strings.Contains(err.Error(), "needs GITHUB_TOKEN") {
		t.Errorf("acting without a token: %v", err)
	}
	env["GITHUB_TOKEN"] = token
	_, err = track.ConfigFromEnv(func(k string) string { return env[k] }).Complete(context.Background(), &log)
	if err == nil || !strings.Contains(err.Error(), "owner/name") {
		t.Errorf("a repository without owner: %v", err)
	}
}

// serve adds a made-up patch release to the proxy and to kubernetes/kubernetes' releases.
func (w *world) serve(t *testing.T, patch string) {
	t.Helper()
	w.proxy.Add(
		upstreamtest.Mod{Path: "k8s.io/kubernetes", Version: "v1.37." + patch, Files: map[string]string{
			"go.mod": kubernetesGoMod, "pkg/server/server.go": kubernetesServer("v1.37." + patch),
		}},
		upstreamtest.Mod{Path: "k8s.io/api", Version: "v0.37." + patch, Files: map[string]string{
			"core/core.go": apiCore("Pod", "v0.37."+patch),
		}},
		upstreamtest.Mod{Path: "k8s.io/client-go", Version: "v0.37." + patch},
	)
	admin, err := gh.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(w.fake.APIURL(), w.fake.UploadURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := admin.Repositories.CreateRelease(context.Background(), "kubernetes", "kubernetes", &gh.RepositoryRelease{TagName: gh.Ptr("v1.37." + patch)}); err != nil {
		t.Fatal(err)
	}
}

// pushToMain commits files on main as a person would.
func (w *world) pushToMain(t *testing.T, subject string, files map[string]string) {
	t.Helper()
	seed := t.TempDir()
	gitIn(t, seed, "clone", "--quiet", w.remote, ".")
	for name, content := range files {
		write(t, filepath.Join(seed, name), content)
	}
	gitIn(t, seed, "add", ".")
	gitIn(t, seed, "commit", "--quiet", "-m", subject)
	gitIn(t, seed, "push", "--quiet", "origin", "main")
}

// pushToBranch commits a file on a branch as a person would.
func (w *world) pushToBranch(t *testing.T, branch string) {
	t.Helper()
	work := t.TempDir()
	gitIn(t, work, "clone", "--quiet", "--branch", branch, w.remote, ".")
	write(t, filepath.Join(work, "NOTES"), "working on it\n")
	gitIn(t, work, "add", "NOTES")
	gitIn(t, work, "commit", "--quiet", "-m", "wip")
	gitIn(t, work, "push", "--quiet", "origin", branch)
}

func (w *world) allPulls(t *testing.T) []githubfake.PullRequest {
	return w.fake.PullRequests("distro-io", "distro")
}

// A pull request a person closed is their answer: the version is left alone, run after run,
// until they reopen it or ask the tracker to (Reopen), which reopens the same pull request.
func TestClosedPullRequestIsLeftAloneUntilReopenIsAsked(t *testing.T) {
	w := newWorld(t, "Pod")
	var log bytes.Buffer
	o := w.options(t, &log)
	first := w.run(t, o).Updates[0]
	if _, err := w.pulls.SetPullRequestState(context.Background(), first.PullRequest, "closed"); err != nil {
		t.Fatal(err)
	}
	pushed := w.head(t, branch)

	for i := 0; i < 2; i++ {
		log.Reset()
		u := w.run(t, o).Updates[0]
		if u.Action != track.Declined || u.PullRequest != first.PullRequest || u.Pushed || len(u.Steps) != 0 {
			t.Fatalf("run %d after closing: %+v\n%s", i, u, log.String())
		}
		mustContain(t, "log", log.String(), "was closed without merging; left alone", "--reopen")
	}
	if pr := w.onePull(t); pr.State != "closed" || w.head(t, branch) != pushed {
		t.Errorf("a declined version was touched: %+v", pr)
	}
	var summary bytes.Buffer
	(track.Report{Updates: []track.Update{{Minor: "1.37", Action: track.Declined, From: "v1.37.2", To: "v1.37.3", Branch: branch, PullRequest: 1}}}).WriteSummary(&summary)
	mustContain(t, "summary", summary.String(), "1.37: declined v1.37.2 → v1.37.3 on upstream/v1.37.3, pull request #1")

	// Asked to, a dry run says it would reopen; a real run reopens the same pull request.
	o.Reopen = true
	o.DryRun = true
	if u := w.run(t, o).Updates[0]; u.Action != track.WouldAct || !strings.Contains(u.Plan, "reopen and refresh the closed pull request #1") {
		t.Errorf("dry run with Reopen: %+v", u)
	}
	o.DryRun = false
	log.Reset()
	u := w.run(t, o).Updates[0]
	if u.Action != track.Reopened || u.PullRequest != first.PullRequest || u.Replaced != 0 || len(u.Steps) == 0 {
		t.Fatalf("reopen: %+v\n%s", u, log.String())
	}
	if pr := w.onePull(t); pr.State != "open" || !strings.Contains(pr.Body, "| build | passed |") {
		t.Errorf("reopened pull request: %+v", pr)
	}
	// Open again, it is refreshed as usual.
	o.Reopen = false
	if u := w.run(t, o).Updates[0]; u.Action != track.Current {
		t.Errorf("run after reopening: %+v", u)
	}
}

// refusesReopen is GitHub refusing to reopen (the branch was deleted and pushed again).
type refusesReopen struct{ *github.Client }

func (r refusesReopen) SetPullRequestState(ctx context.Context, number int, state string) (github.PullRequest, error) {
	if state == "open" {
		return github.PullRequest{}, errors.New("state cannot be changed. The upstream/v1.37.3 branch was force-pushed or recreated.")
	}
	return r.Client.SetPullRequestState(ctx, number, state)
}

// When GitHub will not reopen the closed pull request, or it was merged, Reopen opens a
// fresh one that names it.
func TestReopenOpensAFreshPullRequestWhenGitHubWillNot(t *testing.T) {
	w := newWorld(t, "Pod")
	var log bytes.Buffer
	o := w.options(t, &log)
	first := w.run(t, o).Updates[0]
	if _, err := w.pulls.SetPullRequestState(context.Background(), first.PullRequest, "closed"); err != nil {
		t.Fatal(err)
	}
	o.Reopen = true
	o.PullRequests = refusesReopen{w.pulls}
	u := w.run(t, o).Updates[0]
	if u.Action != track.Opened || u.Replaced != first.PullRequest || u.PullRequest == first.PullRequest {
		t.Fatalf("fresh pull request: %+v\n%s", u, log.String())
	}
	prs := w.allPulls(t)
	if len(prs) != 2 || prs[0].State != "closed" || prs[1].State != "open" {
		t.Fatalf("pull requests: %+v", prs)
	}
	mustContain(t, "body", prs[1].Body, "Opened in place of #1, which was closed and could not be reopened.")

	// A merged one (someone reverted it on main since) is declined too, and with Reopen
	// replaced without trying to reopen it.
	admin, _ := gh.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(w.fake.APIURL(), w.fake.UploadURL())
	if _, _, err := admin.PullRequests.Merge(context.Background(), "distro-io", "distro", u.PullRequest, "", nil); err != nil {
		t.Fatal(err)
	}
	o.Reopen = false
	log.Reset()
	if u := w.run(t, o).Updates[0]; u.Action != track.Declined || u.PullRequest != prs[1].Number {
		t.Errorf("after a merge: %+v", u)
	}
	mustContain(t, "log", log.String(), "was merged, yet main is still at v1.37.2; left alone")
	o.Reopen = true
	if u := w.run(t, o).Updates[0]; u.Action != track.Opened || u.Replaced != prs[1].Number {
		t.Errorf("reopen after a merge: %+v", u)
	}
	if prs := w.allPulls(t); len(prs) != 3 || prs[2].State != "open" {
		t.Errorf("pull requests: %+v", prs)
	}
}

// A newer patch release supersedes the open pull request of the older one: the new pull
// request is opened, the old one commented on and closed, its branch kept.
func TestNewerPatchSupersedesTheOlderPullRequest(t *testing.T) {
	w := newWorld(t, "Pod")
	var log bytes.Buffer
	o := w.options(t, &log)
	old := w.run(t, o).Updates[0]
	oldHead := w.head(t, branch)

	w.serve(t, "4")
	dry := o
	dry.DryRun = true
	if u := w.run(t, dry).Updates[0]; u.To != "v1.37.4" || !strings.Contains(u.Plan, "then close #1 for older patch releases as superseded") {
		t.Errorf("dry run: %+v", u)
	}
	if prs := w.allPulls(t); len(prs) != 1 || prs[0].State != "open" {
		t.Fatalf("a dry run changed pull requests: %+v", prs)
	}

	log.Reset()
	u := w.run(t, o).Updates[0]
	if u.Action != track.Opened || u.To != "v1.37.4" || u.Branch != "upstream/v1.37.4" || len(u.Superseded) != 1 || u.Superseded[0] != old.PullRequest {
		t.Fatalf("update: %+v\n%s", u, log.String())
	}
	prs := w.allPulls(t)
	if len(prs) != 2 {
		t.Fatalf("pull requests: %+v", prs)
	}
	gone, fresh := prs[0], prs[1]
	if gone.State != "closed" || gone.Merged || len(gone.Comments) != 1 || fresh.State != "open" || fresh.Head != "distro-io:upstream/v1.37.4" {
		t.Fatalf("pull requests: %+v", prs)
	}
	mustContain(t, "comment", gone.Comments[0], fmt.Sprintf("Superseded by #%d: Kubernetes v1.37.4 is out", fresh.Number), "`upstream/v1.37.3` is left as it is")
	if w.head(t, branch) != oldHead {
		t.Error("the superseded branch was changed")
	}
	var summary bytes.Buffer
	(track.Report{Updates: []track.Update{u}}).WriteSummary(&summary)
	mustContain(t, "summary", summary.String(), "closed superseded #1")

	// Nothing more happens to it on the next run.
	if u := w.run(t, o).Updates[0]; u.Action != track.Current || len(u.Superseded) != 0 {
		t.Errorf("next run: %+v", u)
	}
	if prs := w.allPulls(t); len(prs[0].Comments) != 1 {
		t.Errorf("commented again: %+v", prs[0])
	}
}

// An older pull request a person has pushed to is theirs: it is not closed.
func TestSupersededPullRequestWithAPersonsCommitsStaysOpen(t *testing.T) {
	w := newWorld(t, "Pod")
	var log bytes.Buffer
	o := w.options(t, &log)
	w.run(t, o)
	w.pushToBranch(t, branch)
	w.serve(t, "4")
	log.Reset()
	u := w.run(t, o).Updates[0]
	if u.Action != track.Opened || u.To != "v1.37.4" || len(u.Superseded) != 0 {
		t.Fatalf("update: %+v", u)
	}
	if prs := w.allPulls(t); len(prs) != 2 || prs[0].State != "open" || len(prs[0].Comments) != 0 {
		t.Errorf("pull requests: %+v", prs)
	}
	mustContain(t, "log", log.String(), "has commits by person@example.com; left open for them")
}

// newFilePatch returns a git format-patch adding one file.
func newFilePatch(t *testing.T, file, content, subject string) string {
	dir := t.TempDir()
	gitIn(t, dir, "init", "--quiet")
	gitIn(t, dir, "commit", "--quiet", "--allow-empty", "-m", "upstream")
	write(t, filepath.Join(dir, file), content)
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "--quiet", "-m", subject+"\n\nWhy: the test says so.")
	return gitIn(t, dir, "format-patch", "-1", "--stdout")
}

// Once the patch set applies again (a person reworked the patch on main), the next run
// rebuilds the branch and takes the needs-human label off.
func TestNeedsHumanLabelGoesWhenThePatchesApplyAgain(t *testing.T) {
	w := newWorld(t, "PodV2")
	var log bytes.Buffer
	o := w.options(t, &log)
	first := w.run(t, o).Updates[0]
	if pr := w.onePull(t); !first.NeedsHuman || len(pr.Labels) != 1 {
		t.Fatalf("conflict: %+v %+v", first, pr)
	}

	w.pushToMain(t, "patches: mark the api group in a file of its own", map[string]string{
		apiPatch: newFilePatch(t, "core/patched.go", "package core\n\n// Patched says distro changed this group.\nconst Patched = true\n", "core: mark the group patched"),
	})
	log.Reset()
	u := w.run(t, o).Updates[0]
	if u.Action != track.Updated || u.NeedsHuman || !u.Pushed || u.PullRequest != first.PullRequest {
		t.Fatalf("after the fix: %+v\n%s", u, log.String())
	}
	pr := w.onePull(t)
	if len(pr.Labels) != 0 || strings.Contains(pr.Body, "Needs a person") {
		t.Errorf("still marked for a person: %+v", pr)
	}
	mustContain(t, "body", pr.Body, "| patches | passed |", "| build | passed |", "k8s.io/api@v0.37.3: 1 patches applied")
	mustContain(t, "log", log.String(), "label needs-human removed from #1")

	// And back on when it breaks again.
	o.Steps = steps("echo FAIL; exit 1")
	o.Rerun = true
	if u := w.run(t, o).Updates[0]; !u.NeedsHuman {
		t.Errorf("failing rerun: %+v", u)
	}
	if pr := w.onePull(t); len(pr.Labels) != 1 || pr.Labels[0] != track.NeedsHuman {
		t.Errorf("labels after a failing rerun: %q", pr.Labels)
	}
}
