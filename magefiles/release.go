//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/upstream"
	"github.com/distro-io/distro/release/verify"
	releaseversion "github.com/distro-io/distro/release/version"
)

// Release names and publishes distro releases.
type Release mg.Namespace

// Next prints the version the next release gets: the Kubernetes version and revision in
// upstream.lock, with the revision moved past any release of that version already tagged.
func (Release) Next(ctx context.Context) error {
	return printNext(ctx, releaseversion.Next)
}

// NextCandidate prints the version the next release candidate gets (vX.Y.Z-rcM+distroN).
func (Release) NextCandidate(ctx context.Context) error {
	return printNext(ctx, releaseversion.NextCandidate)
}

func printNext(ctx context.Context, next func(string, int, []string) (releaseversion.Version, error)) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	tags, err := releaseversion.TagsFromGit(ctx, ".")
	if err != nil {
		return err
	}
	v, err := next(lock.Kubernetes().Version, lock.Revision, tags)
	if err != nil {
		return err
	}
	fmt.Println(v)
	return nil
}

// Verify rebuilds release VERSION from its git tag and compares every file its published
// sha256sum-amd64.txt lists with the rebuild, one line per file; it fails unless all
// match. VERSION is a release's tag, such as v1.37.2+distro1. The tag is checked out into a temporary git worktree, where
// the tag's own release pipeline runs as a dry run with the version given (its build,
// reproducible flags, version stamp) and the guard's checks skipped; the repository itself
// is not touched. The checksum file comes from the published GitHub release through the
// GitHub API (DISTRO_GITHUB_REPO, DISTRO_GITHUB_API and GITHUB_TOKEN as for release; a
// public repository needs no token), or from DISTRO_VERIFY_SUMS=path. DISTRO_VERIFY_WORK_DIR
// keeps the worktree there for inspection. Fetch the tag first (git fetch origin tag VERSION).
func (Release) Verify(ctx context.Context, version string) error {
	v, err := releaseversion.Parse(version)
	if err != nil {
		return err
	}
	var sums verify.Sums
	if path := os.Getenv("DISTRO_VERIFY_SUMS"); path != "" {
		sums = verify.LocalFile(path)
	} else {
		opts, err := githubOptions()
		if err != nil {
			return err
		}
		sums = verify.GitHub{Options: opts}
	}
	rep, err := verify.Run(ctx, verify.Options{
		RepoDir: ".", Version: v, Sums: sums, Build: verify.MageBuild,
		WorkDir: os.Getenv("DISTRO_VERIFY_WORK_DIR"), Out: os.Stderr,
	})
	rep.Write(os.Stdout)
	return err
}
