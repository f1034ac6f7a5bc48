package buildbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/patchset"
)

// WarmOptions say how to rebuild after a change to one patch.
type WarmOptions struct {
	// Build is the build to repeat; its GoWork is replaced by the scratch workspace and
	// Output is where the changed binary goes.
	Build build.Options
	// Modules and PatchesDir are what patchset.Apply takes for the real build.
	Modules    []patchset.Source
	PatchesDir string
	// Module is the module whose last patch gets a follow-up.
	Module string
	// Scratch holds the copied patch set, the patched trees and the workspace.
	Scratch string
	// GoWorkSum, when set, is copied beside the scratch go.work so the workspace knows the
	// same checksums as the real one.
	GoWorkSum string
	// Baseline builds the unchanged scratch workspace first, so the cache surely holds
	// every package at these paths and the measured build differs from it by one file.
	Baseline bool
}

// Warm is the outcome of a warm rebuild.
type Warm struct {
	Baseline Result // zero unless WarmOptions.Baseline
	// BaselineOutput is the binary of the unchanged scratch workspace.
	BaselineOutput string
	Changed        Result
	Patch          string // the patch whose file was touched
	File           string // the file, relative to the module root
	Extra          string // the added patch file
}

// extraName is the added patch: numbered after every real one.
const extraName = "9999-bench-touch-one-file.patch"

// WarmRebuild copies the patch set, adds a patch that appends a comment line to a file the
// module's last patch already changes, applies it into a scratch build dir with its own
// go.work and times the build. The real patches/ and build/ are left alone.
func WarmRebuild(ctx context.Context, o WarmOptions) (Warm, error) {
	var w Warm
	patches := filepath.Join(o.Scratch, "patches")
	buildDir := filepath.Join(o.Scratch, "build")
	if err := copyDir(o.PatchesDir, patches); err != nil {
		return w, fmt.Errorf("copy patch set: %w", err)
	}
	trees, err := applyInto(ctx, o, patches, buildDir)
	if err != nil {
		return w, err
	}
	if o.Baseline {
		base := o.Build
		base.GoWork = filepath.Join(buildDir, "go.work")
		base.Output = filepath.Join(o.Scratch, "baseline", filepath.Base(o.Build.Output))
		if w.Baseline, err = Timed(ctx, base); err != nil {
			return w, fmt.Errorf("baseline build: %w", err)
		}
		w.BaselineOutput = base.Output
	}

	var tree *patchset.Tree
	for i := range trees {
		if trees[i].Path == o.Module {
			tree = &trees[i]
		}
	}
	if tree == nil || len(tree.Patches) == 0 {
		return w, fmt.Errorf("module %s has no patches in %s", o.Module, o.PatchesDir)
	}
	last := tree.Patches[len(tree.Patches)-1]
	w.Patch = filepath.Join(o.PatchesDir, filepath.FromSlash(o.Module), filepath.Base(last))
	if w.File, err = touchedGoFile(last); err != nil {
		return w, err
	}
	content, err := os.ReadFile(filepath.Join(tree.Dir, filepath.FromSlash(w.File)))
	if err != nil {
		return w, err
	}
	extra, err := appendCommentPatch(w.File, content)
	if err != nil {
		return w, err
	}
	w.Extra = filepath.Join(filepath.Dir(last), extraName)
	if err := os.WriteFile(w.Extra, extra, 0o644); err != nil {
		return w, err
	}
	if _, err := applyInto(ctx, o, patches, buildDir); err != nil {
		return w, fmt.Errorf("with the extra patch: %w", err)
	}
	changed := o.Build
	changed.GoWork = filepath.Join(buildDir, "go.work")
	if w.Changed, err = Timed(ctx, changed); err != nil {
		return w, fmt.Errorf("warm rebuild: %w", err)
	}
	return w, nil
}

// applyInto makes the patched trees and the workspace in buildDir.
func applyInto(ctx context.Context, o WarmOptions, patchesDir, buildDir string) ([]patchset.Tree, error) {
	res, err := patchset.Apply(ctx, patchset.ApplyOptions{Modules: o.Modules, PatchesDir: patchesDir, BuildDir: buildDir})
	if err != nil {
		return nil, err
	}
	if err := patchset.WriteGoWork(buildDir, o.Build.ModuleDir, res.Trees); err != nil {
		return nil, err
	}
	if o.GoWorkSum != "" {
		data, err := os.ReadFile(o.GoWorkSum)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err == nil {
			if err := os.WriteFile(filepath.Join(buildDir, "go.work.sum"), data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	return res.Trees, nil
}

// touchedGoFile returns the last non-test Go file a patch changes (and does not delete).
func touchedGoFile(patchFile string) (string, error) {
	data, err := os.ReadFile(patchFile)
	if err != nil {
		return "", err
	}
	var file string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, ok := strings.CutPrefix(sc.Text(), "+++ b/")
		if ok && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			file = name
		}
	}
	if file == "" {
		return "", fmt.Errorf("%s changes no Go file other than tests", patchFile)
	}
	return file, nil
}

// appendCommentPatch returns a patch adding "//" after the last line of file, whose
// current content is given: a change the compiler must see but that means nothing.
func appendCommentPatch(file string, content []byte) ([]byte, error) {
	if len(content) == 0 || content[len(content)-1] != '\n' {
		return nil, fmt.Errorf("%s is empty or lacks a final newline", file)
	}
	lines := strings.SplitAfter(string(content[:len(content)-1]), "\n")
	k := min(3, len(lines))
	start := len(lines) - k + 1
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: [PATCH] bench: touch one patched file\n\n")
	fmt.Fprintf(&b, "A trailing comment line, so the warm-rebuild benchmark changes exactly one file.\n---\n")
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n", file, file, file, file)
	fmt.Fprintf(&b, "@@ -%d,%d +%d,%d @@\n", start, k, start, k+1)
	for _, l := range lines[len(lines)-k:] {
		b.WriteString(" " + strings.TrimSuffix(l, "\n") + "\n")
	}
	b.WriteString("+//\n")
	return []byte(b.String()), nil
}

// copyDir copies the regular files below src to dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
