package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	distroimages "github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/distro/version"
)

// PauseOptions are the inputs of the pause build.
type PauseOptions struct {
	// KubernetesDir holds the k8s.io/kubernetes module source: build/pause is read from it.
	KubernetesDir string
	// KubernetesVersion goes into the version the binary prints, where upstream's Makefile puts
	// `git describe` of its checkout.
	KubernetesVersion string
	// CacheDir keeps compiled binaries by a hash of their inputs; empty means
	// $HOME/.cache/<program>/images.
	CacheDir string
	// CC and Strip default to gcc and strip from PATH.
	CC, Strip string
}

// cacheFormat changes whenever the way the binary is compiled changes, retiring old entries.
const cacheFormat = "1"

// pauseCFlags are upstream's Makefile CFLAGS without -DVERSION, which is added per build.
var pauseCFlags = []string{"-Os", "-Wall", "-Werror", "-static"}

// pauseTag reads `TAG ?= X.Y.Z` from upstream's Makefile.
var pauseTag = regexp.MustCompile(`(?m)^TAG \?= *(\S+)\s*$`)

// Pause builds the pause image the way upstream's build/pause does: pause.c compiled statically
// with gcc and stripped, alone in a scratch image that runs it as /pause under user 65535.
func Pause(ctx context.Context, opts PauseOptions) (Named, error) {
	bin, err := PauseBinary(ctx, opts)
	if err != nil {
		return Named{}, err
	}
	img, err := SingleFileImage("pause", bin, nil, v1.Config{
		Entrypoint: []string{"/pause"},
		User:       "65535:65535",
	})
	if err != nil {
		return Named{}, fmt.Errorf("pause image: %w", err)
	}
	return Named{Ref: distroimages.Pause, Image: img}, nil
}

// PauseBinary returns the stripped static pause executable, compiling it unless the cache holds
// one built from the same inputs.
func PauseBinary(ctx context.Context, opts PauseOptions) ([]byte, error) {
	if opts.KubernetesDir == "" || opts.KubernetesVersion == "" {
		return nil, errors.New("pause build: no Kubernetes source dir or version")
	}
	if opts.CC == "" {
		opts.CC = "gcc"
	}
	if opts.Strip == "" {
		opts.Strip = "strip"
	}
	dir := filepath.Join(opts.KubernetesDir, "build", "pause")
	src, err := os.ReadFile(filepath.Join(dir, "linux", "pause.c"))
	if err != nil {
		return nil, err
	}
	makefile, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return nil, err
	}
	m := pauseTag.FindSubmatch(makefile)
	if m == nil {
		return nil, fmt.Errorf("%s/Makefile: no `TAG ?=` line: upstream changed how it versions pause", dir)
	}
	if tag := string(m[1]); tag != distroimages.PauseVersion {
		return nil, fmt.Errorf("upstream builds pause %s but distro/images.PauseVersion is %s: update it with the Kubernetes version", tag, distroimages.PauseVersion)
	}
	// Upstream: -DVERSION=v$(TAG)-$(REV) with REV from git describe of its checkout; a module
	// has no git, its version is the same information.
	flags := append(append([]string{}, pauseCFlags...), "-DVERSION=v"+distroimages.PauseVersion+"-"+opts.KubernetesVersion)

	key, err := pauseKey(ctx, opts, src, flags)
	if err != nil {
		return nil, err
	}
	cacheDir, err := cacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(cacheDir, "pause-"+key)
	if b, err := os.ReadFile(cached); err == nil {
		return b, nil
	}
	b, err := compile(ctx, opts, src, flags)
	if err != nil {
		return nil, err
	}
	return b, writeAtomic(cached, b, 0o755)
}

// compile builds in a temp dir under fixed file names, so nothing about the caller's paths
// reaches the binary.
func compile(ctx context.Context, opts PauseOptions, src []byte, flags []string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", version.Program+"-pause-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "pause.c"), src, 0o644); err != nil {
		return nil, err
	}
	if _, err := run(ctx, tmp, opts.CC, append(flags, "-o", "pause", "pause.c")...); err != nil {
		return nil, err
	}
	if _, err := run(ctx, tmp, opts.Strip, "pause"); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(tmp, "pause"))
}

// pauseKey hashes everything that decides the binary's bytes.
func pauseKey(ctx context.Context, opts PauseOptions, src []byte, flags []string) (string, error) {
	cc, err := run(ctx, "", opts.CC, "--version")
	if err != nil {
		return "", fmt.Errorf("C compiler for pause (Debian package gcc): %w", err)
	}
	strip, err := run(ctx, "", opts.Strip, "--version")
	if err != nil {
		return "", err
	}
	libc, err := run(ctx, "", opts.CC, "-print-file-name=libc.a")
	if err != nil {
		return "", err
	}
	libcSum, err := fileSum(strings.TrimSpace(libc))
	if err != nil {
		return "", fmt.Errorf("static libc for pause (Debian package libc6-dev): %w", err)
	}
	srcSum := sha256.Sum256(src)
	j, err := json.Marshal(map[string]any{
		"format": cacheFormat, "source": hex.EncodeToString(srcSum[:]), "flags": flags,
		"cc": cc, "strip": strip, "libc": libcSum,
	})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:8]), nil
}

func fileSum(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func cacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("image build cache: %w", err)
	}
	return filepath.Join(home, ".cache", version.Program, "images"), nil
}

func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	// A fixed locale keeps compiler messages, and so the cache key, the same everywhere.
	return runEnv(ctx, dir, []string{"LC_ALL=C"}, name, args...)
}

// runEnv runs a command with env added to distro's environment and returns its stdout.
func runEnv(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// writeAtomic replaces path in one rename, so a concurrent build never reads half a file.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
