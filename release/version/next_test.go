package releaseversion

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		upstream string
		revision int
		tags     []string
		want     string
	}{
		{"first release of an upstream version", "v1.37.2", 1, nil, "v1.37.2+distro1"},
		{"after one release", "v1.37.2", 1, []string{"v1.37.2+distro1"}, "v1.37.2+distro2"},
		{"after several, unordered", "v1.37.2", 1, []string{"v1.37.2+distro3", "v1.37.2+distro1", "v1.37.2+distro2"}, "v1.37.2+distro4"},
		{"numerically past 9", "v1.37.2", 1, []string{"v1.37.2+distro9", "v1.37.2+distro10"}, "v1.37.2+distro11"},
		{"new upstream patch resets", "v1.37.3", 1, []string{"v1.37.2+distro1", "v1.37.2+distro7"}, "v1.37.3+distro1"},
		{"lock revision wins over fewer tags", "v1.37.2", 5, []string{"v1.37.2+distro1"}, "v1.37.2+distro5"},
		{"tags win over a stale lock revision", "v1.37.2", 2, []string{"v1.37.2+distro2"}, "v1.37.2+distro3"},
		{"new upstream patch starts at lock revision", "v1.37.3", 2, []string{"v1.37.2+distro4"}, "v1.37.3+distro2"},
		{"candidates do not count", "v1.37.2", 1, []string{"v1.37.2-rc1+distro1", "v1.37.2-rc2+distro1"}, "v1.37.2+distro1"},
		{"other minor lines do not count", "v1.36.9", 1, []string{"v1.37.2+distro3", "v1.36.9+distro1"}, "v1.36.9+distro2"},
		{"foreign tags are ignored", "v1.37.2", 1, []string{"v1.37.2", "v1.2.3", "release-1.37", "v1.37.2+build5", "latest"}, "v1.37.2+distro1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Next(tc.upstream, tc.revision, tc.tags)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("Next = %s, want %s", got, tc.want)
			}
			if got.IsCandidate() {
				t.Errorf("Next returned a candidate")
			}
		})
	}
}

func TestNextRefusesMalformedTagsOfOurs(t *testing.T) {
	for _, tag := range []string{"v1.37.2+distrox", "1.37.2+distro1", "v1.37.2+distro0", "v1.37.2-beta+distro1"} {
		_, err := Next("v1.37.2", 1, []string{"v1.37.2+distro1", tag})
		if err == nil || !strings.Contains(err.Error(), `existing tag "`+tag+`" is malformed`) {
			t.Errorf("Next with tag %q: error %v, want one naming the tag", tag, err)
		}
	}
}

func TestNextRefusesBadLock(t *testing.T) {
	if _, err := Next("v1.37.2", 0, nil); err == nil || !strings.Contains(err.Error(), "revision 0") {
		t.Errorf("revision 0: error %v", err)
	}
	if _, err := Next("1.37.2", 1, nil); err == nil || !strings.Contains(err.Error(), `"1.37.2"`) {
		t.Errorf("missing v: error %v", err)
	}
}

func TestNextCandidate(t *testing.T) {
	for _, tc := range []struct {
		tags []string
		want string
	}{
		{nil, "v1.37.2-rc1+distro1"},
		{[]string{"v1.37.2-rc1+distro1"}, "v1.37.2-rc2+distro1"},
		{[]string{"v1.37.2-rc9+distro1", "v1.37.2-rc10+distro1"}, "v1.37.2-rc11+distro1"},
		// Once +distro1 is out, candidates are for +distro2 and count from 1 again.
		{[]string{"v1.37.2-rc3+distro1", "v1.37.2+distro1"}, "v1.37.2-rc1+distro2"},
	} {
		got, err := NextCandidate("v1.37.2", 1, tc.tags)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != tc.want {
			t.Errorf("NextCandidate(%v) = %s, want %s", tc.tags, got, tc.want)
		}
	}
}

func TestTagsFromGit(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.invalid"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "first")
	git("tag", "v1.37.2+distro1")
	git("tag", "-a", "-m", "annotated", "v1.37.2+distro2")
	git("tag", "unrelated")

	tags, err := TagsFromGit(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	if want := []string{"unrelated", "v1.37.2+distro1", "v1.37.2+distro2"}; !slices.Equal(tags, want) {
		t.Errorf("TagsFromGit = %v, want %v", tags, want)
	}
	next, err := Next("v1.37.2", 1, tags)
	if err != nil || next.String() != "v1.37.2+distro3" {
		t.Errorf("Next from git tags = %v, %v", next, err)
	}

	if _, err := TagsFromGit(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "git tag") {
		t.Errorf("TagsFromGit outside a repository: error %v", err)
	}
}
