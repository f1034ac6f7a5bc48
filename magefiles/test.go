//go:build mage

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"

	"github.com/distro-io/distro/release/build"
)

// Test runs every check and test: upstream.lock against the module proxy, the patch
// budget, dist/distro built from the patched trees, the airgap images the node tests import,
// the strip audit, then go test ./... against the patched workspace with DISTRO_BINARY set so
// the binary's own tests run (the cluster tests of distro/e2e last, on their own).
func Test(ctx context.Context) error {
	mg.SerialCtxDeps(ctx, Upstream.Verify, Patches.Check, Build, Images.Build, Strip.Audit)
	return goTestAll(ctx)
}

// Unit runs go test ./... on plain upstream (no build, no binary tests), with the build's
// tags and -trimpath so it shares the build cache with binaryUnpatched.
func Unit(ctx context.Context) error {
	return sh.RunV("go", "test", "-trimpath", "-tags", strings.Join(build.Tags, ","), "./...")
}

// clusterTests is the package whose tests bring up real clusters, servers and datastores.
const clusterTests = "github.com/distro-io/distro/distro/e2e"

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
	tags := strings.Join(build.Tags, ",")
	listed, err := sh.OutputWith(env, "go", "list", "-tags", tags, "./...")
	if err != nil {
		return err
	}
	var others []string
	for _, pkg := range strings.Fields(listed) {
		if pkg != clusterTests {
			others = append(others, pkg)
		}
	}
	// The same -trimpath and tags as the build, so the packages the binary compiled are
	// reused from the build cache instead of compiled a second time for the tests. The
	// end-to-end tests run real servers and datastores: far longer than go test's 10m default.
	args := []string{"test", "-count=1", "-timeout=45m", "-trimpath", "-tags", tags}
	// The cluster tests run after the others, not beside them: a cluster starting while other
	// packages compile (CoreDNS, for one) on a small machine can starve an apiserver past
	// upstream's one-minute deadline for its start-up hooks, and it exits, as it would anywhere.
	// Both runs go ahead, so one run reports every failure.
	return errors.Join(
		sh.RunWithV(env, "go", append(args, others...)...),
		sh.RunWithV(env, "go", append(args, clusterTests)...),
	)
}
