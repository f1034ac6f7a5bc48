// Package verify checks that a published release is reproducible: it checks the release's
// git tag out into a worktree of its own, rebuilds the release there, and compares every
// file the release's sha256sum-amd64.txt lists with what the rebuild made.
//
// The rebuild is injected: `mage release:verify` runs the tag's own release pipeline as a
// dry run (MageBuild), the same steps and build flags the release ran; tests give a tiny
// build of their own.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/steps/checksums"
	"github.com/distro-io/distro/release/upstream"
	releaseversion "github.com/distro-io/distro/release/version"
)

// Sums is where the published checksum file comes from.
type Sums interface {
	// Name says where, for the report ("release v1.37.2+distro1 on GitHub distro-io/distro").
	Name(tag string) string
	// Sums returns the content of the release's sha256sum-amd64.txt.
	Sums(ctx context.Context, tag string) ([]byte, error)
}

// Build is what a rebuild gets: a worktree at the tag, where it leaves the release's files
// in Dir/dist, as the release left them in the repository's dist/.
type Build struct {
	Dir     string
	Version releaseversion.Version
	// Names are the files the published checksum file lists: what the rebuild must make.
	Names []string
	// Out receives the build's output.
	Out io.Writer
}

// BuildFunc rebuilds the release in a worktree.
type BuildFunc func(ctx context.Context, b Build) error

// Options say which release to verify and how.
type Options struct {
	// RepoDir is the distro repository holding the tag.
	RepoDir string
	Version releaseversion.Version
	Sums    Sums
	Build   BuildFunc
	// WorkDir holds the worktree, which is kept for inspection; empty means a temporary
	// directory, removed afterwards.
	WorkDir string
	// Out receives progress and the build's output; nil discards it.
	Out io.Writer
}

// Validate reports every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.RepoDir == "" {
		errs = append(errs, errors.New("the repository is required"))
	}
	if o.Version == (releaseversion.Version{}) {
		errs = append(errs, errors.New("the version to verify is required"))
	}
	if o.Sums == nil {
		errs = append(errs, errors.New("a source of the published checksums is required"))
	}
	if o.Build == nil {
		errs = append(errs, errors.New("a build is required"))
	}
	return errors.Join(errs...)
}

// Status is how one file compares.
type Status string

const (
	Match      Status = "match"
	Mismatch   Status = "MISMATCH"
	NotRebuilt Status = "NOT REBUILT" // published, but the rebuild did not make it
)

// File is one published file and its rebuilt counterpart.
type File struct {
	Name      string
	Status    Status
	Published string // hex SHA-256 from the published checksum file
	Rebuilt   string // hex SHA-256 of the rebuilt file; empty when not rebuilt
}

// Report is what a verification found.
type Report struct {
	Version releaseversion.Version
	Commit  string // the tag's commit
	Source  string // where the published checksums came from
	Files   []File
}

// OK reports whether every published file was rebuilt bit for bit.
func (r Report) OK() bool {
	if len(r.Files) == 0 {
		return false
	}
	for _, f := range r.Files {
		if f.Status != Match {
			return false
		}
	}
	return true
}

// Write prints one line per file and a verdict.
func (r Report) Write(w io.Writer) {
	if len(r.Files) == 0 {
		return
	}
	width := 0
	for _, f := range r.Files {
		width = max(width, len(f.Name))
	}
	fmt.Fprintf(w, "%s at %.12s against %s:\n", r.Version, r.Commit, r.Source)
	for _, f := range r.Files {
		switch f.Status {
		case Match:
			fmt.Fprintf(w, "  %-*s  %-11s  %s\n", width, f.Name, f.Status, f.Published)
		case Mismatch:
			fmt.Fprintf(w, "  %-*s  %-11s  published %s, rebuilt %s\n", width, f.Name, f.Status, f.Published, f.Rebuilt)
		default:
			fmt.Fprintf(w, "  %-*s  %-11s  published %s\n", width, f.Name, f.Status, f.Published)
		}
	}
	if r.OK() {
		fmt.Fprintf(w, "%s is reproducible: %d of %d files match\n", r.Version, len(r.Files), len(r.Files))
		return
	}
	matched := 0
	for _, f := range r.Files {
		if f.Status == Match {
			matched++
		}
	}
	fmt.Fprintf(w, "%s is NOT reproduced: %d of %d files match\n", r.Version, matched, len(r.Files))
}

// ErrNotReproduced is the error of a verification that finished and found differences.
var ErrNotReproduced = errors.New("the rebuild does not match the published release")

// Run verifies the release. Its error wraps ErrNotReproduced when the comparison ran and
// found a file that differs or was not rebuilt; any other error means it could not compare.
// The report holds what was compared either way.
func Run(ctx context.Context, o Options) (Report, error) {
	rep := Report{Version: o.Version}
	if err := o.Validate(); err != nil {
		return rep, err
	}
	tag := o.Version.String()
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	listed, err := pipeline.Git(ctx, o.RepoDir, "tag", "--list", tag)
	if err != nil {
		return rep, err
	}
	if strings.TrimSpace(listed) == "" {
		return rep, fmt.Errorf("tag %s is not in the repository at %s; fetch it first: git fetch origin tag %s", tag, o.RepoDir, tag)
	}
	commit, err := pipeline.Git(ctx, o.RepoDir, "rev-parse", "--verify", "refs/tags/"+tag+"^{commit}")
	if err != nil {
		return rep, err
	}
	rep.Commit = strings.TrimSpace(commit)

	// The published sums first: they are quick to get and there is no point in an hour of
	// building when they cannot be had.
	rep.Source = o.Sums.Name(tag)
	data, err := o.Sums.Sums(ctx, tag)
	if err != nil {
		return rep, fmt.Errorf("published checksums of %s: %w", tag, err)
	}
	published, err := checksums.Parse(data)
	if err != nil {
		return rep, fmt.Errorf("published %s of %s (%s): %w", checksums.File, tag, rep.Source, err)
	}
	if len(published) == 0 {
		return rep, fmt.Errorf("published %s of %s (%s) lists no files", checksums.File, tag, rep.Source)
	}
	names := make([]string, 0, len(published))
	for name := range published {
		if name != filepath.Base(name) || name == "." || name == ".." {
			return rep, fmt.Errorf("published %s of %s names %q, which is not a file in dist/", checksums.File, tag, name)
		}
		names = append(names, name)
	}
	slices.Sort(names)

	dir, cleanup, err := worktree(ctx, o.RepoDir, o.WorkDir, rep.Commit)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	fmt.Fprintf(out, "verify: %s checked out at %.12s in %s\n", tag, rep.Commit, dir)
	if err := checkLock(dir, o.Version); err != nil {
		return rep, err
	}
	if err := o.Build(ctx, Build{Dir: dir, Version: o.Version, Names: names, Out: out}); err != nil {
		return rep, fmt.Errorf("rebuilding %s: %w", tag, err)
	}
	for _, name := range names {
		f := File{Name: name, Published: published[name], Status: NotRebuilt}
		sum, err := checksums.SHA256File(filepath.Join(dir, "dist", name))
		switch {
		case err == nil:
			f.Rebuilt, f.Status = sum, Mismatch
			if sum == f.Published {
				f.Status = Match
			}
		case !os.IsNotExist(err):
			return rep, err
		}
		rep.Files = append(rep.Files, f)
	}
	if !rep.OK() {
		var bad []string
		for _, f := range rep.Files {
			if f.Status != Match {
				bad = append(bad, f.Name+" ("+strings.ToLower(string(f.Status))+")")
			}
		}
		return rep, fmt.Errorf("%s: %w: %s", tag, ErrNotReproduced, strings.Join(bad, ", "))
	}
	return rep, nil
}

// worktree checks commit out, detached, into a directory of its own, and returns a cleanup
// that removes it again (only the git bookkeeping when the caller gave the directory).
func worktree(ctx context.Context, repoDir, workDir, commit string) (string, func(), error) {
	parent, keep := workDir, workDir != ""
	if !keep {
		tmp, err := os.MkdirTemp("", version.Program+"-verify-")
		if err != nil {
			return "", nil, err
		}
		parent = tmp
	} else if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, err
	}
	dir := filepath.Join(parent, "src")
	if _, err := pipeline.Git(ctx, repoDir, "worktree", "add", "--quiet", "--detach", dir, commit); err != nil {
		if !keep {
			os.RemoveAll(parent)
		}
		return "", nil, err
	}
	cleanup := func() {
		if keep {
			return
		}
		// A background context: a cancelled verification still removes its worktree.
		pipeline.Git(context.Background(), repoDir, "worktree", "remove", "--force", dir)
		removeAll(parent)
		pipeline.Git(context.Background(), repoDir, "worktree", "prune")
	}
	return dir, cleanup, nil
}

// checkLock refuses a tag whose upstream.lock does not build the version it names: such a
// tag was not made by a release.
func checkLock(dir string, v releaseversion.Version) error {
	lock, err := upstream.Load(filepath.Join(dir, "upstream.lock"))
	if err != nil {
		return fmt.Errorf("tag %s: %w", v, err)
	}
	if k := lock.Kubernetes().Version; k != v.Kubernetes() || lock.Revision != v.Revision() {
		return fmt.Errorf("tag %s holds an upstream.lock for Kubernetes %s at revision %d; a release of %s would lock Kubernetes %s at revision %d",
			v, k, lock.Revision, v, v.Kubernetes(), v.Revision())
	}
	return nil
}

// removeAll deletes a directory tree, including the read-only files the go command leaves
// in module caches.
func removeAll(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}
