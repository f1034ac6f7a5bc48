//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/upstream"
)

// Build makes dist/distro, the file users download: the locked upstream modules with
// patches/ applied, the multicall binary (build/distro) stamped with the release version,
// and runc and the CNI plugins, all packed behind the self-extracting launcher. The
// version is upstream.lock's (vX.Y.Z+distroN); DISTRO_RELEASE_VERSION stamps another one
// of the same Kubernetes release and revision, such as a candidate vX.Y.Z-rcM+distroN.
func Build(ctx context.Context) error {
	mg.CtxDeps(ctx, Binary)
	mg.CtxDeps(ctx, Payload.Assemble)
	return nil
}

// Binary builds build/distro, the multicall binary, from the patched upstream trees.
func Binary(ctx context.Context) error {
	mg.CtxDeps(ctx, Patches.Apply)
	return buildBinary(ctx, "build/go.work", realBinaryPath, os.Getenv("DISTRO_RELEASE_VERSION"))
}

// BinaryUnpatched builds build/distro-unpatched from upstream as published, for comparisons.
func BinaryUnpatched(ctx context.Context) error {
	return buildBinary(ctx, "", "build/"+"distro-unpatched", os.Getenv("DISTRO_RELEASE_VERSION"))
}

// buildBinary builds the multicall binary stamped as release (empty: the lock's version).
func buildBinary(ctx context.Context, goWork, out, release string) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	stamp, err := build.StampFor(ctx, ".", lock, release)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := build.Binary(ctx, build.Options{ModuleDir: ".", GoWork: goWork, Output: out, Stamp: stamp}); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s: %.1f MiB in %s\n", out, stamp.Version, float64(st.Size())/(1<<20), time.Since(start).Round(time.Second))
	return nil
}
