//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/sequence"
	"github.com/distro-io/distro/release/steps/guard"
)

// Aliases makes `mage release` run the whole release (release:run) and `mage conformance`
// the certified conformance run (conformance:run).
var Aliases = map[string]interface{}{
	"release":     Release.Run,
	"conformance": Conformance.Run,
}

// defaultRepository is where releases are published unless DISTRO_GITHUB_REPO says otherwise.
const defaultRepository = "distro-io/distro"

// Run makes a release (also `mage release`). It is a dry run unless DISTRO_PUBLISH=1:
// every artifact lands in dist/ (distro, sha256sum-amd64.txt, the SBOM, the airgap
// images and their list), with release-notes.md and CHANGELOG.md, and the GitHub release
// it would create is printed. The binary is stamped with the release's version, a
// candidate's included. Steps: preflight, guard (clean tree, patches:check, strip:audit,
// upstream:verify, unit tests), version, build, artifacts, images, sbom, checksums, notes,
// existing-release, changelog, publish.
//
// Settings (environment):
//
//	DISTRO_PUBLISH=1             publish: commit CHANGELOG.md and create the GitHub release
//	GITHUB_TOKEN                 token for publishing; in a dry run it also lets the run ask
//	                             GitHub whether the version is already published
//	DISTRO_GITHUB_REPO           owner/name to publish to (default distro-io/distro)
//	DISTRO_GITHUB_API            GitHub Enterprise base URL, e.g. https://github.example.com/
//	DISTRO_GITHUB_UPLOADS        its upload URL, if not the same host
//	DISTRO_RELEASE_VERSION       the version to release (default: release:next)
//	DISTRO_RELEASE_CANDIDATE=1   release the next candidate (release:nextCandidate)
//	DISTRO_RELEASE_KEEP_DRAFT=1  leave the GitHub release a draft
//	DISTRO_RELEASE_REUSE_BUILD=1 dry run only: use dist/ and build/ as they are, no build
//	DISTRO_RELEASE_SKIP_CHECKS=1 dry run only: do not run the guard's checks
func (Release) Run(ctx context.Context) error {
	cfg, c, err := releaseSetup()
	if err != nil {
		return err
	}
	return pipeline.Run(ctx, c, sequence.Release(cfg), os.Stdout)
}

// Notes writes the release notes for HEAD to dist/release-notes.md and prints them.
// DISTRO_RELEASE_VERSION and DISTRO_RELEASE_CANDIDATE apply as for release.
func (Release) Notes(ctx context.Context) error {
	cfg, c, err := releaseSetup()
	if err != nil {
		return err
	}
	if err := pipeline.Run(ctx, c, sequence.Notes(cfg), os.Stderr); err != nil {
		return err
	}
	fmt.Print(c.Notes)
	return nil
}

// SBOM writes dist/distro-sbom-amd64.cdx.json (CycloneDX) from the modules linked into
// build/distro and the upstream modules in upstream.lock. Build first; this target does
// not. DISTRO_RELEASE_VERSION and DISTRO_RELEASE_CANDIDATE apply as for release.
func (Release) SBOM(ctx context.Context) error {
	cfg, c, err := releaseSetup()
	if err != nil {
		return err
	}
	return pipeline.Run(ctx, c, sequence.SBOM(cfg), os.Stdout)
}

// releaseSetup reads the settings from the environment and wires the steps to the real
// checks, build and GitHub.
func releaseSetup() (sequence.Config, *pipeline.Context, error) {
	c, err := sequence.NewContext(".")
	if err != nil {
		return sequence.Config{}, nil, err
	}
	c.Out = os.Stdout
	c.Publish = envOn("DISTRO_PUBLISH")
	cfg := sequence.Config{
		Checks: []guard.Check{
			{Name: "patches:check", Run: func(context.Context) error { return Patches{}.Check() }},
			{Name: "strip:audit", Run: Strip{}.Audit},
			{Name: "upstream:verify", Run: Upstream{}.Verify},
			{Name: "unit tests", Run: Unit},
		},
		Version:    os.Getenv("DISTRO_RELEASE_VERSION"),
		Candidate:  envOn("DISTRO_RELEASE_CANDIDATE"),
		Build:      releaseBuild,
		ReuseBuild: envOn("DISTRO_RELEASE_REUSE_BUILD"),
		Binary:     realBinaryPath,
		KeepDraft:  envOn("DISTRO_RELEASE_KEEP_DRAFT"),
	}
	if envOn("DISTRO_RELEASE_SKIP_CHECKS") {
		cfg.SkipChecks = "DISTRO_RELEASE_SKIP_CHECKS=1"
	}

	opts, err := githubOptions()
	if err != nil {
		return cfg, nil, err
	}
	// Without a token a dry run does not reach out to GitHub at all.
	if opts.Token != "" {
		if cfg.Releases, err = guard.NewGitHubReleases(opts); err != nil {
			return cfg, nil, err
		}
		if c.Publish {
			if c.Publisher, err = github.NewClient(opts); err != nil {
				return cfg, nil, err
			}
		}
	}
	return cfg, c, nil
}

// releaseBuild is build for one release: the binary stamped with the version the version
// step decided (a candidate's -rcM included, which upstream.lock cannot name), dist/distro,
// and the airgap images, so a release from a clean clone has every artifact.
func releaseBuild(ctx context.Context, c *pipeline.Context) error {
	mg.CtxDeps(ctx, Patches.Apply)
	if err := buildBinary(ctx, "build/go.work", realBinaryPath, c.Version.String()); err != nil {
		return err
	}
	mg.CtxDeps(ctx, Payload.Assemble)
	mg.CtxDeps(ctx, Images.Build)
	return nil
}

// githubOptions reads the repository, token and GitHub Enterprise URLs from the environment.
func githubOptions() (github.Options, error) {
	repo := os.Getenv("DISTRO_GITHUB_REPO")
	if repo == "" {
		repo = defaultRepository
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		return github.Options{}, fmt.Errorf("DISTRO_GITHUB_REPO=%q: want owner/name", repo)
	}
	opts := github.Options{Owner: owner, Repo: name, Token: os.Getenv("GITHUB_TOKEN"), APIURL: os.Getenv("DISTRO_GITHUB_API"), UploadURL: os.Getenv("DISTRO_GITHUB_UPLOADS")}
	if opts.APIURL != "" && opts.UploadURL == "" {
		// go-github derives /api/v3/ and /api/uploads/ from one Enterprise host.
		opts.UploadURL = opts.APIURL
	}
	return opts, nil
}

func envOn(name string) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes":
		return true
	}
	return false
}
