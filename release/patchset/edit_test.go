package patchset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := git(context.Background(), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func TestEditExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	exported := snapshot(t, patchesDir)
	if _, err := Apply(ctx, ApplyOptions{Modules: []Source{lib}, PatchesDir: patchesDir, BuildDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}

	workDir := t.TempDir()
	repoDir, err := Edit(ctx, lib, patchesDir, workDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(workDir, "example.com", "lib"); repoDir != want {
		t.Errorf("repo at %s, want %s", repoDir, want)
	}
	if got := gitIn(t, repoDir, "log", "--format=%an|%ad|%s", "--date=iso", "upstream..HEAD"); got !=
		"Ada Author|2024-03-04 05:06:07 +0200|Add c.go and mark b.go\nAda Author|2024-03-04 05:06:07 +0200|Mark lines two and fifteen" {
		t.Errorf("the patch commits lost their authorship:\n%s", got)
	}
	if got := gitIn(t, repoDir, "show", "upstream:a.go"); got+"\n" != pristineA {
		t.Errorf("the upstream commit holds\n%s", got)
	}

	// Exporting what Edit made gives the same bytes back.
	again := filepath.Join(t.TempDir(), "patches")
	if err := Export(ctx, repoDir, again, libPath); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, "re-exported patches", snapshot(t, again), exported)

	// A new commit becomes 0003, leaves 0001 and 0002 alone, and applies.
	b := replaceLine(patchedB, "b line 5", "b line 5 marked")
	if err := os.WriteFile(filepath.Join(repoDir, "b.go"), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repoDir, "commit", "--quiet", "-a", "-m", "Mark line five of b.go\n\nSo the marks cover both files.")
	if err := Export(ctx, repoDir, patchesDir, libPath); err != nil {
		t.Fatal(err)
	}
	now := snapshot(t, patchesDir)
	newPatch := filepath.Join(libPath, "0003-Mark-line-five-of-b.go.patch")
	if _, ok := now[newPatch]; !ok {
		t.Fatalf("no %s among %v", newPatch, keys(now))
	}
	delete(now, newPatch)
	sameFiles(t, "patches 0001 and 0002 after adding 0003", now, exported)
	res, err := Apply(ctx, ApplyOptions{Modules: []Source{lib}, PatchesDir: patchesDir, BuildDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(res.Trees[0].Dir, "b.go")); got != b {
		t.Errorf("b.go with 0003 applied:\n%s", got)
	}

	// Dropping commits removes their patch files.
	gitIn(t, repoDir, "reset", "--quiet", "--hard", "HEAD~2")
	if err := Export(ctx, repoDir, patchesDir, libPath); err != nil {
		t.Fatal(err)
	}
	left := snapshot(t, patchesDir)
	if len(left) != 1 || left[filepath.Join(libPath, "0001-Mark-lines-two-and-fifteen.patch")] == "" {
		t.Errorf("after dropping two commits the patches are %v", keys(left))
	}

	// No commits left: the module's patch directory goes away.
	gitIn(t, repoDir, "reset", "--quiet", "--hard", "upstream")
	if err := Export(ctx, repoDir, patchesDir, libPath); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(patchesDir, libPath)); !os.IsNotExist(err) {
		t.Errorf("the patch dir of a module without commits is still there: %v", err)
	}
}

// After an upstream change a patch may not apply: Edit stops there with the earlier patches
// committed, so the patch can be fixed in place.
func TestEditStopsAtFailingPatch(t *testing.T) {
	ctx := context.Background()
	_, patchesDir := libFixture(t)
	before := snapshot(t, patchesDir)
	changed := newModule(t, libPath, "v1.1.0", map[string]string{
		"a.go": pristineA,
		"b.go": replaceLine(pristineB, "b line 4", "b line 4 changed upstream"),
	})

	repoDir, err := Edit(ctx, changed, patchesDir, t.TempDir())
	if err == nil {
		t.Fatal("Edit succeeded")
	}
	t.Log(err)
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("error %q is no ApplyError", err)
	}
	if filepath.Base(ae.Patch) != "0002-Add-c.go-and-mark-b.go.patch" || ae.File != "b.go" || ae.Hunk != 1 || !strings.HasPrefix(ae.HunkHeader, "@@ -1,5 +1,5 @@") {
		t.Errorf("ApplyError = %+v, want hunk 1 of b.go in 0002", ae)
	}
	if !strings.Contains(err.Error(), "git am --continue") || !strings.Contains(err.Error(), repoDir) {
		t.Errorf("error %q does not say how to go on", err)
	}
	if got := gitIn(t, repoDir, "log", "--format=%s", "upstream..HEAD"); got != "Mark lines two and fifteen" {
		t.Errorf("commits before the failing patch: %q", got)
	}
	err = Export(ctx, repoDir, patchesDir, libPath)
	if err == nil || !strings.Contains(err.Error(), "in progress") {
		t.Errorf("Export during git am: %v", err)
	}
	sameFiles(t, "patches", snapshot(t, patchesDir), before)
}

func TestEditRefusesExistingRepo(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	workDir := t.TempDir()
	repoDir, err := Edit(ctx, lib, patchesDir, workDir)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, repoDir, map[string]string{"work.go": "unsaved work\n"})
	before := snapshot(t, repoDir)
	if _, err := Edit(ctx, lib, patchesDir, workDir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second Edit: %v", err)
	}
	sameFiles(t, "the edit repo", snapshot(t, repoDir), before)
}

func TestExportRefuses(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	before := snapshot(t, patchesDir)

	edited := func(t *testing.T) string {
		repoDir, err := Edit(ctx, lib, patchesDir, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return repoDir
	}
	tests := []struct {
		name   string
		repo   func(t *testing.T) string
		module string
		want   string
	}{{
		name: "a changed file not committed",
		repo: func(t *testing.T) string {
			dir := edited(t)
			writeFiles(t, dir, map[string]string{"a.go": "changed\n"})
			return dir
		},
		want: "not committed",
	}, {
		name: "a new file not committed",
		repo: func(t *testing.T) string {
			dir := edited(t)
			writeFiles(t, dir, map[string]string{"new/d.go": "package lib\n"})
			return dir
		},
		want: "new/d.go",
	}, {
		name: "a commit that changes nothing",
		repo: func(t *testing.T) string {
			dir := edited(t)
			gitIn(t, dir, "commit", "--quiet", "--allow-empty", "-m", "Nothing\n\nReally nothing.")
			return dir
		},
		want: "changes nothing",
	}, {
		name: "a merge commit",
		repo: func(t *testing.T) string {
			dir := edited(t)
			gitIn(t, dir, "checkout", "--quiet", "-b", "side", "upstream")
			writeFiles(t, dir, map[string]string{"side.go": "package lib\n"})
			gitIn(t, dir, "add", "side.go")
			gitIn(t, dir, "commit", "--quiet", "-m", "Side\n\nA side branch.")
			gitIn(t, dir, "checkout", "--quiet", "patches")
			gitIn(t, dir, "merge", "--quiet", "--no-edit", "side")
			return dir
		},
		want: "merge commits",
	}, {
		name: "a repository Edit did not make",
		repo: func(t *testing.T) string {
			dir := t.TempDir()
			gitIn(t, dir, "init", "--quiet")
			return dir
		},
		want: "no upstream tag",
	}, {
		name: "no repository at all, inside one",
		repo: func(t *testing.T) string {
			dir := edited(t)
			return mkdir(t, filepath.Join(dir, "sub"))
		},
		want: "no upstream tag",
	}, {
		name:   "a bad module path",
		repo:   edited,
		module: "not a module",
		want:   "not a module",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := tt.module
			if mod == "" {
				mod = libPath
			}
			err := Export(ctx, tt.repo(t), patchesDir, mod)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Export error %v, want one mentioning %q", err, tt.want)
			}
			t.Log(err)
			sameFiles(t, "patches", snapshot(t, patchesDir), before)
		})
	}
}

// Relative directories mean the same to every step, although git runs elsewhere.
func TestRelativeDirs(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	root := t.TempDir()
	if err := copyTree(patchesDir, mkdir(t, filepath.Join(root, "patches"))); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, patchesDir)
	t.Chdir(root)

	res, err := Apply(ctx, ApplyOptions{Modules: []Source{lib}, PatchesDir: "patches", BuildDir: "build"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "build", "src", libPath+"@v1.0.0", "a.go")); got != patchedA || !filepath.IsAbs(res.Trees[0].Dir) {
		t.Errorf("tree %s has a.go:\n%s", res.Trees[0].Dir, got)
	}
	repoDir, err := Edit(ctx, lib, "patches", filepath.Join("build", "edit"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Export(ctx, repoDir, "patches", libPath); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, "patches", snapshot(t, filepath.Join(root, "patches")), before)
	if got := gitIn(t, repoDir, "status", "--porcelain", "--untracked-files=all"); got != "" {
		t.Errorf("export left files in the edit repository:\n%s", got)
	}
}
