package images

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distro-io/distro/distro/version"
	stepimages "github.com/distro-io/distro/release/steps/images"
	"github.com/distro-io/distro/release/upstream"
)

// AirgapOptions are the inputs of Airgap.
type AirgapOptions struct {
	Lock *upstream.Lock
	// DistDir receives the archive and the list under the release's asset names.
	DistDir string
	// CacheDir is passed to the image builds.
	CacheDir string
}

// Airgap builds every image a node needs and writes the release's airgap archive
// (<program>-airgap-images-amd64.tar.zst) and image list into DistDir. It returns the images.
func Airgap(ctx context.Context, opts AirgapOptions) ([]Named, error) {
	k := opts.Lock.Kubernetes()
	dir, err := ModuleDir(ctx, k)
	if err != nil {
		return nil, err
	}
	pause, err := Pause(ctx, PauseOptions{KubernetesDir: dir, KubernetesVersion: k.Version, CacheDir: opts.CacheDir})
	if err != nil {
		return nil, err
	}
	coredns, err := coreDNSFromLock(ctx, opts.Lock, opts.CacheDir)
	if err != nil {
		return nil, err
	}
	imgs := []Named{pause, coredns}
	if err := WriteArchiveFile(filepath.Join(opts.DistDir, stepimages.Archive), imgs); err != nil {
		return nil, err
	}
	if err := WriteList(filepath.Join(opts.DistDir, stepimages.List), imgs); err != nil {
		return nil, err
	}
	return imgs, nil
}

// coreDNSFromLock builds CoreDNS from the module the lock pins with role image.
func coreDNSFromLock(ctx context.Context, lock *upstream.Lock, cacheDir string) (Named, error) {
	m, ok := lock.Find(CoreDNSModule)
	if !ok || m.Role != upstream.RoleImage {
		return Named{}, fmt.Errorf("upstream.lock has no module %s with role %s", CoreDNSModule, upstream.RoleImage)
	}
	dir, err := ModuleDir(ctx, m)
	if err != nil {
		return Named{}, err
	}
	return CoreDNS(ctx, CoreDNSOptions{Dir: dir, Version: m.Version, Sum: m.Sum, CacheDir: cacheDir})
}

// ModuleDir returns the source dir of m from the module cache, downloading it through the go
// command, and refuses a download whose hash is not the one the lock pins.
func ModuleDir(ctx context.Context, m upstream.Module) (string, error) {
	// Outside any module, so neither go.mod nor a go.work changes what is fetched.
	tmp, err := os.MkdirTemp("", version.Program+"-images-dl-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out, runErr := runEnv(ctx, tmp, []string{"GOFLAGS=-mod=mod", "GOWORK=off"}, "go", "mod", "download", "-json", m.String())
	var info struct{ Dir, Sum, Error string }
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Error != "" || runErr != nil {
		return "", fmt.Errorf("downloading %s: %v %s", m, runErr, info.Error)
	}
	if m.Sum != "" && info.Sum != m.Sum {
		return "", fmt.Errorf("module %s has hash %s, upstream.lock says %s", m, info.Sum, m.Sum)
	}
	return info.Dir, nil
}
