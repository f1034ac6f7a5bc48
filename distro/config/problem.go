package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with the configuration, located as precisely as possible.
type Problem struct {
	// Source is a file path or "environment variable NAME".
	Source string
	// Line is the line in Source, 0 when unknown or not a file.
	Line int
	// Key is the file key or flag name concerned, if any.
	Key     string
	Message string
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Source)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Key != "" {
		fmt.Fprintf(&b, ": %q", p.Key)
	}
	b.WriteString(": " + p.Message)
	return b.String()
}

// Error holds every problem found; the command must not start.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := []string{fmt.Sprintf("configuration has %d problem(s):", len(e.Problems))}
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.Error())
	}
	return strings.Join(lines, "\n")
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Source != ps[j].Source {
			return ps[i].Source < ps[j].Source
		}
		return ps[i].Line < ps[j].Line
	})
}
