// Package testbin builds the programs the tests run beside distro, from the modules
// upstream.lock pins with role test: an etcd to use as the cluster's datastore. Builds are
// cached by a hash of their inputs in $HOME/.cache/distro/testbin/<hash>/, so only the first
// test run on a machine pays for the compilation.
package testbin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/upstream"
)

// EtcdModule is the module whose root package is the etcd server program.
const EtcdModule = "go.etcd.io/etcd/server/v3"

// cacheFormat changes whenever the way programs are built changes, retiring old entries.
const cacheFormat = "1"

// Options are the inputs of a build.
type Options struct {
	// Lock is the path of upstream.lock.
	Lock string
	// CacheDir keeps finished builds; empty means $HOME/.cache/<program>/testbin.
	CacheDir string
	// Go is the go command; empty means "go" from PATH. GOTOOLCHAIN, GOPROXY, GOSUMDB and
	// GOMODCACHE from the environment apply.
	Go string
	// Log receives one line per build; nil discards.
	Log io.Writer
}

// program says how one test program is built from its module.
type program struct {
	Module  string
	Name    string
	Package string
}

var etcd = program{Module: EtcdModule, Name: "etcd", Package: EtcdModule}

// Etcd returns the path of an etcd executable built from the locked etcd server module,
// building it first when the cache has none for the current inputs.
func Etcd(ctx context.Context, opts Options) (string, error) {
	return build(ctx, opts, etcd)
}

func build(ctx context.Context, opts Options, p program) (string, error) {
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.CacheDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("testbin cache: %w", err)
		}
		opts.CacheDir = filepath.Join(home, ".cache", version.Program, "testbin")
	}
	lock, err := upstream.Load(opts.Lock)
	if err != nil {
		return "", err
	}
	m, ok := lock.Find(p.Module)
	if !ok || m.Role != upstream.RoleTest {
		return "", fmt.Errorf("%s: no module %s with role %s", opts.Lock, p.Module, upstream.RoleTest)
	}
	if m.Sum == "" {
		return "", fmt.Errorf("%s: module %s has no sum; run `mage upstream:refresh`", opts.Lock, m)
	}
	key, err := cacheKey(ctx, opts.Go, p, m)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(opts.CacheDir, key)
	exe := filepath.Join(dir, p.Name)
	if st, err := os.Stat(exe); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o100 != 0 {
		return exe, nil
	}
	start := time.Now()
	if err := compile(ctx, opts.Go, p, m, dir); err != nil {
		return "", fmt.Errorf("building %s from %s: %w", p.Name, m, err)
	}
	fmt.Fprintf(opts.Log, "%s: built %s in %s\n", m, exe, time.Since(start).Round(time.Second))
	return exe, nil
}

// flags are the go build flags: reproducible and stripped, pure Go as etcd's own release.
var flags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// env is the caller's environment with the settings that would change the build fixed:
// the build runs in a module of its own, outside any workspace.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOFLAGS", "GOWORK", "CGO_ENABLED", "GOEXPERIMENT":
		default:
			out = append(out, kv)
		}
	}
	return append(out, "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
}

// cacheKey hashes everything that decides the output bytes.
func cacheKey(ctx context.Context, goCmd string, p program, m upstream.Module) (string, error) {
	tmp, err := os.MkdirTemp("", version.Program+"-testbin-env-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	goenv, err := output(ctx, tmp, goCmd, "env", "GOVERSION", "GOOS", "GOARCH", "GOAMD64", "GOARM64")
	if err != nil {
		return "", err
	}
	j, err := json.Marshal(map[string]any{
		"format": cacheFormat, "program": p, "module": m.String(), "sum": m.Sum,
		"goenv": goenv, "flags": flags,
	})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:16]), nil
}

// compile builds p in a throwaway main module that requires the locked module, so the
// module's own requirements choose every dependency (its relative replaces only apply inside
// its repository), checks that the go command fetched the module with the locked hash, and
// moves the result into dir in one rename.
func compile(ctx context.Context, goCmd string, p program, m upstream.Module, dir string) error {
	tmp, err := os.MkdirTemp("", version.Program+"-testbin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "mod")
	bin := filepath.Join(tmp, "bin")
	for _, d := range []string{work, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	goMod := "module " + version.Program + ".test/testbin\n"
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	if _, err := output(ctx, work, goCmd, "get", m.String()); err != nil {
		return err
	}
	got, err := goSum(filepath.Join(work, "go.sum"), m)
	if err != nil {
		return err
	}
	if got != m.Sum {
		return fmt.Errorf("the go command fetched %s with hash %s, upstream.lock says %s", m, got, m.Sum)
	}
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", filepath.Join(bin, p.Name), p.Package)
	if _, err := output(ctx, work, goCmd, args...); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Rename(bin, dir); err != nil {
		// A concurrent build of the same inputs finished first; its output is as good.
		if _, serr := os.Stat(filepath.Join(dir, p.Name)); serr == nil {
			return nil
		}
		return err
	}
	return nil
}

// goSum returns the hash go.sum records for m's zip.
func goSum(path string, m upstream.Module) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[0] == m.Path && fields[1] == m.Version {
			return fields[2], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s records no hash for %s", path, m)
}

func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
