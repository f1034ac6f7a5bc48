//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/strip"
)

// Strip proves what the binary leaves out.
type Strip mg.Namespace

// Audit lists the packages the patched binary links (go list -deps) and fails if any
// matches release/strip/denylist.txt; it prints package counts and binary sizes
// against a build of unpatched upstream.
func (Strip) Audit(ctx context.Context) error {
	mg.CtxDeps(ctx, Binary, BinaryUnpatched)
	patched, err := strip.ListDeps(ctx, ".", "build/go.work", build.Tags, build.MainPackage)
	if err != nil {
		return err
	}
	unpatched, err := strip.ListDeps(ctx, ".", "", build.Tags, build.MainPackage)
	if err != nil {
		return err
	}
	fmt.Printf("packages linked: %d patched, %d unpatched upstream (%+d)\n", len(patched), len(unpatched), len(patched)-len(unpatched))
	fmt.Printf("binary size:     %s patched, %s unpatched upstream\n", fileSize(realBinaryPath), fileSize("build/distro-unpatched"))
	deny := strip.DenyList()
	fmt.Printf("unpatched upstream would link %d denied packages\n", len(strip.Audit(unpatched, deny)))
	if found := strip.Audit(patched, deny); len(found) > 0 {
		for _, v := range found {
			fmt.Printf("DENIED %s (denylist.txt:%d %s)\n", v.Package, v.Pattern.Line, v.Pattern)
		}
		return fmt.Errorf("the binary links %d denied packages", len(found))
	}
	fmt.Printf("no denied package among %d (%d patterns)\n", len(patched), len(deny))
	return nil
}

func fileSize(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "(not built)"
	}
	return fmt.Sprintf("%d bytes (%.1f MiB)", st.Size(), float64(st.Size())/(1<<20))
}
