//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"

	"github.com/distro-io/distro/distro/version"
	stepimages "github.com/distro-io/distro/release/steps/images"
)

// Up builds dist/distro and the airgap images, puts the images where a node imports them
// (<data-dir>/agent/images, as for an airgap install), and runs `distro server` in the
// foreground: a one-node cluster on the embedded SQLite datastore (as root: data in
// /var/lib/distro, kubeconfig in /etc/distro/distro.yaml). Use `dist/distro kubectl get nodes`
// from another shell; stop it with Ctrl-C.
func Up(ctx context.Context) error {
	mg.CtxDeps(ctx, Build, Images.Build)
	imagesDir := filepath.Join(version.DataDir, "agent", "images")
	if err := installAirgapImages(imagesDir); err != nil {
		return err
	}
	fmt.Println("starting dist/distro server; stop it with Ctrl-C")
	return sh.RunV(distPath, "server")
}

// installAirgapImages copies the airgap archive into dir, keeping its modification time so an unchanged archive is not imported again.
func installAirgapImages(dir string) error {
	src := filepath.Join(filepath.Dir(distPath), stepimages.Archive)
	dst := filepath.Join(dir, stepimages.Archive)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return sh.Run("cp", "--preserve=timestamps", src, dst)
}
