package sequence

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
	"github.com/distro-io/distro/release/steps/guard"
)

const token = "release-token"

// world is a repository one release after v1.37.2+distro1, with upstream.lock bumped
// to revision 2, and a fake GitHub.
type world struct {
	repo   *pipelinetest.Repo
	fake   *githubfake.Server
	opts   github.Options
	builds int
	ran    []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{repo: pipelinetest.NewRepo(t)}
	w.repo.Tag("v1.37.2+distro1")
	w.repo.Commit("agent: wait for containerd before starting the kubelet")
	w.repo.Write("upstream.lock", strings.Replace(pipelinetest.LockText, "revision: 1", "revision: 2", 1))
	w.repo.Commit("upstream.lock: revision 2")
	w.fake = githubfake.New(t, token)
	w.fake.AddRepo("distro-io", "distro")
	w.opts = github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: w.fake.APIURL(), UploadURL: w.fake.UploadURL()}
	return w
}

// build stands in for mage build: a small dist/distro, the test binary as
// build/distro (a real Go executable for the SBOM), and the airgap images.
func (w *world) build(t *testing.T) func(context.Context, *pipeline.Context) error {
	return func(_ context.Context, c *pipeline.Context) error {
		w.builds++
		self, err := os.Executable()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(self)
		if err != nil {
			return err
		}
		for path, content := range map[string][]byte{
			"build/distro": data,
			// Like the real binary, it carries the commit it was built from.
			"dist/distro": []byte("#!/bin/sh\necho " + c.Version.String() + " " + c.Commit + "\n"),
			"dist/distro-airgap-images-amd64.tar.zst": []byte("\x28\xb5\x2f\xfd images"),
			"dist/distro-images.txt":                  []byte("registry.k8s.io/pause:3.10\n"),
		} {
			p := filepath.Join(c.RepoDir, path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, content, 0o755); err != nil {
				return err
			}
		}
		return nil
	}
}

func (w *world) check(name string, err error) guard.Check {
	return guard.Check{Name: name, Run: func(context.Context) error { w.ran = append(w.ran, name); return err }}
}

func (w *world) config(t *testing.T, failing string) Config {
	t.Helper()
	releases, err := guard.NewGitHubReleases(w.opts)
	if err != nil {
		t.Fatal(err)
	}
	var checks []guard.Check
	for _, name := range []string{"patches:check", "strip:audit", "upstream:verify", "unit tests"} {
		var err error
		if name == failing {
			err = errors.New(name + " says no")
		}
		checks = append(checks, w.check(name, err))
	}
	return Config{
		Checks:   checks,
		Build:    w.build(t),
		ModCache: t.TempDir(),
		Releases: releases,
		Now:      func() time.Time { return time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC) },
	}
}

func (w *world) run(t *testing.T, cfg Config, publish bool) (*pipeline.Context, string, error) {
	t.Helper()
	c, err := NewContext(w.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Publish = publish
	if publish {
		client, err := github.NewClient(w.opts)
		if err != nil {
			t.Fatal(err)
		}
		c.Publisher = client
	}
	var report, out bytes.Buffer
	c.Out = &out
	err = pipeline.Run(context.Background(), c, Release(cfg), &report)
	t.Logf("report:\n%s\noutput:\n%s", report.String(), out.String())
	return c, report.String() + out.String(), err
}

var wantAssets = []string{"distro", "distro-airgap-images-amd64.tar.zst", "distro-images.txt", "distro-sbom-amd64.cdx.json", "sha256sum-amd64.txt"}

func TestDryRunProducesEveryArtifactAndTheNotes(t *testing.T) {
	w := newWorld(t)
	c, out, err := w.run(t, w.config(t, ""), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version.String() != "v1.37.2+distro2" {
		t.Errorf("version %s", c.Version)
	}
	var names []string
	for _, a := range c.Artifacts {
		names = append(names, a.Name)
		if st, err := os.Stat(a.Path); err != nil || st.Size() == 0 {
			t.Errorf("artifact %s: %v", a.Name, err)
		}
		if filepath.Dir(a.Path) != c.DistDir {
			t.Errorf("artifact %s is at %s, outside dist/", a.Name, a.Path)
		}
	}
	if strings.Join(names, " ") != strings.Join(wantAssets[:1], " ")+" "+strings.Join(wantAssets[1:], " ") {
		t.Errorf("artifacts %v, want %v", names, wantAssets)
	}
	sums, err := os.ReadFile(filepath.Join(c.DistDir, "sha256sum-amd64.txt"))
	if err != nil || strings.Count(string(sums), "\n") != 4 {
		t.Errorf("sha256sum-amd64.txt:\n%s (%v)", sums, err)
	}
	for _, want := range []string{"## Changes since v1.37.2+distro1", "- upstream.lock: revision 2", "| containerd | v2.4.2 |", "CHANGELOG-1.37.md#v1372"} {
		if !strings.Contains(c.Notes, want) {
			t.Errorf("notes lack %q", want)
		}
	}
	if notes, _ := os.ReadFile(filepath.Join(c.DistDir, "release-notes.md")); string(notes) != c.Notes {
		t.Error("dist/release-notes.md is not the notes")
	}
	if cl, err := os.ReadFile(filepath.Join(c.DistDir, "CHANGELOG.md")); err != nil || !strings.Contains(string(cl), "## [v1.37.2+distro2] - 2026-02-03") {
		t.Errorf("dist/CHANGELOG.md: %v\n%s", err, cl)
	}
	// One line per step, and the dry run's plan.
	for _, step := range []string{"preflight", "guard", "version", "build", "artifacts", "images", "sbom", "checksums", "notes", "existing-release", "changelog", "publish"} {
		if !strings.Contains(out, "\n"+step+" ") && !strings.HasPrefix(out, step+" ") {
			t.Errorf("no report line for %s", step)
		}
	}
	if !strings.Contains(out, "would upload distro-sbom-amd64.cdx.json") {
		t.Error("the dry run did not say what it would upload")
	}
	// Nothing changed on GitHub or in the repository.
	for _, r := range w.fake.Requests() {
		if r.Method != "GET" {
			t.Errorf("a dry run sent %s %s", r.Method, r.Path)
		}
	}
	if len(w.fake.Releases("distro-io", "distro")) != 0 {
		t.Error("a dry run created a release")
	}
	if st := w.repo.Git("status", "--porcelain"); st != "" {
		t.Errorf("a dry run left the tree dirty:\n%s", st)
	}
	if w.builds != 1 || len(w.ran) != 4 {
		t.Errorf("builds %d, checks run %v", w.builds, w.ran)
	}
}

func TestPublishCreatesTheRelease(t *testing.T) {
	w := newWorld(t)
	built := w.repo.Git("rev-parse", "HEAD")
	c, _, err := w.run(t, w.config(t, ""), true)
	if err != nil {
		t.Fatal(err)
	}
	rel, ok := w.fake.Release("distro-io", "distro", "v1.37.2+distro2")
	if !ok || rel.Draft || rel.Prerelease {
		t.Fatalf("release %+v", rel)
	}
	if rel.Commitish != built {
		t.Errorf("tagged at %s, want the commit that was built, %s", rel.Commitish, built)
	}
	if rel.Body != c.Notes {
		t.Error("the release body is not the notes")
	}
	var names []string
	for _, a := range rel.Assets {
		names = append(names, a.Name)
		local, err := os.ReadFile(filepath.Join(c.DistDir, a.Name))
		if err != nil || !bytes.Equal(local, a.Data) {
			t.Errorf("asset %s differs from dist/", a.Name)
		}
	}
	if strings.Join(names, " ") != strings.Join(wantAssets, " ") {
		t.Errorf("assets %v", names)
	}
	if subj := w.repo.Git("log", "-1", "--format=%s"); subj != "CHANGELOG: v1.37.2+distro2" {
		t.Errorf("last commit %q", subj)
	}
	if _, err := os.Stat(filepath.Join(c.DistDir, "CHANGELOG.md")); !os.IsNotExist(err) {
		t.Error("a publishing run wrote dist/CHANGELOG.md")
	}

	// Running again from the new commit builds something else under the same version:
	// the published release is left alone and the run says why.
	_, _, err = w.run(t, w.config(t, ""), true)
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != "existing-release" || !strings.Contains(err.Error(), "already published") {
		t.Fatalf("second run: %v", err)
	}
	if rel2, _ := w.fake.Release("distro-io", "distro", "v1.37.2+distro2"); !equalAssets(rel, rel2) {
		t.Error("the published release changed")
	}
}

func equalAssets(a, b githubfake.Release) bool {
	if len(a.Assets) != len(b.Assets) {
		return false
	}
	for i := range a.Assets {
		if a.Assets[i].Name != b.Assets[i].Name || !bytes.Equal(a.Assets[i].Data, b.Assets[i].Data) {
			return false
		}
	}
	return true
}

func TestDirtyTreeIsRefused(t *testing.T) {
	w := newWorld(t)
	w.repo.Write("distro/server/new.go", "package server\n")
	_, _, err := w.run(t, w.config(t, ""), false)
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != "guard" || !strings.Contains(err.Error(), "dirty working tree") || !strings.Contains(err.Error(), "distro/") {
		t.Fatalf("err = %v", err)
	}
	if w.builds != 0 || len(w.ran) != 0 {
		t.Errorf("built %d times and ran %v on a dirty tree", w.builds, w.ran)
	}
}

func TestGuardFailureNamesTheCheck(t *testing.T) {
	w := newWorld(t)
	_, _, err := w.run(t, w.config(t, "upstream:verify"), false)
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != "guard" || guard.FailedCheck(err) != "upstream:verify" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "upstream:verify failed: upstream:verify says no") {
		t.Errorf("message %q", err)
	}
	if w.builds != 0 {
		t.Error("built after a failed check")
	}
}

func TestPublishWithoutTokenFailsBeforeAnythingElse(t *testing.T) {
	w := newWorld(t)
	c, err := NewContext(w.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Publish = true
	err = pipeline.Run(context.Background(), c, Release(w.config(t, "")), io.Discard)
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != "preflight" || !strings.Contains(err.Error(), "GITHUB_TOKEN") {
		t.Fatalf("err = %v", err)
	}
	if w.builds != 0 || len(w.ran) != 0 {
		t.Error("work done before the preflight")
	}
}

func TestNotesAndSBOMSequences(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(t, "")
	if err := w.build(t)(context.Background(), &pipeline.Context{RepoDir: w.repo.Dir}); err != nil {
		t.Fatal(err)
	}
	c, err := NewContext(w.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.Run(context.Background(), c, Notes(cfg), io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Notes, "v1.37.2+distro2") {
		t.Errorf("notes:\n%s", c.Notes)
	}
	c, _ = NewContext(w.repo.Dir)
	if err := pipeline.Run(context.Background(), c, SBOM(cfg), io.Discard); err != nil {
		t.Fatal(err)
	}
	if len(c.Artifacts) != 1 || c.Artifacts[0].Name != "distro-sbom-amd64.cdx.json" {
		t.Errorf("artifacts %+v", c.Artifacts)
	}
}

// A release candidate carries its -rcM through the build (the binary is stamped with the
// version the version step decided, which upstream.lock cannot name) to GitHub, where it
// is a pre-release; CHANGELOG.md is left for the release.
func TestCandidateIsBuiltAndPublishedAsAPrerelease(t *testing.T) {
	w := newWorld(t)
	w.repo.Tag("v1.37.2-rc1+distro2")
	head := w.repo.Git("rev-parse", "HEAD")
	cfg := w.config(t, "")
	cfg.Candidate = true
	var built []string
	build := cfg.Build
	cfg.Build = func(ctx context.Context, c *pipeline.Context) error {
		built = append(built, c.Version.String())
		return build(ctx, c)
	}
	c, out, err := w.run(t, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	const want = "v1.37.2-rc2+distro2"
	if c.Version.String() != want || len(built) != 1 || built[0] != want {
		t.Fatalf("version %s, build asked for %v; want %s", c.Version, built, want)
	}
	if stamped, _ := os.ReadFile(filepath.Join(c.DistDir, "distro")); !strings.Contains(string(stamped), want+" "+head) {
		t.Errorf("dist/distro says %q", stamped)
	}
	rel, ok := w.fake.Release("distro-io", "distro", want)
	if !ok || rel.Draft || !rel.Prerelease || rel.Name != want || rel.Commitish != head {
		t.Fatalf("release %+v", rel)
	}
	if !strings.Contains(rel.Body, "release candidate 2, published as a pre-release") {
		t.Errorf("notes do not say it is a candidate:\n%s", rel.Body)
	}
	if !regexp.MustCompile(`(?m)^changelog +skipped .*release candidate`).MatchString(out) || w.repo.Git("rev-parse", "HEAD") != head {
		t.Error("a candidate committed to CHANGELOG.md")
	}
}
