// Package binaries builds the test side of a conformance run from the locked, patched upstream:
// e2e.test (the compiled k8s.io/kubernetes/test/e2e suite), ginkgo, kubectl, and the Go programs
// the test images carry (agnhost, sample-apiserver, nnp). Every build goes through build/go.work,
// so it sees exactly the modules the distro binary is built from, and each output is kept under
// $HOME/.cache/<program>/conformance/bin by a hash of its inputs: an unchanged input set is
// never compiled or linked again (e2e.test costs about half an hour of CPU cold).
package binaries

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/build"
)

// Binary is one program to build.
type Binary struct {
	// Name is the output file's name (e2e.test, ginkgo, …).
	Name string
	// Package is the import path of the main package, or of the test package when Test is set.
	Package string
	// Test builds the package's test binary (go test -c) instead of a command.
	Test bool
	// Static links without cgo: the program goes into a container image.
	Static bool
	// Version, when set, builds Package, a module whose root is the main package, at that
	// version with its own go.mod instead of through the workspace: a program the distro
	// module does not depend on.
	Version string
	// X are -X linker settings (package.variable=value) stamped into a Version build.
	X []string
}

// The programs of a conformance run.
var (
	E2ETest = Binary{Name: "e2e.test", Package: "k8s.io/kubernetes/test/e2e", Test: true}
	Ginkgo  = Binary{Name: "ginkgo", Package: "github.com/onsi/ginkgo/v2/ginkgo"}
	Kubectl = Binary{Name: "kubectl", Package: "k8s.io/kubernetes/cmd/kubectl"}
	// Agnhost is upstream's test/images/agnhost, the test suite's swiss army knife.
	Agnhost = Binary{Name: "agnhost", Package: "k8s.io/kubernetes/test/images/agnhost", Static: true}
	// SampleAPIServer is the aggregated API server the aggregator conformance test deploys.
	SampleAPIServer = Binary{Name: "sample-apiserver", Package: "k8s.io/sample-apiserver", Static: true}
	// NNP is the nonewprivs image's program (test/images/nonewprivs).
	NNP = Binary{Name: "nnp", Package: "k8s.io/kubernetes/test/images/nonewprivs", Static: true}
	// GoRunner is upstream's conformance image entrypoint (test/conformance/image/go-runner): it
	// runs ginkgo with e2e.test and leaves the results where Sonobuoy's worker collects them.
	GoRunner = Binary{Name: "gorunner", Package: "k8s.io/kubernetes/test/conformance/image/go-runner", Static: true}
	// Sonobuoy drives the certified conformance run; its image runs the aggregator and workers.
	Sonobuoy = Binary{
		Name: "sonobuoy", Package: "github.com/vmware-tanzu/sonobuoy", Static: true,
		Version: SonobuoyVersion,
		X:       []string{"github.com/vmware-tanzu/sonobuoy/pkg/buildinfo.Version=" + SonobuoyVersion},
	}
	// Etcd is the etcd server of the etcd image (the aggregator test runs it beside
	// sample-apiserver), from go.etcd.io/etcd/server/v3 at the version upstream.lock pins for tests.
	Etcd = Binary{Name: "etcd", Package: "go.etcd.io/etcd/server/v3", Static: true}
)

// SonobuoyVersion is the Sonobuoy release the conformance run uses.
const SonobuoyVersion = "v0.57.5"

// Source is the tree the binaries are built from.
type Source struct {
	// ModuleDir is the distro module root: its go.mod and go.sum pick every dependency.
	ModuleDir string
	// GoWork is build/go.work (written by patches:apply): it replaces the patched modules
	// with their trees under build/src.
	GoWork string
	// LockFile is upstream.lock and PatchesDir the patches/ dir: with go.mod, go.sum and the
	// workspace they decide the source, so they make up the cache key.
	LockFile, PatchesDir string
	// KubernetesVersion (vX.Y.Z) is stamped into the binaries' version packages, where
	// upstream's hack/lib/version.sh puts `git describe` of its checkout.
	KubernetesVersion string
}

// Builder builds binaries from a Source into a cache.
type Builder struct {
	Source
	// CacheDir keeps the outputs; empty means $HOME/.cache/<program>/conformance/bin.
	CacheDir string
	// Go is the go command; "go" from PATH when empty.
	Go string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// cacheFormat changes whenever the way a binary is built changes, retiring old entries.
const cacheFormat = "1"

// DefaultCacheDir is $HOME/.cache/<program>/conformance.
func DefaultCacheDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("conformance cache: %w", err)
	}
	return filepath.Join(home, ".cache", version.Program, "conformance"), nil
}

// Build returns the path of bin in the cache, building it unless an entry with the same key is
// there.
func (b *Builder) Build(ctx context.Context, bin Binary) (string, error) {
	key, err := b.Key(ctx, bin)
	if err != nil {
		return "", err
	}
	dir, err := b.cacheDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, bin.Name+"-"+key)
	if _, err := os.Stat(out); err == nil {
		b.logf("%s: cached (%s)", bin.Name, out)
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, "."+bin.Name+"-"+key+".tmp")
	defer os.Remove(tmp)
	args, env, err := b.command(bin, tmp)
	if err != nil {
		return "", err
	}
	workDir := b.ModuleDir
	if bin.Version != "" {
		if workDir, err = b.moduleDir(ctx, bin); err != nil {
			return "", err
		}
	}
	b.logf("%s: building %s", bin.Name, bin.Package)
	start := time.Now()
	cmd := exec.CommandContext(ctx, b.goCmd(), args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s (%s %s): %w\n%s", bin.Name, b.goCmd(), strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	st, err := os.Stat(out)
	if err != nil {
		return "", err
	}
	b.logf("%s: built in %s, %.1f MiB (%s)", bin.Name, time.Since(start).Round(time.Second), float64(st.Size())/(1<<20), out)
	return out, nil
}

// command returns the go command's arguments and the environment added to the caller's.
//
// The flags are the distro binary's (-trimpath, the same build tags, cgo on), so the packages
// both link, the whole apiserver and client side among them, come out of the same build cache
// entries; a Static binary drops cgo, as it runs in an image without a C library of its own.
func (b *Builder) command(bin Binary, out string) (args, env []string, err error) {
	if bin.Version != "" {
		args, env = moduleCommand(bin, out)
		return args, env, nil
	}
	if b.ModuleDir == "" || b.GoWork == "" {
		return nil, nil, errors.New("conformance binaries: no module dir or go.work (run patches:apply)")
	}
	work, err := filepath.Abs(b.GoWork)
	if err != nil {
		return nil, nil, err
	}
	ldflags, err := LDFlags(b.KubernetesVersion)
	if err != nil {
		return nil, nil, err
	}
	verb := []string{"build"}
	if bin.Test {
		verb = []string{"test", "-c"}
	}
	args = append(verb, "-trimpath", "-buildvcs=false", "-tags", strings.Join(build.Tags, ","), "-ldflags", ldflags, "-o", out, bin.Package)
	cgo := "1"
	if bin.Static {
		cgo = "0"
	}
	// GOFLAGS is emptied: a -mod flag from the caller's environment is refused in workspace mode.
	env = []string{"GOWORK=" + work, "GOFLAGS=", "CGO_ENABLED=" + cgo, "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOEXPERIMENT="}
	return args, env, nil
}

// moduleCommand builds a Version binary, run in its module's directory (see moduleDir), so its
// own go.mod and go.sum decide what it is built from, not the distro module's. (go install
// pkg@version would do the same, but it reads the module's version list, which a proxy may
// refuse while serving the version itself.)
func moduleCommand(bin Binary, out string) (args, env []string) {
	flags := []string{"-s", "-w", "-buildid="}
	for _, x := range bin.X {
		flags = append(flags, "-X", x)
	}
	args = []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", strings.Join(flags, " "), "-o", out, "."}
	cgo := "1"
	if bin.Static {
		cgo = "0"
	}
	env = []string{"GOWORK=off", "GOFLAGS=", "CGO_ENABLED=" + cgo, "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOEXPERIMENT="}
	return args, env
}

// moduleDir downloads a Version binary's module (verified against go.sum's checksum database
// like any download) and returns its directory in the module cache, its main package.
func (b *Builder) moduleDir(ctx context.Context, bin Binary) (string, error) {
	cmd := exec.CommandContext(ctx, b.goCmd(), "mod", "download", "-json", bin.Package+"@"+bin.Version)
	cmd.Dir = b.ModuleDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); jerr == nil && mod.Error != "" {
		return "", fmt.Errorf("downloading %s@%s: %s", bin.Package, bin.Version, mod.Error)
	}
	if err != nil {
		return "", fmt.Errorf("downloading %s@%s: %w", bin.Package, bin.Version, err)
	}
	if mod.Dir == "" {
		return "", fmt.Errorf("downloading %s@%s: go mod download gave no dir", bin.Package, bin.Version)
	}
	return mod.Dir, nil
}

// LDFlags strips the binary and stamps Kubernetes' two version packages with the upstream
// version, so e2e.test and kubectl report what they are built from instead of v0.0.0-master.
func LDFlags(kubernetesVersion string) (string, error) {
	parts := strings.SplitN(strings.TrimPrefix(kubernetesVersion, "v"), ".", 3)
	if !strings.HasPrefix(kubernetesVersion, "v") || len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", fmt.Errorf("kubernetes version %q is not of the form vX.Y.Z", kubernetesVersion)
	}
	flags := []string{"-s", "-w", "-buildid="}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+kubernetesVersion,
			"-X", pkg+".gitMajor="+parts[0],
			"-X", pkg+".gitMinor="+parts[1],
			"-X", pkg+".gitTreeState=clean")
	}
	return strings.Join(flags, " "), nil
}

// Key hashes everything that decides bin's bytes: the lock, the patches, the module's go.mod
// and go.sum, the workspace files, the toolchain and the command line.
func (b *Builder) Key(ctx context.Context, bin Binary) (string, error) {
	if bin.Version != "" {
		// Only the module version, the toolchain and the command line decide its bytes.
		goVersion, err := b.goVersion(ctx)
		if err != nil {
			return "", err
		}
		args, env := moduleCommand(bin, "OUT")
		return hashJSON(map[string]any{"format": cacheFormat, "go": goVersion, "module": bin.Package + "@" + bin.Version, "args": args, "env": env})
	}
	src, err := b.SourceKey(ctx)
	if err != nil {
		return "", err
	}
	args, env, err := b.command(bin, "OUT")
	if err != nil {
		return "", err
	}
	// The workspace path is the caller's checkout: where it is does not change the output.
	for i, e := range env {
		if strings.HasPrefix(e, "GOWORK=") {
			env[i] = "GOWORK=build/go.work"
		}
	}
	return hashJSON(map[string]any{"format": cacheFormat, "source": src, "args": args, "env": env})
}

// SourceKey hashes the inputs every binary shares (see Key).
func (b *Builder) SourceKey(ctx context.Context) (string, error) {
	files := map[string]string{}
	for _, f := range []string{b.LockFile, filepath.Join(b.ModuleDir, "go.mod"), filepath.Join(b.ModuleDir, "go.sum"), b.GoWork} {
		h, err := hashFile(f)
		if err != nil {
			return "", fmt.Errorf("conformance binaries cache key: %w", err)
		}
		files[filepath.Base(f)] = h
	}
	if h, err := hashFile(b.GoWork + ".sum"); err == nil {
		files["go.work.sum"] = h
	}
	patches, err := HashTree(b.PatchesDir)
	if err != nil {
		return "", fmt.Errorf("conformance binaries cache key: %w", err)
	}
	goVersion, err := b.goVersion(ctx)
	if err != nil {
		return "", err
	}
	return hashJSON(map[string]any{"files": files, "patches": patches, "go": goVersion})
}

// goVersion is the toolchain the module dir selects (GOTOOLCHAIN and go.mod's toolchain line).
func (b *Builder) goVersion(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, b.goCmd(), "env", "GOVERSION")
	cmd.Dir = b.ModuleDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// HashTree hashes every regular file under dir, by path relative to dir and content; a
// missing dir hashes as empty.
func HashTree(dir string) (string, error) {
	h := sha256.New()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	if err != nil {
		return "", err
	}
	slices.Sort(paths)
	for _, p := range paths {
		fh, err := hashFile(p)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s  %s\n", fh, filepath.ToSlash(rel))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// hashJSON is the first 16 hex digits of the sha256 of v's JSON form.
func hashJSON(v any) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:8]), nil
}

func (b *Builder) cacheDir() (string, error) {
	if b.CacheDir != "" {
		return b.CacheDir, nil
	}
	dir, err := DefaultCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "bin"), nil
}

func (b *Builder) goCmd() string {
	if b.Go == "" {
		return "go"
	}
	return b.Go
}

func (b *Builder) logf(format string, args ...any) {
	if b.Log != nil {
		b.Log(format, args...)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
