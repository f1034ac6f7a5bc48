package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distro-io/distro/release/upstream"
)

func TestLDFlagsStampsEveryVersionVariable(t *testing.T) {
	flags, err := LDFlags(Stamp{
		Version: "v1.37.2+distro1", UpstreamVersion: "v1.37.2", ContainerdVer: "v2.4.2",
		GitCommit: "abc123", TreeState: "clean", BuildDate: time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=v1.37.2+distro1",
		"k8s.io/client-go/pkg/version.gitVersion=v1.37.2+distro1",
		"k8s.io/component-base/version.gitMajor=1",
		"k8s.io/component-base/version.gitMinor=37",
		"k8s.io/client-go/pkg/version.gitCommit=abc123",
		"k8s.io/component-base/version.buildDate=2023-11-14T22:13:20Z",
		"distro/version.Version=v1.37.2+distro1",
		"distro/version.UpstreamVersion=v1.37.2",
		"containerd/v2/version.Version=v2.4.2",
		"-extldflags=-static",
	} {
		if !strings.Contains(flags, want) {
			t.Errorf("ldflags lack %q:\n%s", want, flags)
		}
	}
	if strings.Contains(flags, "kine/pkg/version") {
		t.Errorf("an empty kine version must leave kine unstamped:\n%s", flags)
	}
}

func TestLDFlagsRefusesMalformedUpstreamVersion(t *testing.T) {
	for _, v := range []string{"1.37.2", "v1", "v.37.2", ""} {
		if _, err := LDFlags(Stamp{UpstreamVersion: v}); err == nil || !strings.Contains(err.Error(), "vX.Y.Z") {
			t.Errorf("LDFlags(%q) error = %v, want one naming the expected form", v, err)
		}
	}
}

func TestCommandWithoutWorkspaceTurnsGoWorkOff(t *testing.T) {
	cmd, err := Command(context.Background(), Options{ModuleDir: ".", Output: "out", Stamp: Stamp{UpstreamVersion: "v1.37.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(cmd.Env, "GOWORK=off") || !contains(cmd.Env, "CGO_ENABLED=1") {
		t.Errorf("environment lacks GOWORK=off or CGO_ENABLED=1: %v", cmd.Env[len(cmd.Env)-6:])
	}
	if !contains(cmd.Args, "-trimpath") || !contains(cmd.Args, strings.Join(Tags, ",")) {
		t.Errorf("go build arguments lack -trimpath or the tags: %v", cmd.Args)
	}
}

func TestGitStampReadsCommitStateAndCommitTime(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	os.WriteFile(filepath.Join(dir, "f"), []byte("1"), 0o644)
	git("add", "f")
	git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
	head := git("rev-parse", "HEAD")

	t.Setenv("SOURCE_DATE_EPOCH", "")
	commit, state, date, err := GitStamp(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if commit != head || state != "clean" || !date.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("GitStamp = %s %s %s, want %s clean 2026-01-02T03:04:05Z", commit, state, date, head)
	}

	os.WriteFile(filepath.Join(dir, "f"), []byte("2"), 0o644)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	_, state, date, err = GitStamp(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if state != "dirty" || date.Unix() != 1700000000 {
		t.Errorf("after an edit with SOURCE_DATE_EPOCH: state %s date %d, want dirty 1700000000", state, date.Unix())
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, _, _, err := GitStamp(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Errorf("a malformed SOURCE_DATE_EPOCH gave %v, want an error quoting it", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestStampForCarriesACandidateVersion(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q"}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "one"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	lock := &upstream.Lock{Revision: 2, Modules: []upstream.Module{{Path: "k8s.io/kubernetes", Version: "v1.37.2", Role: upstream.RoleKubernetes}}}
	for _, tc := range []struct{ given, want, err string }{
		{"", "v1.37.2+distro2", ""},
		{"v1.37.2+distro2", "v1.37.2+distro2", ""},
		{"v1.37.2-rc1+distro2", "v1.37.2-rc1+distro2", ""},
		{"v1.37.2-rc1+distro1", "", "revision 1"},
		{"v1.37.3-rc1+distro2", "", "Kubernetes v1.37.3"},
		{"v1.37.2-beta.1+distro2", "", "rcM"},
	} {
		s, err := StampFor(context.Background(), dir, lock, tc.given)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("StampFor(%q) error = %v, want one saying %q", tc.given, err, tc.err)
			}
			continue
		}
		if err != nil || s.Version != tc.want || s.UpstreamVersion != "v1.37.2" {
			t.Errorf("StampFor(%q) = %q (upstream %q), %v; want %q", tc.given, s.Version, s.UpstreamVersion, err, tc.want)
			continue
		}
		flags, err := LDFlags(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"k8s.io/component-base/version.gitVersion=" + tc.want, "distro/version.Version=" + tc.want, "k8s.io/component-base/version.gitMinor=37"} {
			if !strings.Contains(flags, want) {
				t.Errorf("ldflags for %q lack %q", tc.given, want)
			}
		}
	}
}
