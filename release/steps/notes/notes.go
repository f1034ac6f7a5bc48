// Package notes writes the release notes: what changed since the previous release (the
// CHANGELOG section and the commit subjects), the upstream Kubernetes changelog, the
// embedded component versions from upstream.lock, and the conformance summary when
// results for the version exist.
package notes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/steps/changelog"
	releaseversion "github.com/distro-io/distro/release/version"
)

// File is where the notes are written in dist/. It is the release's body, not an asset.
const File = "release-notes.md"

// Step is the notes step.
type Step struct {
	// ModCache is the Go module cache, where the SQLite version is read from the
	// go-sqlite3 module; empty asks `go env GOMODCACHE`.
	ModCache string
}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "notes" }

// Run implements pipeline.Step.
func (s Step) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	n, err := Collect(ctx, c, s.ModCache)
	if err != nil {
		return nil, err
	}
	c.Notes = n.Markdown()
	if err := os.MkdirAll(c.DistDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(c.DistDir, File)
	if err := os.WriteFile(path, []byte(c.Notes), 0o644); err != nil {
		return nil, err
	}
	since := "(first release)"
	if n.Previous != "" {
		since = "since " + n.Previous
	}
	conf := "no conformance results"
	if n.Conformance != nil {
		conf = "conformance " + n.Conformance.Short()
	}
	return pipeline.Done{Detail: fmt.Sprintf("%s: %d commits %s, %d components, %s", path, len(n.Commits), since, len(n.Components), conf)}, nil
}

// Notes is what the release notes say, before formatting.
type Notes struct {
	Version  releaseversion.Version
	Previous string // the previous release's tag; empty for the first release
	// Changelog is the CHANGELOG.md section for the release (or the Unreleased one
	// before the changelog step has run); ChangelogName says which.
	Changelog, ChangelogName string
	Commits                  []string // subjects, newest first
	Components               []Component
	Conformance              *Conformance
	// ConformanceDir is where results were looked for.
	ConformanceDir string
}

// Collect gathers the notes from the repository.
func Collect(ctx context.Context, c *pipeline.Context, modCache string) (*Notes, error) {
	if !c.HasVersion() {
		return nil, fmt.Errorf("no version; the version step runs first")
	}
	if c.Lock == nil {
		return nil, fmt.Errorf("no upstream.lock loaded")
	}
	n := &Notes{Version: c.Version}
	tags, err := releaseversion.TagsFromGit(ctx, c.RepoDir)
	if err != nil {
		return nil, err
	}
	if n.Previous, err = Previous(c.Version, tags); err != nil {
		return nil, err
	}
	end := c.Commit
	if end == "" {
		end = "HEAD"
	}
	rng := end
	if n.Previous != "" {
		rng = n.Previous + ".." + end
	}
	log, err := pipeline.Git(ctx, c.RepoDir, "log", "--no-merges", "--format=%s", rng)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l != "" {
			n.Commits = append(n.Commits, l)
		}
	}
	if n.Changelog, n.ChangelogName, err = changelogSection(c.RepoDir, c.Version.String()); err != nil {
		return nil, err
	}
	if n.Components, err = Components(ctx, c.Lock, c.RepoDir, modCache); err != nil {
		return nil, err
	}
	n.ConformanceDir = filepath.Join(c.RepoDir, "conformance", "results", c.Version.String())
	if n.Conformance, err = ReadConformance(n.ConformanceDir); err != nil {
		return nil, err
	}
	return n, nil
}

// Previous returns the tag of the release before v: the highest release tag below it.
// Candidates count only as the predecessor of another candidate of the same release,
// so a release's notes cover everything since the last release.
func Previous(v releaseversion.Version, tags []string) (string, error) {
	vs, err := releaseversion.Versions(tags)
	if err != nil {
		return "", err
	}
	var best *releaseversion.Version
	for i := range vs {
		p := vs[i]
		if !p.Less(v) {
			continue
		}
		if p.IsCandidate() && !(v.IsCandidate() && p.Release() == v.Release()) {
			continue
		}
		if best == nil || best.Less(p) {
			best = &p
		}
	}
	if best == nil {
		return "", nil
	}
	return best.String(), nil
}

func changelogSection(repoDir, v string) (body, name string, err error) {
	data, err := os.ReadFile(filepath.Join(repoDir, changelog.FileName))
	if os.IsNotExist(err) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	cl, err := changelog.Parse(string(data))
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", changelog.FileName, err)
	}
	for _, name := range []string{v, changelog.Unreleased} {
		if s := cl.Section(name); s != nil {
			return s.Body, name, nil
		}
	}
	return "", "", nil
}

// UpstreamChangelog links Kubernetes' changelog entry for vX.Y.Z.
func UpstreamChangelog(k8s string) string {
	minor := k8s
	if parts := strings.SplitN(strings.TrimPrefix(k8s, "v"), ".", 3); len(parts) == 3 {
		minor = parts[0] + "." + parts[1]
	}
	return fmt.Sprintf("https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-%s.md#%s", minor, strings.ReplaceAll(k8s, ".", ""))
}

// Markdown formats the notes.
func (n *Notes) Markdown() string {
	var b strings.Builder
	k8s := n.Version.Kubernetes()
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s %s carries Kubernetes [%s](%s) with revision %d of %s's own changes.\n",
		version.Program, n.Version, k8s, UpstreamChangelog(k8s), n.Version.Revision(), version.Program)
	if n.Version.IsCandidate() {
		p("\nThis is release candidate %d, published as a pre-release.\n", n.Version.Candidate())
	}

	if n.Previous != "" {
		p("\n## Changes since %s\n", n.Previous)
	} else {
		p("\n## Changes\n\nThis is the first release.\n")
	}
	if n.Changelog != "" {
		// The changelog's "###" headings already sit one level below this section.
		p("\n%s\n", n.Changelog)
	}
	if len(n.Commits) > 0 {
		p("\n### Commits\n\n")
		for _, c := range n.Commits {
			p("- %s\n", c)
		}
	} else {
		p("\nNo commits since %s.\n", n.Previous)
	}

	p("\n## Embedded component versions\n\n| Component | Version | Source |\n| --- | --- | --- |\n")
	for _, c := range n.Components {
		p("| %s | %s | %s |\n", c.Name, c.Version, c.Source)
	}
	p("\nUpstream changelog: %s\n", UpstreamChangelog(k8s))

	p("\n## Conformance\n\n")
	if n.Conformance == nil {
		p("No conformance results for this version yet.\n")
	} else {
		p("%s\n", n.Conformance.Markdown())
	}
	return b.String()
}
