// Package releaseversion names distro releases and puts them in order.
//
// A release is vX.Y.Z+distroN: the Kubernetes version it is built from, and N, the
// revision of distro's own changes on that upstream version. A release candidate is
// vX.Y.Z-rcM+distroN. SemVer ignores build metadata when ordering and compares "rc10"
// before "rc9" as text, so this package orders versions itself: upstream X.Y.Z first,
// then a release above its candidates, then M, then N, all numerically.
package releaseversion

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/distro-io/distro/distro/version"
)

// metadataPrefix is what every version's build metadata starts with: "distro".
const metadataPrefix = version.Program

// candidatePrefix starts the prerelease part of a release candidate.
const candidatePrefix = "rc"

// Version is one distro release or release candidate. The zero value is not a valid
// version; obtain one from Parse, New or Next.
type Version struct {
	major, minor, patch uint64
	candidate           int // M of -rcM; 0 for a release
	revision            int // N of +distroN; at least 1
}

// Parse reads a version written as vX.Y.Z+distroN or vX.Y.Z-rcM+distroN and refuses
// anything else, quoting the input in the error.
func Parse(s string) (Version, error) {
	v, err := parse(s)
	if err != nil {
		return Version{}, fmt.Errorf("version %q: %w", s, err)
	}
	return v, nil
}

func parse(s string) (Version, error) {
	rest, ok := strings.CutPrefix(s, "v")
	if !ok {
		return Version{}, fmt.Errorf("must start with \"v\"")
	}
	core, meta, ok := strings.Cut(rest, "+")
	if !ok {
		return Version{}, fmt.Errorf("missing build metadata \"+%sN\"", metadataPrefix)
	}
	revision, err := parseRevision(meta)
	if err != nil {
		return Version{}, err
	}
	sv, err := semver.StrictNewVersion(core)
	if err != nil {
		return Version{}, fmt.Errorf("%q is not a SemVer version X.Y.Z[-%sM]: %w", core, candidatePrefix, err)
	}
	candidate := 0
	if pre := sv.Prerelease(); pre != "" {
		if candidate, err = parseCandidate(pre); err != nil {
			return Version{}, err
		}
	}
	return Version{major: sv.Major(), minor: sv.Minor(), patch: sv.Patch(), candidate: candidate, revision: revision}, nil
}

// parseRevision reads "distroN": exactly one metadata identifier, N a decimal number
// of at least 1 without leading zeros (so each release has one spelling).
func parseRevision(meta string) (int, error) {
	digits, ok := strings.CutPrefix(meta, metadataPrefix)
	if !ok {
		return 0, fmt.Errorf("build metadata %q must be \"%sN\"", meta, metadataPrefix)
	}
	n, err := positiveNumber(digits)
	if err != nil {
		return 0, fmt.Errorf("build metadata %q must be \"%sN\": revision %w", meta, metadataPrefix, err)
	}
	return n, nil
}

// parseCandidate reads "rcM".
func parseCandidate(pre string) (int, error) {
	digits, ok := strings.CutPrefix(pre, candidatePrefix)
	if !ok {
		return 0, fmt.Errorf("prerelease %q must be \"%sM\"", pre, candidatePrefix)
	}
	m, err := positiveNumber(digits)
	if err != nil {
		return 0, fmt.Errorf("prerelease %q must be \"%sM\": candidate number %w", pre, candidatePrefix, err)
	}
	return m, nil
}

func positiveNumber(digits string) (int, error) {
	if digits == "" {
		return 0, fmt.Errorf("is missing")
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", digits)
		}
	}
	if digits[0] == '0' {
		return 0, fmt.Errorf("%q must be at least 1, without leading zeros", digits)
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", digits)
	}
	return n, nil
}

// New builds the release version of an upstream Kubernetes release (vX.Y.Z, as
// upstream.lock names it) at the given revision.
func New(upstream string, revision int) (Version, error) {
	core, err := parseUpstream(upstream)
	if err != nil {
		return Version{}, err
	}
	if revision < 1 {
		return Version{}, fmt.Errorf("revision %d: must be at least 1", revision)
	}
	core.revision = revision
	return core, nil
}

// parseUpstream reads a plain upstream release vX.Y.Z; the revision is left at 0.
func parseUpstream(upstream string) (Version, error) {
	rest, ok := strings.CutPrefix(upstream, "v")
	if !ok {
		return Version{}, fmt.Errorf("upstream version %q: must start with \"v\"", upstream)
	}
	sv, err := semver.StrictNewVersion(rest)
	if err != nil {
		return Version{}, fmt.Errorf("upstream version %q: %w", upstream, err)
	}
	if sv.Prerelease() != "" || sv.Metadata() != "" {
		return Version{}, fmt.Errorf("upstream version %q: must be a release vX.Y.Z, without prerelease or build metadata", upstream)
	}
	return Version{major: sv.Major(), minor: sv.Minor(), patch: sv.Patch()}, nil
}

// String returns the canonical spelling, which is also the git tag.
func (v Version) String() string {
	return v.Upstream() + "+" + metadataPrefix + strconv.Itoa(v.revision)
}

// Upstream returns the version without build metadata: vX.Y.Z or vX.Y.Z-rcM.
func (v Version) Upstream() string {
	s := fmt.Sprintf("v%d.%d.%d", v.major, v.minor, v.patch)
	if v.candidate > 0 {
		s += "-" + candidatePrefix + strconv.Itoa(v.candidate)
	}
	return s
}

// Kubernetes returns the upstream Kubernetes release, vX.Y.Z.
func (v Version) Kubernetes() string {
	return fmt.Sprintf("v%d.%d.%d", v.major, v.minor, v.patch)
}

// Revision returns N of +distroN.
func (v Version) Revision() int { return v.revision }

// Candidate returns M of -rcM, or 0 for a release.
func (v Version) Candidate() int { return v.candidate }

// IsCandidate reports whether v is a release candidate (published as a prerelease).
func (v Version) IsCandidate() bool { return v.candidate > 0 }

// Release returns the release that v is a candidate for (v itself for a release).
func (v Version) Release() Version {
	v.candidate = 0
	return v
}

// Compare returns -1, 0 or +1 as v orders before, equal to or after o.
func (v Version) Compare(o Version) int {
	if c := cmp.Compare(v.major, o.major); c != 0 {
		return c
	}
	if c := cmp.Compare(v.minor, o.minor); c != 0 {
		return c
	}
	if c := cmp.Compare(v.patch, o.patch); c != 0 {
		return c
	}
	// A release orders after all of its candidates, as in SemVer.
	if v.IsCandidate() != o.IsCandidate() {
		if v.IsCandidate() {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(v.candidate, o.candidate); c != 0 {
		return c
	}
	return cmp.Compare(v.revision, o.revision)
}

// Less reports whether v orders before o.
func (v Version) Less(o Version) bool { return v.Compare(o) < 0 }

// Sort puts versions in ascending order.
func Sort(vs []Version) {
	slices.SortFunc(vs, Version.Compare)
}
