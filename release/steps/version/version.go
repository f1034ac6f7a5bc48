// Package version decides which version a release gets: the one given, or the next one
// after the git tags (release:next), and checks it agrees with upstream.lock.
package version

import (
	"context"
	"fmt"

	"github.com/distro-io/distro/release/pipeline"
	releaseversion "github.com/distro-io/distro/release/version"
)

// Step is the version step.
type Step struct {
	// Given is the version asked for (vX.Y.Z+distroN or vX.Y.Z-rcM+distroN); empty
	// means the next release after the existing tags.
	Given string
	// Candidate asks for the next release candidate when Given is empty.
	Candidate bool
}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "version" }

// Run implements pipeline.Step.
func (s Step) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	if c.Lock == nil {
		return nil, fmt.Errorf("no upstream.lock loaded")
	}
	k8s := c.Lock.Kubernetes().Version
	how := "given"
	var v releaseversion.Version
	var err error
	if s.Given != "" {
		if v, err = releaseversion.Parse(s.Given); err != nil {
			return nil, err
		}
	} else {
		tags, err := releaseversion.TagsFromGit(ctx, c.RepoDir)
		if err != nil {
			return nil, err
		}
		next, how2 := releaseversion.Next, "next release after the tags"
		if s.Candidate {
			next, how2 = releaseversion.NextCandidate, "next release candidate after the tags"
		}
		if v, err = next(k8s, c.Lock.Revision, tags); err != nil {
			return nil, err
		}
		how = how2
	}
	if v.Kubernetes() != k8s {
		return nil, fmt.Errorf("version %s is built from Kubernetes %s, but upstream.lock pins %s", v, v.Kubernetes(), k8s)
	}
	// The build stamps the binary from the lock's revision, so a release whose N differs
	// would ship a binary calling itself something else.
	if v.Revision() != c.Lock.Revision {
		return nil, fmt.Errorf("version %s has revision %d, but upstream.lock has revision: %d and the binary is stamped from it (%s); set revision: %d in upstream.lock and commit",
			v, v.Revision(), c.Lock.Revision, c.Lock.ReleaseVersion(), v.Revision())
	}
	c.Version = v
	return pipeline.Done{Detail: fmt.Sprintf("%s (%s)", v, how)}, nil
}
