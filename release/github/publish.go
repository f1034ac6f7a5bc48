package github

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Plan is what the release pipeline's publish step hands to PublishRelease.
type Plan struct {
	Release Release
	Assets  []Asset
	// KeepDraft stops before publishing, for a person to review the draft.
	KeepDraft bool
}

// Report says what PublishRelease did, as far as it got.
type Report struct {
	Release ReleaseRef
	Uploads []UploadResult
}

// PublishRelease makes the release on GitHub hold exactly the plan's assets and
// publishes it: draft first, every asset uploaded and verified (or skipped when
// already identical), then draft→published. Running it again after a failure
// finishes the job. A published release is never changed: if its assets differ from
// the plan, PublishRelease refuses.
func PublishRelease(ctx context.Context, p Publisher, plan Plan) (Report, error) {
	names := make([]string, 0, len(plan.Assets))
	for _, a := range plan.Assets {
		if slices.Contains(names, a.Name) {
			return Report{}, fmt.Errorf("release %s: asset name %q appears twice", plan.Release.Tag, a.Name)
		}
		names = append(names, a.Name)
	}

	ref, err := p.EnsureDraft(ctx, plan.Release)
	report := Report{Release: ref}
	if err != nil {
		return report, err
	}
	if !ref.Draft {
		// Compare the whole set first, so the refusal names every difference at once.
		if err := checkAssetSet(ctx, p, ref, names); err != nil {
			return report, err
		}
	}
	for _, a := range plan.Assets {
		res, err := p.Upload(ctx, ref, a)
		if err != nil {
			return report, err
		}
		report.Uploads = append(report.Uploads, res)
	}
	if err := checkAssetSet(ctx, p, ref, names); err != nil {
		return report, err
	}
	if plan.KeepDraft {
		return report, nil
	}
	report.Release, err = p.Publish(ctx, ref)
	return report, err
}

// checkAssetSet fails unless the release holds exactly the named assets.
func checkAssetSet(ctx context.Context, p Publisher, ref ReleaseRef, want []string) error {
	remote, err := p.Assets(ctx, ref)
	if err != nil {
		return err
	}
	var have, extra, missing []string
	for _, r := range remote {
		have = append(have, r.Name)
		if !slices.Contains(want, r.Name) {
			extra = append(extra, r.Name)
		}
	}
	for _, n := range want {
		if !slices.Contains(have, n) {
			missing = append(missing, n)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return nil
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		problems = append(problems, "not part of this release: "+strings.Join(extra, ", "))
	}
	if !ref.Draft {
		return fmt.Errorf("release %s: %w with different assets (%s); refusing to change it", ref.Tag, ErrPublished, strings.Join(problems, "; "))
	}
	return fmt.Errorf("draft release %s holds other assets than planned (%s); delete them from the draft or add them to the release", ref.Tag, strings.Join(problems, "; "))
}
