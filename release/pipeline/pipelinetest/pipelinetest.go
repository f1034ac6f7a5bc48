// Package pipelinetest builds what release step tests start from: a real git repository
// in a temporary directory, a realistic upstream.lock, and a Context pointing at them.
package pipelinetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/upstream"
	releaseversion "github.com/distro-io/distro/release/version"
)

// LockText is an upstream.lock with one module of each role and a CoreDNS pin.
const LockText = `revision: 1
modules:
  - path: k8s.io/kubernetes
    version: v1.37.2
    sum: h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE=
    role: kubernetes
  - path: k8s.io/api
    version: v0.37.2
    sum: h1:PnxqnUFy93jr2GcpWDkKOm8wfy25kT9wa572MuQS8oc=
    role: staging
  - path: github.com/k3s-io/kine
    version: v0.17.5
    sum: h1:QHFCxnRqLvpstdUE86BAUCPiJjOxxV3mBe6pb/fOeYQ=
    role: linked
  - path: github.com/containerd/containerd/v2
    version: v2.4.2
    sum: h1:p6Qg+xbEz8lvwdhHDx0U469xENvp4LgGBx+E7djXkGw=
    role: linked
  - path: github.com/opencontainers/runc
    version: v1.5.3
    sum: h1:y3GUIW7J0Gxd+tCFfWR6L1YDnhHiNR1BGRx1J50+VnA=
    role: payload
  - path: github.com/containernetworking/plugins
    version: v1.10.0
    sum: h1:4lwzpgsn5NdIneXrag/EEfKzhNSriJc1zTxZxfdfPLQ=
    role: payload
`

// GoModText requires the SQLite driver the notes name.
const GoModText = `module github.com/distro-io/distro

go 1.27.3

require github.com/mattn/go-sqlite3 v1.14.52
`

// ChangelogText has two unreleased items and one earlier release.
const ChangelogText = `# Changelog

All notable changes to distro are documented in this file.

## [Unreleased]

### Added
- Airgap images imported at agent start.

### Fixed
- The agent waits for containerd before starting the kubelet.

## [v1.37.2+distro1] - 2026-01-10

### Added
- First release.
`

// Repo is a git repository in a temporary directory.
type Repo struct {
	t   testing.TB
	Dir string
}

// NewRepo makes a repository holding upstream.lock, go.mod, CHANGELOG.md and a .gitignore
// that ignores dist/ and build/ as the real one does, in one commit.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{t: t, Dir: t.TempDir()}
	r.Git("init", "-q", "-b", "main")
	// Steps run git themselves (the changelog commit): give the repository an identity.
	r.Git("config", "user.name", "Release Test")
	r.Git("config", "user.email", "release@example.invalid")
	r.Git("config", "commit.gpgsign", "false")
	r.Write("upstream.lock", LockText)
	r.Write("go.mod", GoModText)
	r.Write("CHANGELOG.md", ChangelogText)
	r.Write(".gitignore", "/build/\n/dist/\n")
	r.Commit("Module skeleton")
	return r
}

// Git runs git in the repository with a fixed identity and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.Dir, "-c", "user.name=Release Test", "-c", "user.email=release@example.invalid", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write writes a file of the repository (not committed).
func (r *Repo) Write(name, content string) string {
	r.t.Helper()
	path := filepath.Join(r.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// Commit commits everything with the subject and returns the commit id.
func (r *Repo) Commit(subject string) string {
	r.t.Helper()
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", subject)
	return r.Git("rev-parse", "HEAD")
}

// Tag puts an annotated tag on HEAD.
func (r *Repo) Tag(name string) {
	r.t.Helper()
	r.Git("tag", "-a", "-m", name, name)
}

// Context returns a dry-run Context for the repository with the lock loaded and
// artifacts going to Dir/dist.
func (r *Repo) Context() *pipeline.Context {
	r.t.Helper()
	lock, err := upstream.Load(filepath.Join(r.Dir, "upstream.lock"))
	if err != nil {
		r.t.Fatal(err)
	}
	return &pipeline.Context{RepoDir: r.Dir, DistDir: filepath.Join(r.Dir, "dist"), Lock: lock}
}

// Version parses a version or fails the test.
func Version(t testing.TB, s string) releaseversion.Version {
	t.Helper()
	v, err := releaseversion.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
