package verify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/githubfake"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
	"github.com/distro-io/distro/release/verify"
)

const token = "verify-token"

// fakeBuild stands in for the release build: its files depend on the version and on a
// file of the checked-out tree, so a build of the wrong commit or version shows.
type fakeBuild struct {
	dirs     []string
	versions []string
	names    [][]string
	fail     error
}

func (f *fakeBuild) build(_ context.Context, b verify.Build) error {
	f.dirs = append(f.dirs, b.Dir)
	f.versions = append(f.versions, b.Version.String())
	f.names = append(f.names, b.Names)
	if f.fail != nil {
		return f.fail
	}
	src, err := os.ReadFile(filepath.Join(b.Dir, "src.txt"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(b.Dir, "dist"), 0o755); err != nil {
		return err
	}
	for name, content := range artifacts(b.Version.String(), string(src)) {
		if err := os.WriteFile(filepath.Join(b.Dir, "dist", name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func artifacts(version, src string) map[string]string {
	return map[string]string{
		"distro":                 "binary " + version + " of " + src,
		"distro-images.txt":      "registry.k8s.io/pause:3.10\n",
		"release-notes.md":       "notes are not in the checksum file\n",
		"distro-sbom-amd64.json": "{}",
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// sums is a sha256sum-amd64.txt for the artifacts of version built from src.
func sums(version, src string, names ...string) string {
	a := artifacts(version, src)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sha(a[n]), n)
	}
	return b.String()
}

// repo has the release's tag on a commit whose src.txt says "tagged", and a later commit
// on top, so only a build of the tag matches.
func repo(t *testing.T, tag, lockRevision string) *pipelinetest.Repo {
	r := pipelinetest.NewRepo(t)
	r.Write("upstream.lock", strings.Replace(pipelinetest.LockText, "revision: 1", "revision: "+lockRevision, 1))
	r.Write("src.txt", "tagged")
	r.Commit("release")
	r.Tag(tag)
	r.Write("src.txt", "later")
	r.Commit("after the release")
	return r
}

func publish(t *testing.T, tag, sumsText string) (*githubfake.Server, github.Options) {
	t.Helper()
	fake := githubfake.New(t, token)
	fake.AddRepo("distro-io", "distro")
	opts := github.Options{Owner: "distro-io", Repo: "distro", Token: token, APIURL: fake.APIURL(), UploadURL: fake.UploadURL()}
	client, err := github.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var assets []github.Asset
	for name, content := range map[string]string{"sha256sum-amd64.txt": sumsText, "distro": "whatever was uploaded"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		assets = append(assets, github.Asset{Name: name, Path: p})
	}
	if _, err := github.PublishRelease(context.Background(), client, github.Plan{Release: github.Release{Tag: tag, Name: tag, Body: "notes"}, Assets: assets}); err != nil {
		t.Fatal(err)
	}
	return fake, opts
}

func options(t *testing.T, r *pipelinetest.Repo, version string, src verify.Sums, b *fakeBuild, log io.Writer) verify.Options {
	return verify.Options{RepoDir: r.Dir, Version: pipelinetest.Version(t, version), Sums: src, Build: b.build, Out: log}
}

func TestRebuildOfTheTagMatchesTheReleaseOnGitHub(t *testing.T) {
	const tag = "v1.37.2+distro1"
	r := repo(t, tag, "1")
	head := r.Git("rev-parse", "HEAD")
	_, opts := publish(t, tag, sums(tag, "tagged", "distro", "distro-images.txt", "distro-sbom-amd64.json"))
	var b fakeBuild
	var log bytes.Buffer
	rep, err := verify.Run(context.Background(), options(t, r, tag, verify.GitHub{Options: opts}, &b, &log))
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	rep.Write(&out)
	t.Log(out.String())
	if !rep.OK() || len(rep.Files) != 3 || rep.Commit != r.Git("rev-parse", tag+"^{commit}") {
		t.Fatalf("report %+v", rep)
	}
	for _, f := range rep.Files {
		if f.Status != verify.Match || f.Rebuilt != f.Published {
			t.Errorf("file %+v", f)
		}
	}
	if !strings.Contains(out.String(), "is reproducible: 3 of 3 files match") || !strings.Contains(out.String(), "release v1.37.2+distro1 of distro-io/distro") {
		t.Errorf("report:\n%s", out.String())
	}
	// The build ran once, in a worktree of its own at the tag, asked for the listed files.
	if len(b.dirs) != 1 || b.dirs[0] == r.Dir || b.versions[0] != tag || strings.Join(b.names[0], " ") != "distro distro-images.txt distro-sbom-amd64.json" {
		t.Errorf("builds in %v of %v for %v", b.dirs, b.versions, b.names)
	}
	// The worktree is gone; the repository is as it was.
	if _, err := os.Stat(b.dirs[0]); !os.IsNotExist(err) {
		t.Errorf("worktree %s left behind: %v", b.dirs[0], err)
	}
	if wt := r.Git("worktree", "list", "--porcelain"); strings.Count(wt, "worktree ") != 1 {
		t.Errorf("worktrees after verification:\n%s", wt)
	}
	if r.Git("rev-parse", "HEAD") != head || r.Git("status", "--porcelain") != "" {
		t.Error("verification changed the repository")
	}
}

func TestDifferencesAreReportedPerFileAndFail(t *testing.T) {
	const tag = "v1.37.2+distro1"
	r := repo(t, tag, "1")
	published := sums(tag, "tagged", "distro-images.txt") + // matches
		sums(tag, "later", "distro") + // built from another commit
		strings.Repeat("0", 64) + "  distro-airgap-images-amd64.tar.zst\n" // not rebuilt
	path := filepath.Join(t.TempDir(), "sha256sum-amd64.txt")
	os.WriteFile(path, []byte(published), 0o644)
	var b fakeBuild
	rep, err := verify.Run(context.Background(), options(t, r, tag, verify.LocalFile(path), &b, nil))
	if !errors.Is(err, verify.ErrNotReproduced) {
		t.Fatalf("err = %v", err)
	}
	want := map[string]verify.Status{"distro": verify.Mismatch, "distro-airgap-images-amd64.tar.zst": verify.NotRebuilt, "distro-images.txt": verify.Match}
	if len(rep.Files) != 3 {
		t.Fatalf("files %+v", rep.Files)
	}
	for _, f := range rep.Files {
		if f.Status != want[f.Name] {
			t.Errorf("%s: %s, want %s", f.Name, f.Status, want[f.Name])
		}
	}
	for _, s := range []string{"distro (mismatch)", "distro-airgap-images-amd64.tar.zst (not rebuilt)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	var out bytes.Buffer
	rep.Write(&out)
	for _, s := range []string{"MISMATCH     published " + sha(artifacts(tag, "later")["distro"]) + ", rebuilt " + sha(artifacts(tag, "tagged")["distro"]), "NOT REBUILT", "NOT reproduced: 1 of 3 files match", path} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}

// A release candidate's version, -rcM included, reaches the build, and its tag is found.
func TestCandidateIsRebuiltAsTheCandidate(t *testing.T) {
	const tag = "v1.37.2-rc1+distro2"
	r := repo(t, tag, "2")
	_, opts := publish(t, tag, sums(tag, "tagged", "distro"))
	var b fakeBuild
	rep, err := verify.Run(context.Background(), options(t, r, tag, verify.GitHub{Options: opts}, &b, nil))
	if err != nil || !rep.OK() || len(b.versions) != 1 || b.versions[0] != tag {
		t.Fatalf("report %+v, builds %v: %v", rep, b.versions, err)
	}
}

func TestGivenWorkDirIsKept(t *testing.T) {
	const tag = "v1.37.2+distro1"
	r := repo(t, tag, "1")
	path := filepath.Join(t.TempDir(), "sums")
	os.WriteFile(path, []byte(sums(tag, "tagged", "distro")), 0o644)
	o := options(t, r, tag, verify.LocalFile(path), &fakeBuild{}, nil)
	o.WorkDir = filepath.Join(t.TempDir(), "verify")
	if _, err := verify.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(o.WorkDir, "src", "dist", "distro")); err != nil || string(data) != "binary "+tag+" of tagged" {
		t.Errorf("kept worktree: %q, %v", data, err)
	}
	r.Git("worktree", "remove", "--force", filepath.Join(o.WorkDir, "src"))
}

func TestRefusals(t *testing.T) {
	const tag = "v1.37.2+distro1"
	r := repo(t, tag, "1")
	fake, opts := publish(t, tag, sums(tag, "tagged", "distro"))
	fake.AddRepo("distro-io", "empty")
	noSums := opts
	noSums.Repo = "other"
	fake.AddRepo("distro-io", "other")
	otherClient, _ := github.NewClient(noSums)
	p := filepath.Join(t.TempDir(), "distro")
	os.WriteFile(p, []byte("x"), 0o644)
	if _, err := github.PublishRelease(context.Background(), otherClient, github.Plan{Release: github.Release{Tag: tag, Name: tag}, Assets: []github.Asset{{Name: "distro", Path: p}}}); err != nil {
		t.Fatal(err)
	}
	badToken := opts
	badToken.Token = "wrong"
	missing := opts
	missing.Repo = "empty"
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not a checksum line\n"), 0o644)

	for _, tc := range []struct {
		name, version string
		src           verify.Sums
		buildFails    bool
		want          string
		built         bool
	}{
		{"no tag", "v1.37.2+distro7", verify.GitHub{Options: opts}, false, "git fetch origin tag v1.37.2+distro7", false},
		{"no release", tag, verify.GitHub{Options: missing}, false, "not found", false},
		{"no checksum asset", tag, verify.GitHub{Options: noSums}, false, "has no asset sha256sum-amd64.txt", false},
		{"bad token", tag, verify.GitHub{Options: badToken}, false, "check GITHUB_TOKEN", false},
		{"malformed sums", tag, verify.LocalFile(garbage), false, "line 1", false},
		{"missing file", tag, verify.LocalFile(garbage + ".gone"), false, "no such file", false},
		{"build fails", tag, verify.GitHub{Options: opts}, true, "rebuilding v1.37.2+distro1: out of disk", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fakeBuild{}
			if tc.buildFails {
				b.fail = errors.New("out of disk")
			}
			_, err := verify.Run(context.Background(), options(t, r, tc.version, tc.src, &b, nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, verify.ErrNotReproduced) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
			if tc.name == "bad token" && !errors.Is(err, github.ErrAuthentication) {
				t.Errorf("bad token: %v is not an authentication error", err)
			}
			if built := len(b.dirs) > 0; built != tc.built {
				t.Errorf("built: %v, want %v", built, tc.built)
			}
		})
	}
	if wt := r.Git("worktree", "list", "--porcelain"); strings.Count(wt, "worktree ") != 1 {
		t.Errorf("worktrees left behind:\n%s", wt)
	}
}

// A tag on a commit whose upstream.lock does not build the version is not a release.
func TestTagWhoseLockDisagreesIsRefused(t *testing.T) {
	r := repo(t, "v1.37.2+distro2", "1")
	path := filepath.Join(t.TempDir(), "sums")
	os.WriteFile(path, []byte(sums("v1.37.2+distro2", "tagged", "distro")), 0o644)
	var b fakeBuild
	_, err := verify.Run(context.Background(), options(t, r, "v1.37.2+distro2", verify.LocalFile(path), &b, nil))
	if err == nil || !strings.Contains(err.Error(), "revision 1") || len(b.dirs) != 0 {
		t.Fatalf("err = %v, builds %v", err, b.dirs)
	}
}

func TestOptionsValidate(t *testing.T) {
	err := verify.Options{}.Validate()
	for _, s := range []string{"repository", "version", "checksums", "build"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v lacks %q", err, s)
		}
	}
}

func TestRebuildEnv(t *testing.T) {
	env := verify.RebuildEnv([]string{
		"PATH=/bin", "GITHUB_TOKEN=secret", "DISTRO_PUBLISH=1", "DISTRO_RELEASE_REUSE_BUILD=1", "DISTRO_RELEASE_CANDIDATE=1",
		"DISTRO_RELEASE_VERSION=v9.9.9+distro1", "DISTRO_GITHUB_REPO=a/b", "DISTRO_PAYLOAD_COMPRESSION=fast", "GOWORK=/x/go.work",
		"GOFLAGS=-buildvcs=false", "SOURCE_DATE_EPOCH=1700000000",
	}, "v1.37.2-rc1+distro1")
	want := "PATH=/bin GOFLAGS=-buildvcs=false SOURCE_DATE_EPOCH=1700000000 DISTRO_RELEASE_VERSION=v1.37.2-rc1+distro1 DISTRO_RELEASE_SKIP_CHECKS=1"
	if got := strings.Join(env, " "); got != want {
		t.Errorf("env\n got %s\nwant %s", got, want)
	}
}

// MageBuild runs the worktree's mage release with the version and a dry run's settings.
func TestMageBuildRunsTheTagsReleaseTarget(t *testing.T) {
	const tag = "v1.37.2-rc1+distro1"
	r := repo(t, tag, "1")
	saved := verify.Mage
	t.Cleanup(func() { verify.Mage = saved })
	// Stands in for `go tool mage`: $0 is the target; it builds dist/distro from src.txt.
	verify.Mage = []string{"sh", "-c", `test "$0" = release && test "$DISTRO_RELEASE_SKIP_CHECKS" = 1 && test -z "$GITHUB_TOKEN" &&
		mkdir -p dist && printf 'binary %s of %s' "$DISTRO_RELEASE_VERSION" "$(cat src.txt)" > dist/distro && echo built`}
	t.Setenv("GITHUB_TOKEN", "must not reach the build")
	path := filepath.Join(t.TempDir(), "sums")
	os.WriteFile(path, []byte(sums(tag, "tagged", "distro")), 0o644)
	var log bytes.Buffer
	o := verify.Options{RepoDir: r.Dir, Version: pipelinetest.Version(t, tag), Sums: verify.LocalFile(path), Build: verify.MageBuild, Out: &log}
	if rep, err := verify.Run(context.Background(), o); err != nil || !rep.OK() {
		t.Fatalf("%+v: %v\n%s", rep, err, log.String())
	}
	if !strings.Contains(log.String(), "built") {
		t.Errorf("the build's output did not reach Out:\n%s", log.String())
	}
}
