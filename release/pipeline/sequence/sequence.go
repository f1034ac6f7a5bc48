// Package sequence is the order of the release steps, and the shorter sequences that
// make one part of a release on its own (the notes, the SBOM). The mage targets and
// the pipeline test build their runs from here, so both run the same list.
package sequence

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/steps/artifacts"
	"github.com/distro-io/distro/release/steps/build"
	"github.com/distro-io/distro/release/steps/changelog"
	"github.com/distro-io/distro/release/steps/checksums"
	"github.com/distro-io/distro/release/steps/guard"
	"github.com/distro-io/distro/release/steps/images"
	"github.com/distro-io/distro/release/steps/notes"
	"github.com/distro-io/distro/release/steps/preflight"
	"github.com/distro-io/distro/release/steps/publish"
	"github.com/distro-io/distro/release/steps/sbom"
	"github.com/distro-io/distro/release/steps/version"
	"github.com/distro-io/distro/release/upstream"
)

// Config wires the steps to the outside world.
type Config struct {
	// Checks are what the guard runs (patches:check, strip:audit, upstream:verify, the
	// unit tests); SkipChecks, when set, says why they are not run (dry runs only).
	Checks     []guard.Check
	SkipChecks string

	// Version is the version to release; empty means the next one after the tags.
	// Candidate asks for the next release candidate instead.
	Version   string
	Candidate bool

	// Build makes dist/distro (and the airgap images, if the node build does);
	// ReuseBuild takes dist/ as it is (dry runs only).
	Build      func(ctx context.Context, c *pipeline.Context) error
	ReuseBuild bool

	// Binary is the multicall binary the SBOM reads, relative to the repository.
	Binary string
	// ModCache is the Go module cache; empty asks the go command.
	ModCache string

	// Releases asks GitHub whether the version is already published; nil skips that
	// check, saying so.
	Releases guard.Releases
	// KeepDraft leaves the release a draft.
	KeepDraft bool
	// Now dates the CHANGELOG section; nil means time.Now.
	Now func() time.Time
}

// DefaultBinary is where the build puts the multicall binary.
const DefaultBinary = "build/distro"

func (cfg Config) binary() string {
	if cfg.Binary == "" {
		return DefaultBinary
	}
	return cfg.Binary
}

// Release is the whole release: check that publishing can work before anything else,
// refuse a dirty tree or failing checks, decide the version, build, collect and
// describe the artifacts, refuse a version published with other assets, then write the
// CHANGELOG and publish.
func Release(cfg Config) []pipeline.Step {
	return []pipeline.Step{
		preflight.Step{},
		guard.Tree{Checks: cfg.Checks, SkipChecks: cfg.SkipChecks},
		version.Step{Given: cfg.Version, Candidate: cfg.Candidate},
		build.Step{Build: cfg.Build, Reuse: cfg.ReuseBuild},
		artifacts.Step{},
		images.Step{},
		sbom.Step{Binary: cfg.binary()},
		checksums.Step{},
		notes.Step{ModCache: cfg.ModCache},
		guard.Existing{Releases: cfg.Releases},
		changelog.Step{Now: cfg.Now},
		publish.Step{KeepDraft: cfg.KeepDraft},
	}
}

// Notes makes only the release notes, for the commit checked out.
func Notes(cfg Config) []pipeline.Step {
	return []pipeline.Step{head{}, version.Step{Given: cfg.Version, Candidate: cfg.Candidate}, notes.Step{ModCache: cfg.ModCache}}
}

// SBOM makes only the SBOM, from the binary already built.
func SBOM(cfg Config) []pipeline.Step {
	return []pipeline.Step{head{}, version.Step{Given: cfg.Version, Candidate: cfg.Candidate}, sbom.Step{Binary: cfg.binary()}}
}

// NewContext returns a dry-run Context for the repository at repoDir, with upstream.lock
// loaded and artifacts going to repoDir/dist.
func NewContext(repoDir string) (*pipeline.Context, error) {
	lock, err := upstream.Load(filepath.Join(repoDir, "upstream.lock"))
	if err != nil {
		return nil, err
	}
	return &pipeline.Context{RepoDir: repoDir, DistDir: filepath.Join(repoDir, "dist"), Lock: lock}, nil
}

// head records HEAD as the commit for the partial sequences, which build nothing and
// so do not need the guard's clean tree.
type head struct{}

func (head) Name() string { return "commit" }

func (head) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	out, err := pipeline.Git(ctx, c.RepoDir, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	c.Commit = strings.TrimSpace(out)
	return pipeline.Done{Detail: "HEAD is " + c.Commit[:min(12, len(c.Commit))] + " (the tree is not checked)"}, nil
}
