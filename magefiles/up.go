//go:build mage

package main

import (
	"context"
	"fmt"

	"github.com/magefile/mage/mg"
	"github.com/magefile/mage/sh"
)

// Up builds dist/distro and runs `distro server` in the foreground on the embedded SQLite
// datastore (as root: data in /var/lib/distro, kubeconfig in /etc/distro/distro.yaml).
// Use `dist/distro kubectl get ns` from another shell; stop it with Ctrl-C. The server runs
// the control plane only (--disable-agent) until the node part lands.
func Up(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	fmt.Println("starting dist/distro server --disable-agent; stop it with Ctrl-C")
	return sh.RunV(distPath, "server", "--disable-agent")
}
