// Package build is the release step that builds dist/distro. The build itself is
// injected: the mage wiring runs the build target, tests write a small file.
package build

import (
	"context"
	"errors"
	"fmt"

	"github.com/distro-io/distro/release/pipeline"
)

// Step is the build step.
type Step struct {
	// Build builds the release's files into c.DistDir.
	Build func(ctx context.Context, c *pipeline.Context) error
	// Reuse skips the build and takes what dist/ already holds. Only a dry run may:
	// a published binary must come from this run's commit.
	Reuse bool
}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "build" }

// Run implements pipeline.Step.
func (s Step) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	if s.Reuse {
		if c.Publish {
			return nil, errors.New("reusing an earlier build is for dry runs only; a published release is built by the release itself")
		}
		return pipeline.Skipped{Reason: "reusing the files already in " + c.DistDir + " (dry run)"}, nil
	}
	if s.Build == nil {
		return nil, errors.New("no build configured")
	}
	if err := s.Build(ctx, c); err != nil {
		return nil, fmt.Errorf("building %s: %w", c.Version, err)
	}
	return pipeline.Done{Detail: "built " + c.Version.String()}, nil
}
