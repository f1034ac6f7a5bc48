//go:build mage

package main

import (
	"context"

	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"
)

// Up builds dist/distro and runs it: today it prints what the binary carries.
func Up(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	return sh.RunV(distPath, "--version")
}
