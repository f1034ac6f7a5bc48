package pki

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Action is what happened to one file.
type Action string

const (
	Created  Action = "created"
	Kept     Action = "kept"
	Reissued Action = "reissued"
	Repaired Action = "repaired"
	Written  Action = "written"
)

// Entry records what happened to one file and why.
type Entry struct {
	Path   string
	Action Action
	Reason string
}

func (e Entry) String() string {
	if e.Reason == "" {
		return fmt.Sprintf("%s %s", e.Action, e.Path)
	}
	return fmt.Sprintf("%s %s: %s", e.Action, e.Path, e.Reason)
}

// Report lists what a run did, so the caller can log every change and tests can assert it.
type Report struct {
	Entries []Entry
}

func (r *Report) add(path string, action Action, reason string) {
	r.Entries = append(r.Entries, Entry{Path: path, Action: action, Reason: reason})
}

// Find returns the entry for the file with the given base name (the last one, if several).
func (r *Report) Find(base string) (Entry, bool) {
	for i := len(r.Entries) - 1; i >= 0; i-- {
		if filepath.Base(r.Entries[i].Path) == base {
			return r.Entries[i], true
		}
	}
	return Entry{}, false
}

// Changes returns the entries that changed something on disk.
func (r *Report) Changes() []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if e.Action != Kept {
			out = append(out, e)
		}
	}
	return out
}

func (r *Report) String() string {
	lines := make([]string, len(r.Entries))
	for i, e := range r.Entries {
		lines[i] = e.String()
	}
	return strings.Join(lines, "\n")
}
