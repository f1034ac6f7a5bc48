//go:build mage

package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/upstream"
)

// Upstream checks and moves the upstream sources pinned in upstream.lock.
type Upstream mg.Namespace

const upstreamLock = "upstream.lock"

// Verify checks every module in upstream.lock against its h1: hash, and go.mod against the lock.
// Each module is downloaded through the go command (GOPROXY, GOSUMDB, GONOSUMDB, GOMODCACHE and
// GOFLAGS apply) and its zip and extracted tree re-hashed; go.mod must require the kubernetes
// and linked modules and replace every staging module at the locked versions.
func (Upstream) Verify(ctx context.Context) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	goModErr := upstream.CheckGoMod(lock, "go.mod")
	verifyErr := upstream.Report(os.Stdout, upstream.VerifyEach(ctx, lock, upstream.Options{}))
	if goModErr == nil {
		fmt.Println("go.mod requires and replaces the locked versions")
	}
	return errors.Join(goModErr, verifyErr)
}

// Bump moves upstream.lock to a Kubernetes version such as v1.37.3 (go.mod is not touched).
// The kubernetes module and every staging module (at the matching v0.X.Y) move, their hashes
// are recorded through the go command, and the revision is reset to 1. Update go.mod's require
// and replace block to match, then run upstream:verify.
func (Upstream) Bump(ctx context.Context, version string) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	next, err := upstream.Bump(ctx, lock, version, upstream.Options{})
	if err != nil {
		return err
	}
	fmt.Println("upstream.lock now names", next.ReleaseVersion())
	return next.Write(upstreamLock)
}

// Refresh fills in the hash of every module in upstream.lock written with an empty sum.
// Hashes are taken as the go command downloads the module, checked against the checksum
// database unless GOSUMDB or GONOSUMDB say otherwise; hashes already present are left for
// upstream:verify to check.
func (Upstream) Refresh(ctx context.Context) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	next, err := upstream.Refresh(ctx, lock, upstream.Options{})
	if err != nil {
		return err
	}
	return next.Write(upstreamLock)
}
