// Package detect finds the newest upstream Kubernetes patch release of each tracked minor
// version. The Go module proxy is authoritative, because a release the proxy does not serve
// cannot be built; GitHub releases are a second opinion, and where the two disagree the
// difference is reported rather than hidden.
package detect

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// Release is one upstream version as a source lists it.
type Release struct {
	Version string
	// Prerelease is set for alpha, beta and rc versions, and for releases a source marks
	// as pre-releases.
	Prerelease bool
}

// Source lists upstream Kubernetes versions.
type Source interface {
	// Name says where the versions come from, in reports.
	Name() string
	Releases(ctx context.Context) ([]Release, error)
}

// Minor is what the sources say about one tracked minor version.
type Minor struct {
	// Minor is "1.37".
	Minor string
	// Newest is the newest version the authoritative source has, "" when it has none.
	Newest string
	// BySource holds each source's newest version ("" for none), by source name.
	BySource map[string]string
	// Notes explain disagreements between the sources and sources that failed.
	Notes []string
}

// Options say what to look for.
type Options struct {
	// Minors are the tracked minor versions, such as "1.37".
	Minors []string
	// Prereleases counts alpha, beta and rc versions as releases.
	Prereleases bool
}

// Validate reports every malformed minor version at once.
func (o Options) Validate() error {
	var bad []string
	for _, m := range o.Minors {
		if MinorOf("v"+m+".0") != m {
			bad = append(bad, fmt.Sprintf("%q", m))
		}
	}
	if len(o.Minors) == 0 {
		return fmt.Errorf("no minor versions to track")
	}
	if len(bad) > 0 {
		return fmt.Errorf("minor versions must read like 1.37: %s", strings.Join(bad, ", "))
	}
	return nil
}

// Detect asks the authoritative source and then the others. Only a failure of the
// authoritative source is an error; the others' failures become notes.
func Detect(ctx context.Context, opts Options, authoritative Source, others ...Source) ([]Minor, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rels, err := authoritative.Releases(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", authoritative.Name(), err)
	}
	newest := NewestByMinor(rels, opts.Prereleases)
	out := make([]Minor, len(opts.Minors))
	for i, m := range opts.Minors {
		out[i] = Minor{Minor: m, Newest: newest[m], BySource: map[string]string{authoritative.Name(): newest[m]}}
	}
	for _, src := range others {
		rels, err := src.Releases(ctx)
		if err != nil {
			for i := range out {
				out[i].Notes = append(out[i].Notes, fmt.Sprintf("%s could not be read: %v", src.Name(), err))
			}
			continue
		}
		theirs := NewestByMinor(rels, opts.Prereleases)
		for i := range out {
			m := &out[i]
			m.BySource[src.Name()] = theirs[m.Minor]
			if note := disagreement(authoritative.Name(), m.Newest, src.Name(), theirs[m.Minor]); note != "" {
				m.Notes = append(m.Notes, note)
			}
		}
	}
	return out, nil
}

// disagreement explains two sources' different answers, from the point of view of what can
// be built.
func disagreement(authName, auth, otherName, other string) string {
	switch {
	case auth == other:
		return ""
	case other == "":
		return fmt.Sprintf("%s has %s, %s has no release of this minor", authName, auth, otherName)
	case auth == "" || semver.Compare(other, auth) > 0:
		return fmt.Sprintf("%s has %s, not yet on %s (newest there: %s): waiting, it cannot be built yet", otherName, other, authName, orNone(auth))
	default:
		return fmt.Sprintf("%s has %s, %s only %s: %s is authoritative for what can be built", authName, auth, otherName, other, authName)
	}
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// NewestByMinor returns the newest Kubernetes version of each minor ("1.37"), skipping
// pre-releases unless asked, and anything that is not a v1 semantic version.
func NewestByMinor(rels []Release, prereleases bool) map[string]string {
	newest := map[string]string{}
	for _, r := range rels {
		v := r.Version
		if !semver.IsValid(v) || semver.Canonical(v) != v || semver.Major(v) != "v1" {
			continue
		}
		if (r.Prerelease || semver.Prerelease(v) != "") && !prereleases {
			continue
		}
		m := MinorOf(v)
		if semver.Compare(v, newest[m]) > 0 || newest[m] == "" {
			newest[m] = v
		}
	}
	return newest
}

// MinorOf returns "1.37" for v1.37.3 (and for v1.37.0-rc.1), "" for anything else.
func MinorOf(v string) string {
	if !semver.IsValid(v) {
		return ""
	}
	mm := strings.TrimPrefix(semver.MajorMinor(v), "v")
	if strings.Count(mm, ".") != 1 || semver.Canonical(v) != v {
		return ""
	}
	return mm
}

// ParseMinors splits a flag value such as "1.35,1.36,1.37", dropping blanks and repeats.
func ParseMinors(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
