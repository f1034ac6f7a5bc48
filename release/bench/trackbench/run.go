// Package trackbench measures the upstream tracker end to end on this machine: from the
// start of a run (work clone, detection) to the pull request opened, for a one-patch bump,
// with warm caches.
//
// Upstream is simulated, everything else is real. A file-tree module proxy serves a
// made-up next patch release of Kubernetes (its modules re-versioned copies of the locked
// ones, so the patches apply: the clean path), in front of the module cache and the
// configured GOPROXY; GitHub is release/githubfake. The tracker is release/track as
// `mage upstream:track` runs it: a work clone of the repository's HEAD pushed to a local
// bare repository, upstream.lock moved with verified hashes, go.mod and go.sum tidied,
// patches re-applied, then the steps it is given (the real build, unit tests and quick
// conformance in `mage bench:track`), the branch pushed and the pull request opened.
//
// Measured on this machine (2 cores, 23.5 GiB, no other builds or tests running), one run of
// v1.37.2 → a made-up v1.37.3 at commit 437a477: detection → pull request opened in 26 min
// 27 s. The build took 4 min 53 s, because the build cache still held the packages of the
// same made-up v1.37.3 from an earlier run (a real release compiles every Kubernetes package
// anew: 34 min 28 s in an earlier run on a loaded machine, so about 55 min end to end); mage
// test took 16 min 2 s, conformance:quick (30 tests on a three-node cluster, passed) 5 min
// 21 s, and moving the lock, go.mod and go.sum and re-applying the patches 10 s. The pull
// request was opened marked for a person: one end-to-end test (TestTwoServersOnPostgreSQL)
// failed inside mage test and passed when run alone against the same tree right after.
package trackbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v84/github"

	"github.com/distro-io/distro/release/bench"
	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/track"
	"github.com/distro-io/distro/release/track/detect"
	"github.com/distro-io/distro/release/upstream"
)

// Options say what to measure.
type Options struct {
	// RepoDir is the distro checkout whose HEAD (the committed state, not the work tree) the
	// tracker bumps.
	RepoDir string
	Runs    int
	// Scratch holds the made-up proxies, remotes, work clones and the module cache the
	// tracker uses; the caller removes it.
	Scratch string
	// GoEnv is added to every go command's environment: how the locked modules are found
	// (the module cache, GOPROXY) and anything else the go command should see.
	GoEnv []string
	// Fallback is the GOPROXY list behind the made-up release: the module cache's download
	// directory as a file proxy, then the configured GOPROXY.
	Fallback string
	// NoSumDB are GONOSUMDB patterns already configured, kept beside the made-up modules.
	NoSumDB string
	// Steps are the tracker's checks (track.MageSteps in real use); ListTargets as in
	// track.Options.
	Steps       []track.Step
	ListTargets []string
	// Log receives the tracker's progress; nil discards it.
	Log io.Writer
	// Keep leaves each run's directory (made-up proxy, remote, work clone with its build)
	// in Scratch, to look into a failed step.
	Keep bool
	// Served, when set, is a file listing the made-up versions earlier invocations served on
	// this machine, one per line. Runs start above the highest of them and add theirs, so no
	// run finds its release's packages in the build cache. Empty: runs start at the next
	// patch release.
	Served string
}

// Validate reports every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.RepoDir == "" {
		errs = append(errs, errors.New("the repository is required"))
	}
	if o.Runs < 1 {
		errs = append(errs, fmt.Errorf("runs %d: want at least 1", o.Runs))
	}
	if o.Scratch == "" {
		errs = append(errs, errors.New("a scratch directory is required"))
	}
	return errors.Join(errs...)
}

// Result is one run.
type Result struct {
	From, To string
	Update   track.Update
}

const token = "bench-track-token"

// Run measures o.Runs tracker runs and prints the report to w. Run i serves a made-up
// release i patches above the lock or above the highest one o.Served records (v1.37.3,
// v1.37.4, …), so no run finds the packages of its release in the build cache from an
// earlier one: each is a first bump.
func Run(ctx context.Context, o Options, w io.Writer) ([]Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	lock, err := lockAtHead(ctx, o.RepoDir)
	if err != nil {
		return nil, err
	}
	r, err := bench.NewReport("bench:track", o.Runs)
	if err != nil {
		return nil, err
	}
	above, err := servedAbove(o.Served, lock.Kubernetes().Version)
	if err != nil {
		return nil, err
	}
	modCache := filepath.Join(o.Scratch, "modcache")
	fmt.Fprintf(log, "bench:track: warming %s with the modules of %s (not timed)\n", modCache, lock.ReleaseVersion())
	warmStart := time.Now()
	if err := warm(ctx, o, lock, modCache); err != nil {
		return nil, err
	}
	r.Note("module cache of the tracker warmed with the locked modules and go.mod's module graph in %s, before the clock starts", time.Since(warmStart).Round(time.Second))

	var results []Result
	for i := 1; i <= o.Runs; i++ {
		res, err := runOnce(ctx, o, lock, modCache, above+i, log)
		results = append(results, res)
		if err != nil {
			report(r, o, results)
			r.WriteTo(w)
			return results, fmt.Errorf("run %d: %w", i, err)
		}
	}
	report(r, o, results)
	_, err = r.WriteTo(w)
	return results, err
}

// lockAtHead reads upstream.lock as committed at HEAD.
func lockAtHead(ctx context.Context, repoDir string) (*upstream.Lock, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repoDir, "show", "HEAD:upstream.lock").Output()
	if err != nil {
		return nil, fmt.Errorf("upstream.lock at HEAD of %s: %w", repoDir, err)
	}
	return upstream.Parse("HEAD:upstream.lock", out)
}

// env is the go environment of the tracker and its steps for a proxy serving madeUp.
func (o Options) env(madeUp, modCache string, moved map[string][2]string) []string {
	proxy := "file://" + filepath.ToSlash(madeUp)
	if o.Fallback != "" {
		proxy += "," + o.Fallback
	}
	var noSum []string
	if o.NoSumDB != "" {
		noSum = append(noSum, o.NoSumDB)
	}
	for path := range moved {
		noSum = append(noSum, path)
	}
	sort.Strings(noSum)
	return append(append([]string(nil), o.GoEnv...),
		"GOPROXY="+proxy,
		// The made-up versions are in no checksum database; go.sum and upstream.lock hold
		// their hashes as the tracker records them.
		"GONOSUMDB="+strings.Join(noSum, ","),
		"GOMODCACHE="+modCache,
	)
}

// warm fills the tracker's module cache with what the locked release needs.
func warm(ctx context.Context, o Options, lock *upstream.Lock, modCache string) error {
	env := o.env(filepath.Join(o.Scratch, "no-made-up-release"), modCache, nil)
	args := []string{"mod", "download"}
	for _, m := range lock.Modules {
		args = append(args, m.Path+"@"+m.Version)
	}
	if out, err := goIn(ctx, os.TempDir(), env, args...); err != nil {
		return fmt.Errorf("warming the module cache: %w\n%s", err, out)
	}
	tree := filepath.Join(o.Scratch, "warm-tree")
	defer os.RemoveAll(tree)
	if out, err := exec.CommandContext(ctx, "git", "clone", "--quiet", "--depth=1", "file://"+absolute(o.RepoDir), tree).CombinedOutput(); err != nil {
		return fmt.Errorf("clone for warming: %w\n%s", err, out)
	}
	if out, err := goIn(ctx, tree, env, "mod", "download"); err != nil {
		return fmt.Errorf("warming the module cache: %w\n%s", err, out)
	}
	return nil
}

func goIn(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "GOWORK=off")
	return cmd.CombinedOutput()
}

func absolute(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// runOnce sets up the upstream of run i (the release i patches above the lock), its remote
// and GitHub, and times one tracker run.
func runOnce(ctx context.Context, o Options, lock *upstream.Lock, modCache string, i int, log io.Writer) (Result, error) {
	from := lock.Kubernetes().Version
	to, err := patchAbove(from, i)
	if err != nil {
		return Result{}, err
	}
	res := Result{From: from, To: to}
	dir := filepath.Join(o.Scratch, fmt.Sprintf("run-%d", i))
	if !o.Keep {
		defer removeAll(dir)
	}
	moved := Moved(lock, to)
	madeUp := filepath.Join(dir, "proxy")
	env := o.env(madeUp, modCache, moved)
	fmt.Fprintf(log, "bench:track: run %d: serving a made-up %s (not timed)\n", i, to)
	if err := MakeProxy(madeUp, moved, GoZip(ctx, o.env(filepath.Join(dir, "nothing"), modCache, nil))); err != nil {
		return res, err
	}
	if err := recordServed(o.Served, to); err != nil {
		return res, err
	}

	remote := filepath.Join(dir, "distro.git")
	for _, args := range [][]string{
		{"init", "--quiet", "--bare", "-b", "main", remote},
		{"-C", o.RepoDir, "push", "--quiet", remote, "HEAD:refs/heads/main"},
	} {
		if out, err := exec.CommandContext(ctx, "git", args...).CombinedOutput(); err != nil {
			return res, fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}

	fake, err := githubfake.Start(token)
	if err != nil {
		return res, err
	}
	defer fake.Close()
	fake.AddRepo("distro-io", "distro")
	fake.AddRepo("kubernetes", "kubernetes")
	admin, err := gh.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(fake.APIURL(), fake.UploadURL())
	if err != nil {
		return res, err
	}
	for _, tag := range []string{from, to} {
		if _, _, err := admin.Repositories.CreateRelease(ctx, "kubernetes", "kubernetes", &gh.RepositoryRelease{TagName: gh.Ptr(tag)}); err != nil {
			return res, err
		}
	}
	pulls, err := github.NewClient(github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()})
	if err != nil {
		return res, err
	}
	releases, err := detect.NewGitHubReleases(detect.GitHubOptions{Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()})
	if err != nil {
		return res, err
	}

	t := track.Options{
		Remote: remote, GoEnv: env, Releases: releases, PullRequests: pulls,
		Steps: o.Steps, ListTargets: o.ListTargets, WorkDir: filepath.Join(dir, "work"), Out: log,
	}
	if err := t.Validate(); err != nil {
		return res, err
	}
	fmt.Fprintf(log, "bench:track: run %d: tracking %s → %s\n", i, from, to)
	rep, err := track.Run(ctx, t)
	if len(rep.Updates) == 1 {
		res.Update = rep.Updates[0]
	}
	for _, s := range res.Update.Steps {
		if s.Status == track.Failed {
			fmt.Fprintf(log, "bench:track: run %d: %s failed: %s\n%s\n", i, s.Name, s.Reason, s.Tail)
		}
	}
	if err != nil {
		return res, err
	}
	if res.Update.Action != track.Opened {
		return res, fmt.Errorf("the tracker did not open a pull request: %+v", res.Update)
	}
	if prs := fake.PullRequests("distro-io", "distro"); len(prs) != 1 {
		return res, fmt.Errorf("%d pull requests on the fake GitHub, want 1", len(prs))
	}
	return res, nil
}

// servedAbove returns how many patch releases above from (vX.Y.Z) the highest vX.Y.* in the
// file served lies; 0 when there is none or no file.
func servedAbove(served, from string) (int, error) {
	if served == "" {
		return 0, nil
	}
	data, err := os.ReadFile(served)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	major, minor, patch, ok := parseVersion(from)
	if !ok {
		return 0, fmt.Errorf("Kubernetes version %q is not vX.Y.Z", from)
	}
	above := 0
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ma, mi, pa, ok := parseVersion(line)
		if !ok {
			return 0, fmt.Errorf("%s:%d: %q is not a vX.Y.Z version", served, n+1, line)
		}
		if ma == major && mi == minor && pa-patch > above {
			above = pa - patch
		}
	}
	return above, nil
}

// recordServed appends version to the file served, when there is one.
func recordServed(served, version string) error {
	if served == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(served), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(served, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, version); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// patchAbove returns vX.Y.(Z+n).
func patchAbove(v string, n int) (string, error) {
	major, minor, patch, ok := parseVersion(v)
	if !ok {
		return "", fmt.Errorf("Kubernetes version %q is not vX.Y.Z", v)
	}
	return fmt.Sprintf("v%d.%d.%d", major, minor, patch+n), nil
}

// parseVersion splits an exact vX.Y.Z.
func parseVersion(v string) (major, minor, patch int, ok bool) {
	if _, err := fmt.Sscanf(v, "v%d.%d.%d", &major, &minor, &patch); err != nil || fmt.Sprintf("v%d.%d.%d", major, minor, patch) != v {
		return 0, 0, 0, false
	}
	return major, minor, patch, true
}

// report adds the numbers of the runs so far.
func report(r *bench.Report, o Options, results []Result) {
	var total []time.Duration
	steps := map[string][]time.Duration{}
	var order []string
	skipped := map[string]string{}
	var versions, outcomes []string
	for _, res := range results {
		versions = append(versions, res.From+" → "+res.To)
		u := res.Update
		outcome := string(u.Action)
		if u.Action == "" {
			outcome = "failed"
		}
		if u.NeedsHuman {
			outcome += ", " + track.NeedsHuman
		}
		for _, s := range u.Steps {
			if !contains(order, s.Name) {
				order = append(order, s.Name)
			}
			switch s.Status {
			case track.Skipped:
				skipped[s.Name] = s.Reason
			case track.Failed:
				outcome += ", " + s.Name + " failed"
				steps[s.Name] = append(steps[s.Name], s.Elapsed)
			default:
				steps[s.Name] = append(steps[s.Name], s.Elapsed)
			}
		}
		outcomes = append(outcomes, outcome)
		if u.Action == track.Opened {
			total = append(total, u.Elapsed)
		}
	}
	r.Value("bumps", strings.Join(versions, ", "))
	r.Value("outcome", strings.Join(outcomes, "; "))
	r.Add("detection → pull request opened", bench.Durations(total...))
	for _, name := range order {
		if reason, ok := skipped[name]; ok && len(steps[name]) == 0 {
			r.Value("  "+name, "skipped: "+reason)
			continue
		}
		r.Add("  "+name, bench.Durations(steps[name]...))
	}
	r.Note("a run starts with the work clone and detection (go list -m -versions through the made-up proxy, and the fake GitHub's releases) and ends when the pull request is opened on the fake GitHub; the steps above are parts of it")
	r.Note("upstream is made up: each run serves a patch release never served on this machine before, whose modules are the locked ones re-versioned, so the patches apply (the clean path) and every Kubernetes package compiles anew under its new module version, as for a real patch release; the build cache (GOCACHE) is the machine's own, warm from building the locked release")
	r.Note("not included: the wait until upstream publishes to the module proxy, the schedule's interval, a CI runner's start-up and the network to GitHub")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// removeAll deletes a directory tree, including read-only module cache files.
func removeAll(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}
