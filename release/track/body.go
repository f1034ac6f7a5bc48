package track

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/patchset"
	"github.com/distro-io/distro/release/steps/changelog"
	"github.com/distro-io/distro/release/track/detect"
	"github.com/distro-io/distro/release/upstream"
)

// BranchPrefix starts the name of every branch the tracker pushes: upstream/v1.37.3.
const BranchPrefix = "upstream/"

// NeedsHuman is the label of a pull request the tracker could not finish on its own.
const NeedsHuman = "needs-human"

// UpstreamChangelog links to the Kubernetes changelog section of a release.
func UpstreamChangelog(v string) string {
	anchor := strings.ReplaceAll(v, ".", "")
	return fmt.Sprintf("https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-%s.md#%s", detect.MinorOf(v), anchor)
}

// changelogEntry is the CHANGELOG.md item for a bump. It goes under [Unreleased]: the
// release pipeline names the version when it releases.
func changelogEntry(from, to *upstream.Lock) string {
	k := to.Kubernetes()
	return fmt.Sprintf("- Kubernetes %s (was %s) with its %d staging modules; released as %s. Upstream changes: %s",
		k.Version, from.Kubernetes().Version, len(to.ByRole(upstream.RoleStaging)), to.ReleaseVersion(), UpstreamChangelog(k.Version))
}

// changelogKind is the Keep a Changelog subsection a bump belongs to.
const changelogKind = "### Changed"

// addChangelogEntry adds the item to the [Unreleased] section of CHANGELOG.md, making the
// section when there is none; a repository without a changelog is left without one.
func addChangelogEntry(path, item string) (bool, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	cl, err := changelog.Parse(string(data))
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	sec := cl.Section(changelog.Unreleased)
	if sec == nil {
		cl.Sections = append([]changelog.Section{{Name: changelog.Unreleased, Heading: "## [" + changelog.Unreleased + "]"}}, cl.Sections...)
		sec = &cl.Sections[0]
	}
	sec.Body = addItem(sec.Body, item)
	return true, os.WriteFile(path, []byte(cl.String()), 0o644)
}

// addItem puts the item first under the section body's "### Changed", adding that heading
// above the other subsections when it is missing.
func addItem(body, item string) string {
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != changelogKind {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		lines = append(lines[:j], append([]string{item}, lines[j:]...)...)
		if j == i+1 {
			lines = append(lines[:j], append([]string{""}, lines[j:]...)...)
		}
		return strings.Join(lines, "\n")
	}
	if strings.TrimSpace(body) == "" {
		return changelogKind + "\n\n" + item
	}
	return changelogKind + "\n\n" + item + "\n\n" + body
}

// marker is hidden in the pull request body: the tree the results belong to, so a later run
// can tell whether they are still current without keeping state of its own.
var markerRE = regexp.MustCompile(`<!-- ` + regexp.QuoteMeta(version.Program) + `-track version=(\S+) tree=([0-9a-f]+) -->`)

func marker(v, tree string) string {
	return fmt.Sprintf("<!-- %s-track version=%s tree=%s -->", version.Program, v, tree)
}

// markedTree returns the tree recorded in a body, "" when there is none.
func markedTree(body string) string {
	if m := markerRE.FindStringSubmatch(body); m != nil {
		return m[2]
	}
	return ""
}

func title(to *upstream.Lock) string {
	return fmt.Sprintf("upstream: Kubernetes %s (%s)", to.Kubernetes().Version, to.ReleaseVersion())
}

// bodyInput is everything a pull request body shows.
type bodyInput struct {
	From, To *upstream.Lock
	Base     string
	Entry    string
	LockDiff string
	Notes    []string
	ApplyErr *patchset.ApplyError
	Steps    []StepResult
	Tree     string
	NeedsWhy []string
	// Replaces is the closed pull request this one is opened in place of, 0 for none.
	Replaces int
}

// maxBody keeps the body under GitHub's 65536-character limit, with room for the marker.
const maxBody = 60000

func renderBody(in bodyInput) string {
	var b strings.Builder
	k := in.To.Kubernetes().Version
	fmt.Fprintf(&b, "Kubernetes %s is out. This moves `%s` from %s to %s: upstream.lock (hashes verified through the go command, revision reset to 1), go.mod and go.sum, and re-applies `patches/`.\n\n",
		k, in.Base, in.From.Kubernetes().Version, k)
	if in.Replaces > 0 {
		fmt.Fprintf(&b, "Opened in place of #%d, which was closed and could not be reopened.\n\n", in.Replaces)
	}
	if len(in.NeedsWhy) > 0 {
		fmt.Fprintf(&b, "**Needs a person** (label `%s`):\n\n", NeedsHuman)
		for _, why := range in.NeedsWhy {
			fmt.Fprintf(&b, "- %s\n", why)
		}
		b.WriteString("\n")
	}
	if e := in.ApplyErr; e != nil {
		b.WriteString("### Patch that no longer applies\n\n")
		fmt.Fprintf(&b, "- patch: `%s`\n", e.Patch)
		if e.File != "" {
			fmt.Fprintf(&b, "- file: `%s`\n", e.File)
		}
		if e.Hunk > 0 {
			fmt.Fprintf(&b, "- hunk: #%d `%s`\n", e.Hunk, e.HunkHeader)
		}
		if e.Detail != "" {
			fmt.Fprintf(&b, "- git: %s\n", e.Detail)
		}
		b.WriteString("\nRefresh it with `go tool mage patches:edit <module>` and `patches:export` on this branch.\n\n")
	}
	fmt.Fprintf(&b, "Upstream changelog: %s\n\n", UpstreamChangelog(k))
	b.WriteString("### CHANGELOG entry\n\nUnder `## [Unreleased]`:\n\n```markdown\n" + changelogKind + "\n\n" + in.Entry + "\n```\n\n")
	if len(in.Notes) > 0 {
		b.WriteString("### Detection\n\n")
		for _, n := range in.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	b.WriteString("### Results\n\n| step | result | time |\n| --- | --- | --- |\n")
	for _, s := range in.Steps {
		result := string(s.Status)
		if s.Reason != "" && s.Status == Skipped {
			result += ": " + s.Reason
		}
		elapsed := ""
		if s.Elapsed > 0 {
			elapsed = s.Elapsed.String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", s.Name, strings.ReplaceAll(result, "|", `\|`), elapsed)
	}
	b.WriteString("\n")
	for _, s := range in.Steps {
		if s.Tail == "" {
			continue
		}
		fmt.Fprintf(&b, "<details><summary>%s (%s): last lines of output</summary>\n\n```\n%s\n```\n\n</details>\n\n", s.Name, s.Status, s.Tail)
	}
	if in.LockDiff != "" {
		b.WriteString("<details><summary>upstream.lock diff</summary>\n\n```diff\n" + in.LockDiff + "\n```\n\n</details>\n\n")
	}
	out := b.String()
	if len(out) > maxBody {
		out = out[:maxBody] + "\n\n(cut to fit GitHub's limit)\n\n"
	}
	return out + marker(k, in.Tree) + "\n"
}
