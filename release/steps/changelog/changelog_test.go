package changelog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distro-io/distro/release/pipeline"
	"github.com/distro-io/distro/release/pipeline/pipelinetest"
)

var releaseDay = time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC)

func TestParseRoundTrip(t *testing.T) {
	cl, err := Parse(pipelinetest.ChangelogText)
	if err != nil {
		t.Fatal(err)
	}
	if got := cl.String(); got != pipelinetest.ChangelogText {
		t.Errorf("round trip changed the text:\n%s", got)
	}
	if s := cl.Section("Unreleased"); s == nil || !strings.HasPrefix(s.Body, "### Added\n- Airgap images") {
		t.Errorf("Unreleased = %+v", s)
	}
	if s := cl.Section("v1.37.2+distro1"); s == nil || s.Heading != "## [v1.37.2+distro1] - 2026-01-10" {
		t.Errorf("release section = %+v", s)
	}
}

func TestReleaseMovesUnreleasedItems(t *testing.T) {
	cl, err := Parse(pipelinetest.ChangelogText)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := cl.Release("v1.37.2+distro2", releaseDay)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	want := `# Changelog

All notable changes to distro are documented in this file.

## [Unreleased]

## [v1.37.2+distro2] - 2026-02-03

### Added
- Airgap images imported at agent start.

### Fixed
- The agent waits for containerd before starting the kubelet.

## [v1.37.2+distro1] - 2026-01-10

### Added
- First release.
`
	if got := cl.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Releasing the same version again changes nothing.
	if changed, err := cl.Release("v1.37.2+distro2", releaseDay); changed || err != nil {
		t.Errorf("second release: changed=%v err=%v", changed, err)
	}
	// The next release finds Unreleased empty and says so rather than writing an empty section.
	if _, err := cl.Release("v1.37.2+distro3", releaseDay); err != nil {
		t.Fatal(err)
	}
	if s := cl.Section("v1.37.2+distro3"); s == nil || s.Body != "No notable changes." {
		t.Errorf("empty release section = %+v", s)
	}
}

func TestReleaseUpdatesCompareLinks(t *testing.T) {
	text := pipelinetest.ChangelogText + `
[Unreleased]: https://github.com/distro-io/distro/compare/v1.37.2+distro1...HEAD
[v1.37.2+distro1]: https://github.com/distro-io/distro/releases/tag/v1.37.2+distro1
`
	cl, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Links) != 2 {
		t.Fatalf("links %q", cl.Links)
	}
	if _, err := cl.Release("v1.37.2+distro2", releaseDay); err != nil {
		t.Fatal(err)
	}
	out := cl.String()
	for _, want := range []string{
		"[Unreleased]: https://github.com/distro-io/distro/compare/v1.37.2+distro2...HEAD\n" +
			"[v1.37.2+distro2]: https://github.com/distro-io/distro/compare/v1.37.2+distro1...v1.37.2+distro2\n" +
			"[v1.37.2+distro1]: https://github.com/distro-io/distro/releases/tag/v1.37.2+distro1\n",
	} {
		if !strings.HasSuffix(out, want) {
			t.Errorf("links at the end:\n%s", out)
		}
	}
}

func TestParseAndReleaseErrors(t *testing.T) {
	if _, err := Parse("# Changelog\n\n## [v1]\n\n## [v1]\n"); err == nil || !strings.Contains(err.Error(), "second section [v1]") {
		t.Errorf("duplicate section: %v", err)
	}
	cl, err := Parse("# Changelog\n\n## [v1] - 2026-01-01\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Release("v2", releaseDay); err == nil || !strings.Contains(err.Error(), `"## [Unreleased]"`) {
		t.Errorf("no Unreleased section: %v", err)
	}
}

func TestStepDryRunWritesDist(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	c := repo.Context()
	c.Version = pipelinetest.Version(t, "v1.37.2+distro2")
	res, err := Step{Now: func() time.Time { return releaseDay }}.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.(pipeline.Done); !ok {
		t.Errorf("result %#v", res)
	}
	got, err := os.ReadFile(filepath.Join(c.DistDir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "## [v1.37.2+distro2] - 2026-02-03\n\n### Added\n- Airgap images") {
		t.Errorf("dist/CHANGELOG.md:\n%s", got)
	}
	// The repository's changelog is untouched, and nothing was committed.
	if orig, _ := os.ReadFile(filepath.Join(repo.Dir, FileName)); string(orig) != pipelinetest.ChangelogText {
		t.Error("a dry run changed CHANGELOG.md")
	}
	if n := repo.Git("rev-list", "--count", "HEAD"); n != "1" {
		t.Errorf("%s commits after a dry run", n)
	}
}

func TestStepPublishCommits(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	c := repo.Context()
	c.Publish = true
	c.Version = pipelinetest.Version(t, "v1.37.2+distro2")
	step := Step{Now: func() time.Time { return releaseDay }}
	if _, err := step.Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if subj := repo.Git("log", "-1", "--format=%s"); subj != "CHANGELOG: v1.37.2+distro2" {
		t.Errorf("last commit %q", subj)
	}
	if files := repo.Git("show", "--name-only", "--format=", "HEAD"); files != "CHANGELOG.md" {
		t.Errorf("the commit holds %q", files)
	}
	if st := repo.Git("status", "--porcelain"); st != "" {
		t.Errorf("tree dirty after the commit: %s", st)
	}
	if committed := repo.Git("show", "HEAD:CHANGELOG.md"); !strings.Contains(committed, "## [v1.37.2+distro2] - 2026-02-03") {
		t.Errorf("committed changelog:\n%s", committed)
	}
	// Re-running the release skips, saying why, and commits nothing more.
	res, err := step.Run(context.Background(), c)
	if s, ok := res.(pipeline.Skipped); err != nil || !ok || !strings.Contains(s.Reason, "already has") {
		t.Fatalf("re-run: %#v, %v", res, err)
	}
	if n := repo.Git("rev-list", "--count", "HEAD"); n != "2" {
		t.Errorf("%s commits after the re-run", n)
	}
}

func TestStepWithoutChangelog(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	repo.Git("rm", "-q", FileName)
	repo.Commit("no changelog")
	c := repo.Context()
	c.Version = pipelinetest.Version(t, "v1.37.2+distro2")
	if _, err := (Step{}).Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "CHANGELOG.md") {
		t.Fatalf("err = %v", err)
	}
}

func TestStepLeavesTheChangelogToTheReleaseOfACandidate(t *testing.T) {
	repo := pipelinetest.NewRepo(t)
	c := repo.Context()
	c.Publish = true
	c.Version = pipelinetest.Version(t, "v1.37.2-rc1+distro2")
	res, err := Step{Now: func() time.Time { return releaseDay }}.Run(context.Background(), c)
	if s, ok := res.(pipeline.Skipped); err != nil || !ok || !strings.Contains(s.Reason, "v1.37.2+distro2") {
		t.Fatalf("candidate: %#v, %v", res, err)
	}
	if orig, _ := os.ReadFile(filepath.Join(repo.Dir, FileName)); string(orig) != pipelinetest.ChangelogText {
		t.Error("a candidate changed CHANGELOG.md")
	}
	if n := repo.Git("rev-list", "--count", "HEAD"); n != "1" {
		t.Errorf("%s commits after a candidate", n)
	}
}
