package patchset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Budget is the most lines distro's patches may change in all: every changed line is one
// more to carry forward at each upstream release.
const Budget = 1000

// Stats counts the lines the patch series change.
type Stats struct {
	Patches        []PatchStats
	Added, Removed int
}

// PatchStats counts one patch's changed lines: added and removed lines in its hunks, not
// headers or context.
type PatchStats struct {
	Module  string
	File    string // path relative to the patches dir
	Subject string
	Added   int
	Removed int
}

// Changed is the number of lines the patch adds or removes.
func (p PatchStats) Changed() int { return p.Added + p.Removed }

// Changed is the number of lines all patches add or remove.
func (s Stats) Changed() int { return s.Added + s.Removed }

// String prints one line per patch, then the total.
func (s Stats) String() string {
	var b strings.Builder
	width := 0
	for _, p := range s.Patches {
		width = max(width, len(p.File))
	}
	for _, p := range s.Patches {
		fmt.Fprintf(&b, "%-*s %5d  +%d -%d  %s\n", width, p.File, p.Changed(), p.Added, p.Removed, p.Subject)
	}
	fmt.Fprintf(&b, "%d patches change %d lines (+%d -%d)\n", len(s.Patches), s.Changed(), s.Added, s.Removed)
	return b.String()
}

// Check reads every patch under patchesDir, counts the lines each changes, and fails when
// the total exceeds limit or when a patch does not explain itself (an empty commit message
// body). It returns the stats even when it fails, and every problem at once.
func Check(patchesDir string, limit int) (Stats, error) {
	var stats Stats
	if limit <= 0 {
		return stats, fmt.Errorf("check: the line budget must be positive, not %d", limit)
	}
	modules, err := PatchedModules(patchesDir)
	if err != nil {
		return stats, fmt.Errorf("check: %w", err)
	}
	var problems []error
	for _, mod := range modules {
		files, err := series(patchesDir, mod)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		for _, f := range files {
			rel, _ := filepath.Rel(patchesDir, f)
			rel = filepath.ToSlash(rel)
			data, err := os.ReadFile(f)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			p, err := parsePatch(data)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", rel, err))
				continue
			}
			if p.Body == "" {
				problems = append(problems, fmt.Errorf("%s: the commit message does not say why the patch exists (its body is empty)", rel))
			}
			added, removed := p.changed()
			stats.Patches = append(stats.Patches, PatchStats{Module: mod, File: rel, Subject: p.Subject, Added: added, Removed: removed})
			stats.Added += added
			stats.Removed += removed
		}
	}
	if stats.Changed() > limit {
		problems = append(problems, fmt.Errorf("the patches change %d lines, over the budget of %d", stats.Changed(), limit))
	}
	if len(problems) > 0 {
		return stats, fmt.Errorf("check: %w", errors.Join(problems...))
	}
	return stats, nil
}
