// Package preflight checks, before anything is built, that a publishing run can publish:
// a publisher is configured and its token may write to the repository.
package preflight

import (
	"context"
	"errors"

	"github.com/distro-io/distro/release/pipeline"
)

// Step is the preflight step.
type Step struct{}

var _ pipeline.Step = Step{}

// ErrNoPublisher is a publishing run without a GitHub client, which means no token.
var ErrNoPublisher = errors.New("publishing needs a GitHub token (GITHUB_TOKEN); without one, run a dry run")

// Name implements pipeline.Step.
func (Step) Name() string { return "preflight" }

// Run implements pipeline.Step.
func (Step) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	if !c.Publish {
		return pipeline.Skipped{Reason: "dry run: nothing is published, so no GitHub access is needed"}, nil
	}
	if c.Publisher == nil {
		return nil, ErrNoPublisher
	}
	if err := c.Publisher.Preflight(ctx); err != nil {
		return nil, err
	}
	return pipeline.Done{Detail: "the GitHub token may publish releases"}, nil
}
