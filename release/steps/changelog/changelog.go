// Package changelog keeps CHANGELOG.md in Keep a Changelog form: a release moves the
// items under "## [Unreleased]" into a new "## [<version>] - <date>" section. A dry run
// writes the result to dist/CHANGELOG.md; a publishing run writes CHANGELOG.md and
// commits it. A release candidate leaves the changelog alone: its items belong to the
// release it leads to, which would otherwise find them all taken by its candidates.
package changelog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/distro-io/distro/release/pipeline"
)

// FileName is the changelog's name in the repository and in dist/.
const FileName = "CHANGELOG.md"

// Unreleased is the section new items are written under.
const Unreleased = "Unreleased"

// Changelog is a parsed CHANGELOG.md: the text before the first release heading, the
// sections in order, and the link reference definitions at the end.
type Changelog struct {
	Head     string
	Sections []Section
	// Links are the trailing "[name]: url" lines, in order.
	Links []string
}

// Section is one "## [Name] - date" section.
type Section struct {
	Name    string // the bracketed name: "Unreleased" or a version
	Heading string // the heading line as written
	Body    string // everything up to the next section, trimmed
}

var (
	headingRE = regexp.MustCompile(`^## \[([^\]]+)\]`)
	linkRE    = regexp.MustCompile(`^\[[^\]]+\]: \S+$`)
)

// Parse reads a changelog. A second section of the same name is an error: it would make
// the release's section ambiguous.
func Parse(text string) (*Changelog, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	// Link definitions are the run of "[x]: url" lines (and blanks) at the very end.
	end := len(lines)
	for end > 0 && (linkRE.MatchString(lines[end-1]) || strings.TrimSpace(lines[end-1]) == "") {
		end--
	}
	cl := &Changelog{}
	for _, l := range lines[end:] {
		if l = strings.TrimSpace(l); l != "" {
			cl.Links = append(cl.Links, l)
		}
	}
	var head []string
	var cur *Section
	var body []string
	flush := func() {
		if cur != nil {
			cur.Body = strings.TrimSpace(strings.Join(body, "\n"))
			cl.Sections = append(cl.Sections, *cur)
		}
	}
	for i, l := range lines[:end] {
		if m := headingRE.FindStringSubmatch(l); m != nil {
			flush()
			if cl.Section(m[1]) != nil {
				return nil, fmt.Errorf("line %d: a second section [%s]", i+1, m[1])
			}
			cur, body = &Section{Name: m[1], Heading: strings.TrimSpace(l)}, nil
			continue
		}
		if cur == nil {
			head = append(head, l)
		} else {
			body = append(body, l)
		}
	}
	flush()
	cl.Head = strings.TrimSpace(strings.Join(head, "\n"))
	return cl, nil
}

// Section returns the section of that name, or nil.
func (cl *Changelog) Section(name string) *Section {
	for i := range cl.Sections {
		if cl.Sections[i].Name == name {
			return &cl.Sections[i]
		}
	}
	return nil
}

// String writes the changelog back.
func (cl *Changelog) String() string {
	var b strings.Builder
	b.WriteString(cl.Head)
	b.WriteString("\n")
	for _, s := range cl.Sections {
		b.WriteString("\n" + s.Heading + "\n")
		if s.Body != "" {
			b.WriteString("\n" + s.Body + "\n")
		}
	}
	if len(cl.Links) > 0 {
		b.WriteString("\n" + strings.Join(cl.Links, "\n") + "\n")
	}
	return b.String()
}

// compareRE matches the Unreleased link of a changelog that keeps compare links.
var compareRE = regexp.MustCompile(`^\[Unreleased\]: (\S+/compare/)(\S+)\.\.\.HEAD$`)

// Release moves the Unreleased items into a new section for version, dated date, and
// leaves an empty Unreleased section above it. It reports false when the changelog
// already has the version's section (the release is being re-run).
func (cl *Changelog) Release(version string, date time.Time) (bool, error) {
	if cl.Section(version) != nil {
		return false, nil
	}
	idx := -1
	for i, s := range cl.Sections {
		if s.Name == Unreleased {
			idx = i
		}
	}
	if idx < 0 {
		return false, fmt.Errorf("%s has no \"## [%s]\" section to release", FileName, Unreleased)
	}
	body := cl.Sections[idx].Body
	if body == "" {
		body = "No notable changes."
	}
	rel := Section{Name: version, Heading: fmt.Sprintf("## [%s] - %s", version, date.Format(time.DateOnly)), Body: body}
	cl.Sections[idx].Body = ""
	cl.Sections = append(cl.Sections[:idx+1], append([]Section{rel}, cl.Sections[idx+1:]...)...)

	// Keep compare links current where the changelog has them.
	for i, l := range cl.Links {
		if m := compareRE.FindStringSubmatch(l); m != nil {
			cl.Links[i] = fmt.Sprintf("[%s]: %s%s...HEAD", Unreleased, m[1], version)
			link := fmt.Sprintf("[%s]: %s%s...%s", version, m[1], m[2], version)
			cl.Links = append(cl.Links[:i+1], append([]string{link}, cl.Links[i+1:]...)...)
			break
		}
	}
	return true, nil
}

// Step is the changelog step.
type Step struct {
	// Now dates the release; nil means time.Now.
	Now func() time.Time
}

var _ pipeline.Step = Step{}

// Name implements pipeline.Step.
func (Step) Name() string { return "changelog" }

// Run implements pipeline.Step.
func (s Step) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	if !c.HasVersion() {
		return nil, fmt.Errorf("no version; the version step runs first")
	}
	if c.Version.IsCandidate() {
		return pipeline.Skipped{Reason: fmt.Sprintf("%s is a release candidate: the [%s] items stay for %s", c.Version, Unreleased, c.Version.Release())}, nil
	}
	src := filepath.Join(c.RepoDir, FileName)
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("reading the changelog: %w", err)
	}
	cl, err := Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	changed, err := cl.Release(c.Version.String(), now().UTC())
	if err != nil {
		return nil, err
	}
	if !changed {
		return pipeline.Skipped{Reason: fmt.Sprintf("%s already has the section [%s]", src, c.Version)}, nil
	}
	out := []byte(cl.String())

	if !c.Publish {
		dst := filepath.Join(c.DistDir, FileName)
		if err := os.MkdirAll(c.DistDir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(dst, out, 0o644); err != nil {
			return nil, err
		}
		return pipeline.Done{Detail: "dry run: wrote " + dst}, nil
	}
	if err := os.WriteFile(src, out, 0o644); err != nil {
		return nil, err
	}
	if _, err := pipeline.Git(ctx, c.RepoDir, "commit", "-q", "-m", "CHANGELOG: "+c.Version.String(), "--", FileName); err != nil {
		return nil, err
	}
	head, err := pipeline.Git(ctx, c.RepoDir, "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return nil, err
	}
	return pipeline.Done{Detail: fmt.Sprintf("committed %s as %s", FileName, strings.TrimSpace(head))}, nil
}
