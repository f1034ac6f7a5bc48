//go:build mage

package main

import (
	"context"
	"fmt"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/upstream"
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
