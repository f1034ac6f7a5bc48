package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/distro-io/distro/release/pipeline"
)

// PublishedRelease is a release GitHub shows to everyone (not a draft).
type PublishedRelease struct {
	Tag, URL string
	Assets   []PublishedAsset
}

// PublishedAsset is one asset of a published release.
type PublishedAsset struct {
	Name   string
	Size   int64
	SHA256 string // hex
}

// Releases finds published releases without changing anything, so a dry run may ask too.
type Releases interface {
	// Published returns the published release tagged tag, or nil if there is none
	// (a draft does not count: publishing reuses it).
	Published(ctx context.Context, tag string) (*PublishedRelease, error)
}

// Existing refuses a version that is already published with other assets than this
// run made. It runs after the artifacts exist and before anything is committed or
// uploaded. A release published with identical assets passes: re-running a finished
// release changes nothing.
type Existing struct {
	Releases Releases // nil when no repository is configured; the step then says it skipped
}

var _ pipeline.Step = Existing{}

// Name implements pipeline.Step.
func (Existing) Name() string { return "existing-release" }

// Run implements pipeline.Step.
func (e Existing) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	if !c.HasVersion() {
		return nil, fmt.Errorf("no version to look up; the version step runs first")
	}
	if e.Releases == nil {
		return pipeline.Skipped{Reason: "no GitHub repository configured to ask whether " + c.Version.String() + " is published"}, nil
	}
	tag := c.Version.String()
	pub, err := e.Releases.Published(ctx, tag)
	if err != nil {
		return nil, fmt.Errorf("looking for a published release %s: %w", tag, err)
	}
	if pub == nil {
		return pipeline.Done{Detail: tag + " is not published yet"}, nil
	}
	if diffs := compare(c.Artifacts, pub.Assets); len(diffs) > 0 {
		return nil, fmt.Errorf("refusing to release %s: it is already published (%s) with different assets: %s",
			tag, pub.URL, strings.Join(diffs, "; "))
	}
	return pipeline.Done{Detail: fmt.Sprintf("%s is already published with these %d identical assets", tag, len(pub.Assets))}, nil
}

// compare lists every difference between the local artifacts and a release's assets.
func compare(local []pipeline.Artifact, remote []PublishedAsset) []string {
	var diffs []string
	byName := map[string]PublishedAsset{}
	for _, r := range remote {
		byName[r.Name] = r
	}
	var names []string
	for _, a := range local {
		names = append(names, a.Name)
		r, ok := byName[a.Name]
		if !ok {
			diffs = append(diffs, a.Name+" is not on the release")
			continue
		}
		size, sum, err := digestFile(a.Path)
		switch {
		case err != nil:
			diffs = append(diffs, fmt.Sprintf("%s: %v", a.Name, err))
		case size != r.Size || sum != r.SHA256:
			diffs = append(diffs, fmt.Sprintf("%s differs (published %d bytes sha256 %s, local %d bytes sha256 %s)", a.Name, r.Size, r.SHA256, size, sum))
		}
	}
	for _, r := range remote {
		if !slices.Contains(names, r.Name) {
			diffs = append(diffs, r.Name+" is on the release but not made by this run")
		}
	}
	return diffs
}

func digestFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
