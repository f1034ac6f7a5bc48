// Package publish puts the release on GitHub through release/github.PublishRelease, or,
// in a dry run (the default), prints what it would create and upload.
package publish

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/steps/checksums"
)

// Step is the publish step.
type Step struct {
	// KeepDraft leaves the release a draft for a person to publish after review.
	KeepDraft bool
}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "publish" }

// Plan is what the step hands to PublishRelease: the release tagged at the commit the
// guard recorded (the commit that was built, so rebuilding from the tag reproduces it)
// with the notes as its body.
func Plan(c *pipeline.Context, keepDraft bool) (github.Plan, error) {
	if !c.HasVersion() {
		return github.Plan{}, errors.New("no version; the version step runs first")
	}
	if c.Commit == "" {
		return github.Plan{}, errors.New("no commit recorded; the guard step runs first")
	}
	if c.Notes == "" {
		return github.Plan{}, errors.New("no release notes; the notes step runs first")
	}
	if len(c.Artifacts) == 0 {
		return github.Plan{}, errors.New("no artifacts to publish")
	}
	plan := github.Plan{Release: github.ReleaseFor(c.Version, c.Commit, c.Notes), KeepDraft: keepDraft}
	for _, a := range c.Artifacts {
		plan.Assets = append(plan.Assets, github.Asset{Name: a.Name, Path: a.Path})
	}
	return plan, nil
}

// Run implements pipeline.Step.
func (s Step) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	plan, err := Plan(c, s.KeepDraft)
	if err != nil {
		return nil, err
	}
	if !c.Publish {
		if err := s.describe(c, plan); err != nil {
			return nil, err
		}
		return pipeline.Skipped{Reason: fmt.Sprintf("dry run: would publish %s with %d assets (publishing needs DISTRO_PUBLISH=1 and GITHUB_TOKEN)", plan.Release.Tag, len(plan.Assets))}, nil
	}
	if c.Publisher == nil {
		return nil, errors.New("publishing needs a GitHub token (GITHUB_TOKEN)")
	}
	report, err := github.PublishRelease(ctx, c.Publisher, plan)
	for _, u := range report.Uploads {
		c.Printf("publish: %s: %s (%d bytes, sha256 %s)\n", u.Name, u.Outcome, u.Size, u.SHA256)
	}
	if err != nil {
		return nil, err
	}
	uploaded := 0
	for _, u := range report.Uploads {
		if u.Outcome == github.Uploaded {
			uploaded++
		}
	}
	state := "published"
	if report.Release.Draft {
		state = "kept as a draft"
	}
	return pipeline.Done{Detail: fmt.Sprintf("%s %s: %d assets uploaded, %d already present; %s",
		state, report.Release.Tag, uploaded, len(report.Uploads)-uploaded, report.Release.HTMLURL)}, nil
}

// describe prints the release and every asset with its size and checksum.
func (s Step) describe(c *pipeline.Context, plan github.Plan) error {
	kind := "release"
	if plan.Release.Prerelease {
		kind = "pre-release"
	}
	c.Printf("publish (dry run): would create a draft %s %q tagged %s at %.12s, body %d bytes of notes\n",
		kind, plan.Release.Name, plan.Release.Tag, plan.Release.Commitish, len(plan.Release.Body))
	for _, a := range plan.Assets {
		st, err := os.Stat(a.Path)
		if err != nil {
			return fmt.Errorf("asset %s: %w", a.Name, err)
		}
		sum, err := checksums.SHA256File(a.Path)
		if err != nil {
			return fmt.Errorf("asset %s: %w", a.Name, err)
		}
		c.Printf("publish (dry run): would upload %-40s %12d bytes  sha256 %s\n", a.Name, st.Size(), sum)
	}
	if s.KeepDraft {
		c.Printf("publish (dry run): would leave the release a draft\n")
	} else {
		c.Printf("publish (dry run): would then publish it\n")
	}
	return nil
}
