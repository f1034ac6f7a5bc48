// Package conformance ties the conformance pieces to a checkout: the binaries builder and the
// image build set up from upstream.lock, patches/ and build/go.work, and the files the run
// reads (the repo list, the focus lists). The mage targets call it; the work is done in
// conformance/binaries, conformance/images, conformance/suite and conformance/quick.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/distro-io/distro/conformance/binaries"
	"github.com/distro-io/distro/conformance/images"
	relimages "github.com/distro-io/distro/release/images"
	"github.com/distro-io/distro/release/upstream"
)

// Workspace is a checkout whose patched upstream trees are in place (patches:apply).
type Workspace struct {
	ModuleDir string
	Lock      *upstream.Lock
	Log       func(format string, args ...any)
}

// Open reads the checkout at moduleDir.
func Open(moduleDir string, log func(string, ...any)) (*Workspace, error) {
	abs, err := filepath.Abs(moduleDir)
	if err != nil {
		return nil, err
	}
	lock, err := upstream.Load(filepath.Join(abs, "upstream.lock"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, "build", "go.work")); err != nil {
		return nil, errors.New("build/go.work is missing: run `go tool mage patches:apply` first")
	}
	if log == nil {
		log = func(string, ...any) {}
	}
	return &Workspace{ModuleDir: abs, Lock: lock, Log: log}, nil
}

// Binaries is the builder of the test-side programs.
func (w *Workspace) Binaries() *binaries.Builder {
	return &binaries.Builder{
		Source: binaries.Source{
			ModuleDir:         w.ModuleDir,
			GoWork:            filepath.Join(w.ModuleDir, "build", "go.work"),
			LockFile:          filepath.Join(w.ModuleDir, "upstream.lock"),
			PatchesDir:        filepath.Join(w.ModuleDir, "patches"),
			KubernetesVersion: w.Lock.Kubernetes().Version,
		},
		Log: w.Log,
	}
}

// KubernetesDir is the Kubernetes tree the binaries are built from: the patched one when
// patches apply to it, else the module cache's.
func (w *Workspace) KubernetesDir(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{if .Replace}}{{.Replace.Dir}}{{else}}{{.Dir}}{{end}}", "k8s.io/kubernetes")
	cmd.Dir = w.ModuleDir
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(w.ModuleDir, "build", "go.work"), "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the k8s.io/kubernetes tree: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("locating the k8s.io/kubernetes tree: go list gave no dir (go mod download k8s.io/kubernetes?)")
	}
	return dir, nil
}

// ImageOptions are the conformance image build's inputs for this checkout; groups limits it.
func (w *Workspace) ImageOptions(ctx context.Context, groups []string) (images.Options, error) {
	k8s, err := w.KubernetesDir(ctx)
	if err != nil {
		return images.Options{}, err
	}
	return images.Options{
		KubernetesDir: k8s,
		Binaries:      w.Binaries(),
		CoreDNS:       w.coreDNS,
		Groups:        groups,
		Log:           w.Log,
	}, nil
}

// coreDNS is the distribution's CoreDNS build (cached by release/images).
func (w *Workspace) coreDNS(ctx context.Context) ([]byte, error) {
	m, ok := w.Lock.Find(relimages.CoreDNSModule)
	if !ok {
		return nil, fmt.Errorf("upstream.lock has no %s", relimages.CoreDNSModule)
	}
	dir, err := relimages.ModuleDir(ctx, m)
	if err != nil {
		return nil, err
	}
	return relimages.CoreDNSBinary(ctx, relimages.CoreDNSOptions{Dir: dir, Version: m.Version, Sum: m.Sum})
}

// RepoListPath is the KUBE_TEST_REPO_LIST file of the checkout.
func (w *Workspace) RepoListPath() string {
	return filepath.Join(w.ModuleDir, filepath.FromSlash(images.RepoListFile))
}

// RunnerImages are the references of the images that run the suite under Sonobuoy.
type RunnerImages struct{ Sonobuoy, Conformance string }

// RunnerImages names Sonobuoy's image and the locked Kubernetes version's conformance image.
func (w *Workspace) RunnerImages() RunnerImages {
	return RunnerImages{Sonobuoy: images.SonobuoyRef(), Conformance: images.ConformanceRef(w.Lock.Kubernetes().Version)}
}
