// Package images builds, on this machine and without a registry, every container image the
// [Conformance] tests of the locked Kubernetes release use, named as conformance/repo-list.yaml
// (KUBE_TEST_REPO_LIST) says, and writes them as OCI archives nodes import at start.
//
// The sources: Go programs from the locked, patched upstream (agnhost, sample-apiserver, nnp;
// see conformance/binaries), files from upstream's test/images, Debian's busybox-static, and
// Debian root filesystems made with mmdebstrap where a real distribution is needed (agnhost's
// shell tools, nginx, the glibc DNS tools). Images are built in groups that share layers, one
// archive per group, kept under $HOME/.cache/<program>/conformance/images by a hash of the
// group's inputs: a group whose inputs did not change is not rebuilt.
package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/distro-io/distro/conformance/binaries"
	relimages "github.com/distro-io/distro/release/images"
)

// Options are the inputs of Build.
type Options struct {
	// KubernetesDir is the Kubernetes module source: the image manifest and test/images files
	// are read from it.
	KubernetesDir string
	// Binaries builds the Go programs the images carry.
	Binaries *binaries.Builder
	// CoreDNS returns the CoreDNS executable agnhost and glibc-dns-testing carry as /coredns
	// (the distribution's own build of its locked CoreDNS).
	CoreDNS func(ctx context.Context) ([]byte, error)
	// CacheDir is where archives, root filesystems and packages are kept; empty means
	// $HOME/.cache/<program>/conformance.
	CacheDir string
	// Groups limits the build to these groups (see Groups); empty builds them all.
	Groups []string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// Archive is one group's archive.
type Archive struct {
	Group string
	Path  string
	Refs  []string
	// Built is false when the archive came from the cache.
	Built    bool
	Duration time.Duration
	Size     int64
}

// group is a set of images built together: they share layers and land in one archive.
type group struct {
	name string
	// ids are the ImageIDs of upstream's manifest the group makes.
	ids []string
	// inputs says what decides the group's bytes besides the refs (cheap: no build).
	inputs func(ctx context.Context, b *builder) (any, error)
	// build makes the images, by ImageID.
	build func(ctx context.Context, b *builder) (map[string]v1.Image, error)
}

// Groups lists the image groups by name, in build order.
func Groups() []string {
	var names []string
	for _, g := range groups {
		names = append(names, g.name)
	}
	return names
}

// GroupIDs lists the ImageIDs of upstream's manifest each group makes.
func GroupIDs() map[string][]string {
	m := map[string][]string{}
	for _, g := range groups {
		m[g.name] = slices.Clone(g.ids)
	}
	return m
}

// archiveFormat changes when the archive layout changes, or a recipe changes in a way its
// inputs do not show (the files and configs written by the recipes themselves).
const archiveFormat = "1"

type builder struct {
	Options
	manifest *Manifest
	// memo keeps layers and images shared between groups within one Build.
	memo map[string]any
}

func (b *builder) logf(format string, args ...any) {
	if b.Log != nil {
		b.Log(format, args...)
	}
}

// Build builds every group (or those opts.Groups names) unless cached and returns the archives.
func Build(ctx context.Context, opts Options) ([]Archive, error) {
	if opts.CacheDir == "" {
		dir, err := binaries.DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = dir
	}
	mf, err := LoadManifest(opts.KubernetesDir)
	if err != nil {
		return nil, err
	}
	b := &builder{Options: opts, manifest: mf, memo: map[string]any{}}
	for _, name := range opts.Groups {
		if !slices.Contains(Groups(), name) {
			return nil, fmt.Errorf("no image group %q (groups: %s)", name, strings.Join(Groups(), ", "))
		}
	}
	var out []Archive
	for _, g := range groups {
		if len(opts.Groups) > 0 && !slices.Contains(opts.Groups, g.name) {
			continue
		}
		a, err := b.buildGroup(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("image group %s: %w", g.name, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// refs returns the group's references by ImageID.
func (b *builder) refs(g group) (map[string]string, error) {
	refs := map[string]string{}
	for _, id := range g.ids {
		if r, ok := b.ownRef(id); ok {
			refs[id] = r
			continue
		}
		r, err := b.manifest.Ref(id)
		if err != nil {
			return nil, err
		}
		refs[id] = r
	}
	return refs, nil
}

func (b *builder) buildGroup(ctx context.Context, g group) (Archive, error) {
	refs, err := b.refs(g)
	if err != nil {
		return Archive{}, err
	}
	in, err := g.inputs(ctx, b)
	if err != nil {
		return Archive{}, err
	}
	key, err := hashJSON(map[string]any{"format": archiveFormat, "refs": refs, "inputs": in})
	if err != nil {
		return Archive{}, err
	}
	a := Archive{Group: g.name, Path: filepath.Join(b.CacheDir, "images", g.name+"-"+key+".tar")}
	for _, id := range g.ids {
		a.Refs = append(a.Refs, refs[id])
	}
	slices.Sort(a.Refs)
	if st, err := os.Stat(a.Path); err == nil {
		a.Size = st.Size()
		b.logf("%s: cached (%s)", g.name, a.Path)
		return a, nil
	}
	start := time.Now()
	b.logf("%s: building %s", g.name, strings.Join(a.Refs, " "))
	imgs, err := g.build(ctx, b)
	if err != nil {
		return Archive{}, err
	}
	var named []relimages.Named
	for _, id := range g.ids {
		img, ok := imgs[id]
		if !ok {
			return Archive{}, fmt.Errorf("the recipe made no image %s", id)
		}
		named = append(named, relimages.Named{Ref: refs[id], Image: img})
	}
	if err := relimages.WriteArchiveFile(a.Path, named); err != nil {
		return Archive{}, err
	}
	st, err := os.Stat(a.Path)
	if err != nil {
		return Archive{}, err
	}
	a.Built, a.Duration, a.Size = true, time.Since(start), st.Size()
	b.logf("%s: built in %s, %.1f MiB (%s)", g.name, a.Duration.Round(time.Second), float64(a.Size)/(1<<20), a.Path)
	return a, nil
}

// upstreamFile reads a file of the Kubernetes source (test/images/...).
func (b *builder) upstreamFile(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(b.KubernetesDir, filepath.FromSlash(rel)))
}

// upstreamHashes hashes files of the Kubernetes source, for a group's inputs.
func (b *builder) upstreamHashes(rels ...string) (map[string]string, error) {
	m := map[string]string{}
	for _, r := range rels {
		data, err := b.upstreamFile(r)
		if err != nil {
			return nil, err
		}
		m[r] = sha256Hex(data)
	}
	return m, nil
}

// memoize runs f once per key within a Build.
func memoize[T any](b *builder, key string, f func() (T, error)) (T, error) {
	if v, ok := b.memo[key]; ok {
		return v.(T), nil
	}
	v, err := f()
	if err != nil {
		var zero T
		return zero, err
	}
	b.memo[key] = v
	return v, nil
}

// binary builds (or takes from the cache) one of the Go programs.
func (b *builder) binary(ctx context.Context, bin binaries.Binary) ([]byte, error) {
	if b.Binaries == nil {
		return nil, errors.New("no binaries builder")
	}
	p, err := b.Binaries.Build(ctx, bin)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func (b *builder) binaryKey(ctx context.Context, bin binaries.Binary) (string, error) {
	if b.Binaries == nil {
		return "", errors.New("no binaries builder")
	}
	return b.Binaries.Key(ctx, bin)
}

func (b *builder) coreDNS(ctx context.Context) ([]byte, error) {
	return memoize(b, "coredns", func() ([]byte, error) {
		if b.CoreDNS == nil {
			return nil, errors.New("no CoreDNS build")
		}
		return b.CoreDNS(ctx)
	})
}

// defaultPath is the PATH of every image, as Docker's and the OCI runtimes' default.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// withVersion gives each tag of a shared image its own config, so two tags of the same
// content are still two images (as upstream's are).
func withVersion(cfg v1.Config, tag string) v1.Config {
	cfg.Labels = map[string]string{"org.opencontainers.image.version": tag}
	return cfg
}
