//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/release/images"
	stepimages "github.com/distro-io/distro/release/steps/images"
	"github.com/distro-io/distro/release/upstream"
)

// Images builds the container images nodes import instead of pulling them.
type Images mg.Namespace

// Build builds the pause image from the Kubernetes source upstream.lock pins (gcc, static) and
// the CoreDNS image from its locked module (go, static, outside distro's go.mod), and writes
// dist/distro-airgap-images-amd64.tar.zst and dist/distro-images.txt. Compiled binaries are
// cached in $HOME/.cache/distro/images by a hash of their inputs.
func (Images) Build(ctx context.Context) error {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	imgs, err := images.Airgap(ctx, images.AirgapOptions{Lock: lock, DistDir: filepath.Dir(distPath)})
	if err != nil {
		return err
	}
	archive := filepath.Join(filepath.Dir(distPath), stepimages.Archive)
	st, err := os.Stat(archive)
	if err != nil {
		return err
	}
	for _, n := range imgs {
		fmt.Println(n.Ref)
	}
	fmt.Printf("%s %.2f MiB\n", archive, float64(st.Size())/(1<<20))
	return nil
}
