//go:build mage

package main

import (
	"context"
	"os"

	"github.com/distro-io/distro/release/track"
)

// Track turns a new upstream Kubernetes patch release into a pull request; dry run unless
// TRACK_OPEN_PR=1. It finds the newest patch release of each tracked minor on the Go module
// proxy (authoritative) and in GitHub releases, and for each newer than a branch's lock makes
// upstream/vX.Y.Z in a work clone: lock, go.mod and go.sum moved, patches re-applied, build,
// test and conformance:quick run, then pushed, and a pull request opened or refreshed.
// Settings: TRACK_OPEN_PR=1 to act (with GITHUB_TOKEN); TRACK_REPO=owner/name (or
// GITHUB_REPOSITORY); TRACK_MINORS=1.35,1.36,1.37 (default: the lock's minor);
// TRACK_REMOTE (default: origin); TRACK_BASE (main); TRACK_RELEASE_BRANCH (release-%s);
// TRACK_PRERELEASES=1; TRACK_UPSTREAM_REPO (kubernetes/kubernetes, "-" for none);
// TRACK_GITHUB_API_URL and TRACK_GITHUB_UPLOAD_URL; TRACK_WORK_DIR; TRACK_RERUN=1;
// TRACK_REOPEN=1 to take up again a version whose pull request a person closed (left alone
// otherwise). Older patch releases' pull requests are closed as superseded; the needs-human
// label follows the latest run.
func (Upstream) Track(ctx context.Context) error {
	o, err := track.ConfigFromEnv(os.Getenv).Complete(ctx, os.Stderr)
	if err != nil {
		return err
	}
	o.Steps = track.MageSteps()
	rep, err := track.Run(ctx, o)
	rep.WriteSummary(os.Stdout)
	return err
}
