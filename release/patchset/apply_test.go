package patchset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const libPath = "example.com/lib"

var (
	pristineA = lines("a", 20)
	pristineB = lines("b", 5)
	patchedA  = replaceLine(replaceLine(pristineA, "a line 2", "a line 2 patched twice"), "a line 15", "a line 15 patched")
	patchedB  = replaceLine(pristineB, "b line 3", "b line 3 patched")
)

// libFixture is a made-up module with a series of two patches: the first changes two
// places in a.go (two hunks), the second builds on it, changes b.go and adds c.go.
func libFixture(t *testing.T) (Source, string) {
	t.Helper()
	src := newModule(t, libPath, "v1.0.0", map[string]string{"a.go": pristineA, "b.go": pristineB})
	r := newUpstreamRepo(t, src)
	once := replaceLine(replaceLine(pristineA, "a line 2", "a line 2 patched"), "a line 15", "a line 15 patched")
	r.commit("Mark lines two and fifteen\n\nThe build checks for the marks to know it runs patched code.",
		map[string]string{"a.go": once})
	r.commit("Add c.go and mark b.go\n\nc.go holds what the marks need.",
		map[string]string{"a.go": patchedA, "b.go": patchedB, "c.go": "package lib\n"})
	patchesDir := filepath.Join(t.TempDir(), "patches")
	r.export(patchesDir, libPath)
	return src, patchesDir
}

func TestApplyPatchesInOrder(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	untouched := newModule(t, "example.com/untouched", "v0.1.0", map[string]string{"u.go": "package u\n"})
	pristine := snapshot(t, lib.Dir)
	buildDir := filepath.Join(t.TempDir(), "build")

	// Modules without patches need no source dir.
	noDir := Source{Path: "example.com/nodir", Version: "v1.0.0"}
	res, err := Apply(ctx, ApplyOptions{Modules: []Source{untouched, lib, noDir}, PatchesDir: patchesDir, BuildDir: buildDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trees) != 1 {
		t.Fatalf("patched %d modules, want only %s: %+v", len(res.Trees), libPath, res.Trees)
	}
	tree := res.Trees[0]
	wantDir := filepath.Join(buildDir, "src", "example.com", "lib@v1.0.0")
	if tree.Path != libPath || tree.Version != "v1.0.0" || tree.Dir != wantDir || tree.Reused {
		t.Errorf("tree = %+v, want %s@v1.0.0 in %s, not reused", tree, libPath, wantDir)
	}
	if len(tree.Patches) != 2 || !strings.HasPrefix(filepath.Base(tree.Patches[0]), "0001-") || !strings.HasPrefix(filepath.Base(tree.Patches[1]), "0002-") {
		t.Errorf("patches = %v, want 0001 then 0002", tree.Patches)
	}
	for name, want := range map[string]string{"a.go": patchedA, "b.go": patchedB, "c.go": "package lib\n"} {
		if got := readFile(t, filepath.Join(tree.Dir, name)); got != want {
			t.Errorf("%s =\n%s\nwant\n%s", name, got, want)
		}
	}
	info, err := os.Stat(filepath.Join(tree.Dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o200 == 0 {
		t.Errorf("go.mod in the tree has mode %v; the copy must be writable", info.Mode())
	}
	sameFiles(t, "pristine source", snapshot(t, lib.Dir), pristine)
	if _, err := os.Stat(filepath.Join(buildDir, "src", "example.com", "untouched@v0.1.0")); !os.IsNotExist(err) {
		t.Errorf("a module without patches got a tree: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(buildDir, "src", "example.com", ".*"))
	if len(leftovers) > 0 {
		t.Errorf("scratch directories left behind: %v", leftovers)
	}
}

func TestApplyReusesTreeForSameInputs(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	opts := ApplyOptions{Modules: []Source{lib}, PatchesDir: patchesDir, BuildDir: t.TempDir()}
	first, err := Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	aGo := filepath.Join(first.Trees[0].Dir, "a.go")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(aGo, old, old); err != nil {
		t.Fatal(err)
	}

	second, err := Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Trees[0].Reused {
		t.Error("the same inputs rebuilt the tree")
	}
	if info, _ := os.Stat(aGo); !info.ModTime().Equal(old) {
		t.Errorf("a reused tree's file time changed to %v", info.ModTime())
	}

	// A changed patch makes a new tree.
	r := newUpstreamRepo(t, lib)
	r.commit("Mark line one\n\nA different change.", map[string]string{"a.go": replaceLine(pristineA, "a line 1", "a line 1 marked")})
	r.export(patchesDir, libPath)
	third, err := Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if third.Trees[0].Reused {
		t.Error("a changed patch series reused the old tree")
	}
	if got := readFile(t, aGo); !strings.Contains(got, "a line 1 marked\n") || strings.Contains(got, "patched") {
		t.Errorf("a.go after the new series:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(third.Trees[0].Dir, "c.go")); !os.IsNotExist(err) {
		t.Errorf("c.go from the old series survived: %v", err)
	}

	// So does a different source, by its sum.
	opts.Modules[0].Sum = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	fourth, err := Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Trees[0].Reused {
		t.Error("a different source sum reused the old tree")
	}
}

// A build dir inside a git checkout (the usual ./build) must not make git apply patch
// relative to the checkout's root, which silently skips every file.
func TestApplyInsideGitCheckout(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	checkout := t.TempDir()
	if _, err := git(ctx, checkout, "init", "--quiet"); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(ctx, ApplyOptions{Modules: []Source{lib}, PatchesDir: patchesDir, BuildDir: filepath.Join(checkout, "build")})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(res.Trees[0].Dir, "a.go")); got != patchedA {
		t.Errorf("a.go was not patched:\n%s", got)
	}
}

func TestApplyFailures(t *testing.T) {
	ctx := context.Background()
	lib, patchesDir := libFixture(t)
	patch1 := filepath.Join(patchesDir, libPath, "0001-Mark-lines-two-and-fifteen.patch")
	patch2 := filepath.Join(patchesDir, libPath, "0002-Add-c.go-and-mark-b.go.patch")

	// variant is the same module version with other content, as after a changed upstream.
	variant := func(t *testing.T, files map[string]string) Source {
		return newModule(t, libPath, "v1.0.0", files)
	}
	addPatchDir := func(t *testing.T, rel, name, content string) string {
		dir := filepath.Join(t.TempDir(), "patches")
		if err := copyTree(patchesDir, mkdir(t, dir)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(rel), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	tests := []struct {
		name    string
		opts    func(t *testing.T) ApplyOptions
		want    []string
		hunk    int    // the ApplyError's hunk, when it is one
		file    string // the ApplyError's file, when it is one
		patchOf string // the ApplyError's patch, when it is one
	}{{
		name: "a hunk no longer matches",
		opts: func(t *testing.T) ApplyOptions {
			a := replaceLine(pristineA, "a line 15", "a line 15 changed upstream")
			return ApplyOptions{Modules: []Source{variant(t, map[string]string{"a.go": a, "b.go": pristineB})}}
		},
		want:    []string{patch1, `hunk #2 "@@ -12,7 +12,7 @@`, "a.go"},
		hunk:    2,
		file:    "a.go",
		patchOf: patch1,
	}, {
		name: "a patched file is gone upstream",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{Modules: []Source{variant(t, map[string]string{"a.go": pristineA})}}
		},
		want:    []string{patch2, "b.go", "No such file"},
		file:    "b.go",
		patchOf: patch2,
	}, {
		name: "an added file exists upstream",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{Modules: []Source{variant(t, map[string]string{"a.go": pristineA, "b.go": pristineB, "c.go": "package lib\n"})}}
		},
		want:    []string{patch2, "c.go", "already exists"},
		file:    "c.go",
		patchOf: patch2,
	}, {
		name: "a corrupt patch",
		opts: func(t *testing.T) ApplyOptions {
			dir := addPatchDir(t, libPath, "0003-broken.patch",
				"From: A <a@example.com>\nSubject: [PATCH] Broken\n\nWhy.\n---\ndiff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -1,3 +1,3 @@\n a line 1\n-a line 2\n")
			return ApplyOptions{PatchesDir: dir}
		},
		want: []string{"0003-broken.patch", "corrupt patch"},
	}, {
		name: "patches for a module that is not built",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{PatchesDir: addPatchDir(t, "example.com/gone", "0001-old.patch", "stale")}
		},
		want: []string{filepath.Join("example.com", "gone"), "not being built"},
	}, {
		name: "a badly named patch file",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{PatchesDir: addPatchDir(t, libPath, "fix.patch", "x")}
		},
		want: []string{"fix.patch", "NNNN-name.patch"},
	}, {
		name: "two patches share a number",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{PatchesDir: addPatchDir(t, libPath, "0001-again.patch", "x")}
		},
		want: []string{"0001-again.patch", "share the number 0001"},
	}, {
		name: "a module listed twice",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{Modules: []Source{lib, lib}}
		},
		want: []string{libPath, "listed twice"},
	}, {
		name: "a bad module version",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{Modules: []Source{{Path: libPath, Version: "1.0", Dir: lib.Dir}}}
		},
		want: []string{libPath, "1.0"},
	}, {
		name: "a patched module without source",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{Modules: []Source{{Path: libPath, Version: "v1.0.0"}}}
		},
		want: []string{libPath + "@v1.0.0", "no source dir"},
	}, {
		name: "no patches dir",
		opts: func(t *testing.T) ApplyOptions {
			return ApplyOptions{PatchesDir: filepath.Join(t.TempDir(), "nope")}
		},
		want: []string{"patches dir", "nope"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A good tree from earlier must survive the failure untouched.
			buildDir := t.TempDir()
			good, err := Apply(ctx, ApplyOptions{Modules: []Source{lib}, PatchesDir: patchesDir, BuildDir: buildDir})
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, buildDir)

			opts := tt.opts(t)
			opts.BuildDir = buildDir
			if opts.PatchesDir == "" {
				opts.PatchesDir = patchesDir
			}
			if opts.Modules == nil {
				opts.Modules = []Source{lib}
			}
			_, err = Apply(ctx, opts)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var ae *ApplyError
			if tt.patchOf != "" {
				if !errors.As(err, &ae) {
					t.Fatalf("error %q is no ApplyError", err)
				}
				if ae.Patch != tt.patchOf || ae.File != tt.file || ae.Hunk != tt.hunk {
					t.Errorf("ApplyError = %+v, want patch %s, file %s, hunk %d", ae, tt.patchOf, tt.file, tt.hunk)
				}
			}
			sameFiles(t, "build dir after a failed Apply", snapshot(t, buildDir), before)
			if got := readFile(t, filepath.Join(good.Trees[0].Dir, "a.go")); got != patchedA {
				t.Errorf("the good tree changed:\n%s", got)
			}
		})
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
