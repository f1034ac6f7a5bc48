package releaseversion

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Ours reports whether a tag claims to be a distro version ("…+distro…"), whether or
// not it is well formed. Other tags (plain upstream versions, branch-like names) belong
// to someone else and are ignored when numbering releases.
func Ours(tag string) bool {
	return strings.Contains(tag, "+"+metadataPrefix)
}

// Versions parses every tag that is ours. A tag that is ours but malformed is an
// error naming it: numbering releases past a tag nobody can read would be a guess.
func Versions(tags []string) ([]Version, error) {
	var vs []Version
	for _, tag := range tags {
		if !Ours(tag) {
			continue
		}
		v, err := Parse(tag)
		if err != nil {
			return nil, fmt.Errorf("existing tag %q is malformed: %w", tag, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// Next returns the next release of an upstream Kubernetes release vX.Y.Z, given the
// revision upstream.lock asks for and the repository's existing tags. Releases already
// tagged for the same upstream version push N to one past the highest of them; N
// never falls below the lock's revision, so bumping the lock is how a revision is
// skipped on purpose. Candidates do not count: they are candidates for a release that
// does not exist yet.
func Next(upstream string, revision int, tags []string) (Version, error) {
	next, err := New(upstream, revision)
	if err != nil {
		return Version{}, err
	}
	existing, err := Versions(tags)
	if err != nil {
		return Version{}, err
	}
	for _, v := range existing {
		if v.IsCandidate() || v.Kubernetes() != next.Kubernetes() {
			continue
		}
		if v.revision >= next.revision {
			next.revision = v.revision + 1
		}
	}
	return next, nil
}

// NextCandidate returns the next release candidate for the release Next would return:
// M is one past the highest candidate already tagged for that release.
func NextCandidate(upstream string, revision int, tags []string) (Version, error) {
	release, err := Next(upstream, revision, tags)
	if err != nil {
		return Version{}, err
	}
	existing, err := Versions(tags)
	if err != nil {
		return Version{}, err
	}
	next := release
	next.candidate = 1
	for _, v := range existing {
		if v.IsCandidate() && v.Release() == release && v.candidate >= next.candidate {
			next.candidate = v.candidate + 1
		}
	}
	return next, nil
}

// TagsFromGit lists the tags of the git repository at repoDir.
func TagsFromGit(ctx context.Context, repoDir string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "-C", repoDir, "tag", "--list")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("listing tags of %s: git tag: %w: %s", repoDir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.Fields(stdout.String()), nil
}
