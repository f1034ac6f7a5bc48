package payload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/distro-io/distro/distro/version"
)

// Source is one upstream module as upstream.lock pins it.
type Source struct {
	Path    string
	Version string
	// Sum is the module's h1: hash; a download that differs is refused.
	Sum string
	// Dir holds the module's source, already verified; when empty the module is downloaded
	// through the go command and checked against Sum.
	Dir string
}

// BuildOptions are the inputs of BuildExecutables.
type BuildOptions struct {
	// Sources must name every module in Executables().
	Sources []Source
	// OutDir receives one file per executable.
	OutDir string
	// CacheDir keeps finished builds by a hash of their inputs; empty means
	// $HOME/.cache/<program>/payload.
	CacheDir string
	// Go is the go command; empty means "go" from PATH. Its environment (GOTOOLCHAIN, GOOS,
	// GOARCH, GOPROXY, CC) is passed through.
	Go string
	// Log receives one line per module; nil discards.
	Log io.Writer
}

// cacheFormat changes whenever the way executables are built changes, retiring old entries.
const cacheFormat = "1"

// BuildExecutables builds runc and the CNI plugins from their modules and returns each
// executable's path by name. A build whose inputs (module sum, Go version, C toolchain,
// flags) match a cached one is copied from the cache instead.
func BuildExecutables(ctx context.Context, opts BuildOptions) (map[string]string, error) {
	if opts.OutDir == "" {
		return nil, errors.New("payload build: no output dir")
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.CacheDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("payload build cache: %w", err)
		}
		opts.CacheDir = filepath.Join(home, ".cache", version.Program, "payload")
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, err
	}
	sources := map[string]Source{}
	for _, s := range opts.Sources {
		sources[s.Path] = s
	}
	out := map[string]string{}
	for _, b := range builds {
		src, ok := sources[b.Module]
		if !ok {
			return nil, fmt.Errorf("payload build: no source given for %s", b.Module)
		}
		if err := buildModule(ctx, opts, b, src, out); err != nil {
			return nil, fmt.Errorf("building %s@%s: %w", src.Path, src.Version, err)
		}
	}
	return out, nil
}

func buildModule(ctx context.Context, opts BuildOptions, b moduleBuild, src Source, out map[string]string) error {
	start := time.Now()
	if src.Dir == "" {
		dir, err := download(ctx, opts.Go, src)
		if err != nil {
			return err
		}
		src.Dir = dir
	}
	key, err := cacheKey(ctx, opts.Go, b, src)
	if err != nil {
		return err
	}
	cached := filepath.Join(opts.CacheDir, key)
	how := "cached"
	if _, err := os.Stat(cached); err != nil {
		how = "built"
		if err := build(ctx, opts, b, src, cached); err != nil {
			return err
		}
	}
	for _, e := range b.Executables {
		dst := filepath.Join(opts.OutDir, e.Name)
		if err := copyFile(filepath.Join(cached, e.Name), dst, 0o755); err != nil {
			return fmt.Errorf("cache entry %s: %w", cached, err)
		}
		out[e.Name] = dst
	}
	fmt.Fprintf(opts.Log, "%s@%s: %s %d executables in %s\n", src.Path, src.Version, how, len(b.Executables), time.Since(start).Round(time.Millisecond))
	return nil
}

// build compiles every executable of b in a writable copy of the module, so that the module's
// own go.mod and replaces apply, and moves the results to cached in one rename.
func build(ctx context.Context, opts BuildOptions, b moduleBuild, src Source, cached string) error {
	tmp, err := os.MkdirTemp("", version.Program+"-payload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "src")
	if err := copyTree(src.Dir, work); err != nil {
		return fmt.Errorf("copying module source: %w", err)
	}
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return err
	}
	for _, e := range b.Executables {
		args := append([]string{"build"}, buildFlags(b, src.Version)...)
		args = append(args, "-o", filepath.Join(bin, e.Name), e.Package)
		cmd := exec.CommandContext(ctx, opts.Go, args...)
		cmd.Dir = work
		cmd.Env = buildEnv(b)
		if outb, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, outb)
		}
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return err
	}
	if err := os.Rename(bin, cached); err != nil {
		// A concurrent build of the same inputs finished first; its output is as good.
		if _, serr := os.Stat(cached); serr == nil {
			return nil
		}
		return err
	}
	return nil
}

// buildFlags are the go build flags of b: reproducible (-trimpath, empty build ID, no VCS
// stamp) and stripped.
func buildFlags(b moduleBuild, version string) []string {
	ld := []string{"-s", "-w", "-buildid="}
	ld = append(ld, b.VersionFlags(version)...)
	if b.ExtLDFlags != "" {
		ld = append(ld, "-linkmode", "external", "-extldflags", b.ExtLDFlags)
	}
	flags := []string{"-trimpath", "-mod=mod", "-buildvcs=false", "-ldflags", strings.Join(ld, " ")}
	if len(b.Tags) > 0 {
		flags = append(flags, "-tags", strings.Join(b.Tags, ","))
	}
	return flags
}

// buildEnv is the caller's environment with the settings that would change the build fixed.
func buildEnv(b moduleBuild) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOFLAGS", "GOWORK", "CGO_ENABLED", "GOEXPERIMENT":
		default:
			env = append(env, kv)
		}
	}
	cgo := "0"
	if b.CGO {
		cgo = "1"
	}
	return append(env, "GOFLAGS=", "GOWORK=off", "CGO_ENABLED="+cgo)
}

// cacheKey hashes everything that decides the output bytes.
func cacheKey(ctx context.Context, goCmd string, b moduleBuild, src Source) (string, error) {
	goenv, err := output(ctx, src.Dir, buildEnv(b), goCmd, "env", "GOVERSION", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "CC")
	if err != nil {
		return "", err
	}
	inputs := map[string]any{
		"format":      cacheFormat,
		"module":      src.Path + "@" + src.Version,
		"sum":         src.Sum,
		"goenv":       goenv,
		"flags":       buildFlags(b, src.Version),
		"cgo":         b.CGO,
		"executables": b.Executables,
	}
	if src.Sum == "" {
		// Without a hash the source itself is the input.
		sum, err := treeHash(src.Dir)
		if err != nil {
			return "", err
		}
		inputs["tree"] = sum
	}
	if b.CGO {
		cc := strings.Fields(strings.TrimSpace(lastLine(goenv)))
		if len(cc) == 0 {
			return "", errors.New("go env CC is empty")
		}
		ccVersion, err := output(ctx, "", nil, cc[0], "--version")
		if err != nil {
			return "", fmt.Errorf("C compiler for cgo: %w", err)
		}
		seccomp, err := output(ctx, "", nil, "pkg-config", "--modversion", "libseccomp")
		if err != nil {
			return "", fmt.Errorf("libseccomp for runc (Debian packages libseccomp-dev and pkg-config): %w", err)
		}
		inputs["cc"], inputs["libseccomp"] = ccVersion, seccomp
	}
	j, err := json.Marshal(inputs)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	name := filepath.Base(src.Path)
	return name + "-" + src.Version + "-" + hex.EncodeToString(sum[:8]), nil
}

// download fetches a module through the go command and checks its hash.
func download(ctx context.Context, goCmd string, src Source) (string, error) {
	tmp, err := os.MkdirTemp("", version.Program+"-payload-dl-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	j, err := output(ctx, tmp, env, goCmd, "mod", "download", "-json", src.Path+"@"+src.Version)
	var info struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal([]byte(j), &info); jerr != nil || info.Error != "" || err != nil {
		return "", fmt.Errorf("downloading: %v %s", err, info.Error)
	}
	if src.Sum != "" && info.Sum != src.Sum {
		return "", fmt.Errorf("downloaded module has hash %s, upstream.lock says %s", info.Sum, src.Sum)
	}
	return info.Dir, nil
}

func output(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// copyTree copies a module source tree (regular files and dirs only) into a new writable dir.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, target, 0o644)
		}
		return nil
	})
}

// copyFile copies src to dst through a temp file, so dst is either old or complete.
func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// treeHash hashes the names and contents of every regular file under dir.
func treeHash(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", rel)
		_, err = io.Copy(h, f)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// LauncherPackage is the main package of the launcher the payload is appended to.
const LauncherPackage = "github.com/distro-io/distro/distro/cmd/launcher"

// BuildLauncher builds the launcher to out: static, stripped and reproducible. goCmd empty
// means "go"; it runs in dir, which must be inside this repository's module.
func BuildLauncher(ctx context.Context, goCmd, dir, out string) error {
	if goCmd == "" {
		goCmd = "go"
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", "-o", out, LauncherPackage}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = buildEnv(moduleBuild{})
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the launcher: %w\n%s", err, b)
	}
	return nil
}
