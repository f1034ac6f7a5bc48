//go:build mage

package main

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"

	"github.com/distro-io/distro/release/build"
)

// Test runs every check and test: upstream.lock against the module proxy, the patch
// budget, dist/distro built from the patched trees, the airgap images the node tests import,
// the strip audit, then go test ./...
// against the patched workspace with DISTRO_BINARY set so the binary's own tests run.
func Test(ctx context.Context) error {
	mg.SerialCtxDeps(ctx, Upstream.Verify, Patches.Check, Build, Images.Build, Strip.Audit)
	return goTestAll(ctx)
}

// Unit runs go test ./... on plain upstream (no build, no binary tests), with the build's
// tags and -trimpath so it shares the build cache with binaryUnpatched.
func Unit(ctx context.Context) error {
	return sh.RunV("go", "test", "-trimpath", "-tags", strings.Join(build.Tags, ","), "./...")
}

func goTestAll(ctx context.Context) error {
	bin, err := filepath.Abs(distPath)
	if err != nil {
		return err
	}
	work, err := filepath.Abs("build/go.work")
	if err != nil {
		return err
	}
	env := map[string]string{"DISTRO_BINARY": bin, "GOWORK": work}
	// The same -trimpath and tags as the build, so the packages the binary compiled are
	// reused from the build cache instead of compiled a second time for the tests. The
	// end-to-end tests run real servers and datastores: far longer than go test's 10m default.
	return sh.RunWithV(env, "go", "test", "-count=1", "-timeout=45m", "-trimpath",
		"-tags", strings.Join(build.Tags, ","), "./...")
}
