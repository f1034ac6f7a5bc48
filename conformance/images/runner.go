package images

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/distro-io/distro/conformance/binaries"
)

// The images that run the suite rather than being used by it: upstream's manifest does not
// name them, so their references are made here, under the same registry.
const (
	SonobuoyID    = "Sonobuoy"
	ConformanceID = "Conformance"
)

// runnerRootfs carries the C library that e2e.test and kubectl (built with cgo, like the
// distro binary, so they share its build cache) link against. It is the glibc-dns-testing
// rootfs: any Debian would do, and that one is already built.
var runnerRootfs = glibcDNSRootfs

// upstreamClusterDir is copied to /kubernetes/cluster, where go-runner's --repo-root points.
const upstreamClusterDir = "cluster"

// SonobuoyRef is the reference of Sonobuoy's image.
func SonobuoyRef() string { return Registry + "/sonobuoy:" + binaries.SonobuoyVersion }

// ConformanceRef is the reference of the conformance image of a Kubernetes version (vX.Y.Z).
func ConformanceRef(kubernetesVersion string) string {
	return Registry + "/conformance:" + kubernetesVersion
}

// ownRef is the reference of an image this package names itself.
func (b *builder) ownRef(id string) (string, bool) {
	switch id {
	case SonobuoyID:
		return SonobuoyRef(), true
	case ConformanceID:
		if b.Binaries == nil {
			return "", false
		}
		return ConformanceRef(b.Binaries.KubernetesVersion), true
	}
	return "", false
}

// sonobuoyGroup is Sonobuoy's image: its one binary at /sonobuoy (the aggregator, the workers
// and `sonobuoy splat` all run it from there) on busybox, for /tmp and a shell.
var sonobuoyGroup = group{
	name: "sonobuoy",
	ids:  []string{SonobuoyID},
	inputs: func(ctx context.Context, b *builder) (any, error) {
		bb, err := busyboxInputs(ctx, b)
		if err != nil {
			return nil, err
		}
		bin, err := b.binaryKey(ctx, binaries.Sonobuoy)
		if err != nil {
			return nil, err
		}
		return map[string]any{"busybox": bb, "sonobuoy": bin}, nil
	},
	build: func(ctx context.Context, b *builder) (map[string]v1.Image, error) {
		base, err := b.busyboxImage(ctx)
		if err != nil {
			return nil, err
		}
		bin, err := b.binary(ctx, binaries.Sonobuoy)
		if err != nil {
			return nil, err
		}
		l, err := FilesLayer([]File{Exec("sonobuoy", bin)})
		if err != nil {
			return nil, err
		}
		img, err := NewImage(base, []Step{{l, "ADD sonobuoy /sonobuoy"}}, v1.Config{
			Env: []string{defaultPath}, WorkingDir: "/",
			Cmd: []string{"/sonobuoy", "aggregator", "--no-exit", "-v", "3", "--logtostderr"},
		})
		if err != nil {
			return nil, err
		}
		return map[string]v1.Image{SonobuoyID: img}, nil
	},
}

// conformanceGroup is upstream's conformance image (test/conformance/image/Dockerfile): ginkgo,
// e2e.test and kubectl in /usr/local/bin, go-runner as its entrypoint and under its legacy
// names, the tree's cluster/ dir, and the same environment defaults.
var conformanceGroup = group{
	name: "conformance",
	ids:  []string{ConformanceID},
	inputs: func(ctx context.Context, b *builder) (any, error) {
		in := map[string]any{}
		for _, bin := range runnerBinaries {
			k, err := b.binaryKey(ctx, bin)
			if err != nil {
				return nil, err
			}
			in[bin.Name] = k
		}
		rootfs, err := runnerRootfs.keyInput(ctx)
		if err != nil {
			return nil, err
		}
		in["rootfs"] = rootfs
		cluster, err := binaries.HashTree(filepath.Join(b.KubernetesDir, upstreamClusterDir))
		if err != nil {
			return nil, err
		}
		in["cluster"] = cluster
		return in, nil
	},
	build: buildConformanceImage,
}

var runnerBinaries = []binaries.Binary{binaries.E2ETest, binaries.Ginkgo, binaries.Kubectl, binaries.GoRunner}

func buildConformanceImage(ctx context.Context, b *builder) (map[string]v1.Image, error) {
	base, err := b.debianLayer(ctx, runnerRootfs)
	if err != nil {
		return nil, err
	}
	bins := map[string][]byte{}
	for _, bin := range runnerBinaries {
		data, err := b.binary(ctx, bin)
		if err != nil {
			return nil, err
		}
		bins[bin.Name] = data
	}
	cluster, err := treeFiles(filepath.Join(b.KubernetesDir, upstreamClusterDir), "kubernetes/cluster")
	if err != nil {
		return nil, err
	}
	clusterLayer, err := FilesLayer(append([]File{Dir("kubernetes", 0o755)}, cluster...))
	if err != nil {
		return nil, err
	}
	binLayer, err := FilesLayer([]File{
		Dir("usr/local", 0o755), Dir("usr/local/bin", 0o755),
		Exec("usr/local/bin/ginkgo", bins["ginkgo"]),
		Exec("usr/local/bin/e2e.test", bins["e2e.test"]),
		Exec("usr/local/bin/kubectl", bins["kubectl"]),
		Exec("usr/local/bin/kubeconformance", bins["gorunner"]),
		Exec("run_e2e.sh", bins["gorunner"]),
		Exec("gorunner", bins["gorunner"]),
	})
	if err != nil {
		return nil, err
	}
	img, err := NewImage(nil, []Step{
		base,
		{clusterLayer, "COPY cluster /kubernetes/cluster"},
		{binLayer, "COPY ginkgo e2e.test kubectl gorunner"},
	}, v1.Config{
		Env: []string{
			defaultPath,
			`E2E_FOCUS=\[Conformance\]`, "E2E_SKIP=", "E2E_PROVIDER=local", "E2E_PARALLEL=1",
			"E2E_VERBOSITY=4", "RESULTS_DIR=/tmp/results", "KUBECONFIG=",
		},
		Entrypoint: []string{"kubeconformance"},
	})
	if err != nil {
		return nil, err
	}
	return map[string]v1.Image{ConformanceID: img}, nil
}

// treeFiles are the dirs, regular files and symlinks under dir, placed under prefix.
func treeFiles(dir, prefix string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(filepath.Join(prefix, rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			files = append(files, Dir(name, 0o755))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			files = append(files, Link(name, target))
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			files = append(files, File{Path: name, Mode: mode, Data: data})
		default:
			return fmt.Errorf("%s: not a file, dir or symlink", p)
		}
		return nil
	})
	return files, err
}
