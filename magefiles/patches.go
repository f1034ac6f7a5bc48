//go:build mage

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/patchset"
	"github.com/distro-io/distro/release/upstream"
)

// Patches applies and maintains distro's changes to upstream modules (patches/<module>/).
type Patches mg.Namespace

// Where the patch series live, where patched trees and go.work go, and where patches:edit
// makes its repositories.
const (
	patchesDir      = "patches"
	patchesBuildDir = "build"
	patchesEditDir  = "build/edit"
)

// Apply copies every upstream module that has patches to build/src/<module>@<version>, applies
// its patches in order and writes build/go.work; build with GOWORK=build/go.work to use them.
// Trees whose source and patches did not change are kept as they are.
func (Patches) Apply(ctx context.Context) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	patched, err := patchset.PatchedModules(patchesDir)
	if err != nil {
		return err
	}
	var sources []patchset.Source
	for _, m := range lock.Modules {
		src := patchset.Source{Path: m.Path, Version: m.Version, Sum: m.Sum}
		if slices.Contains(patched, m.Path) {
			if src, err = resolveSource(ctx, lock, m.Path); err != nil {
				return err
			}
		}
		sources = append(sources, src)
	}
	res, err := patchset.Apply(ctx, patchset.ApplyOptions{Modules: sources, PatchesDir: patchesDir, BuildDir: patchesBuildDir})
	if err != nil {
		return err
	}
	for _, t := range res.Trees {
		state := "patched"
		if t.Reused {
			state = "unchanged"
		}
		fmt.Printf("%s@%s: %d patches, %s (%s)\n", t.Path, t.Version, len(t.Patches), state, t.Dir)
	}
	return patchset.WriteGoWork(patchesBuildDir, ".", res.Trees)
}

// Edit makes a git repository of a module, build/edit/<module>: the pristine source tagged
// upstream and one commit per patch. Change the commits there, then run patches:export.
func (Patches) Edit(ctx context.Context, module string) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	src, err := resolveSource(ctx, lock, module)
	if err != nil {
		return err
	}
	repo, err := patchset.Edit(ctx, src, patchesDir, patchesEditDir)
	if err != nil {
		return err
	}
	fmt.Printf("%s: commits after the upstream tag are the patches; run patches:export %s when done\n", repo, module)
	return nil
}

// Export writes the commits of build/edit/<module> back to patches/<module>/, then checks
// the whole series against the line budget.
func (Patches) Export(ctx context.Context, module string) error {
	if err := patchset.Export(ctx, filepath.Join(patchesEditDir, filepath.FromSlash(module)), patchesDir, module); err != nil {
		return err
	}
	return Patches{}.Check()
}

// Check counts the lines each patch changes, fails above the budget of 1000 lines in all, and
// fails for a patch whose commit message does not say why it exists.
func (Patches) Check() error {
	stats, err := patchset.Check(patchesDir, patchset.Budget)
	fmt.Print(stats)
	return err
}

// resolveSource finds a locked module's pristine source through the go command and makes
// sure it is the one the lock pins.
func resolveSource(ctx context.Context, lock *upstream.Lock, path string) (patchset.Source, error) {
	m, ok := lock.Find(path)
	if !ok {
		return patchset.Source{}, fmt.Errorf("%s is not in %s", path, upstreamLock)
	}
	got, dir, err := upstream.Resolve(ctx, m.Path, m.Version, upstream.Options{})
	if err != nil {
		return patchset.Source{}, err
	}
	if got.Sum != m.Sum {
		return patchset.Source{}, fmt.Errorf("%s: the source has hash %s, %s pins %s", m, got.Sum, upstreamLock, m.Sum)
	}
	return patchset.Source{Path: m.Path, Version: m.Version, Dir: dir, Sum: m.Sum}, nil
}
