//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/bench/buildbench"
	"github.com/distro-io/distro/release/bench/serverbench"
	"github.com/distro-io/distro/release/bench/trackbench"
	"github.com/distro-io/distro/release/build"
	"github.com/distro-io/distro/release/patchset"
	"github.com/distro-io/distro/release/track"
	"github.com/distro-io/distro/release/upstream"
)

// Bench measures the build and the server and prints the numbers with the machine.
type Bench mg.Namespace

// Build prints the warm rebuild time after one patch changes (a temporary extra patch
// appending a comment to a file the last k8s.io/kubernetes patch touches, in a scratch
// build dir), the sizes of build/distro, the payload and dist/distro, the package count, and
// whether two links give the same sha256. BENCH_COLD=1 adds a build with an empty GOCACHE
// (about 25 CPU-minutes).
func (Bench) Build(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	stamp, err := build.StampFor(ctx, ".", lock, "")
	if err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "bench-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	opts := build.Options{ModuleDir: ".", GoWork: "build/go.work", Output: scratch + "/distro", Stamp: stamp}
	modules, err := patchedSources(ctx, lock)
	if err != nil {
		return err
	}
	return buildbench.Run(ctx, buildbench.RunOptions{
		Build: opts, Modules: modules, PatchesDir: patchesDir, Module: "k8s.io/kubernetes",
		GoWorkSum: "build/go.work.sum", Scratch: scratch, Cold: os.Getenv("BENCH_COLD") == "1",
		Binary: realBinaryPath, Download: distPath,
	}, os.Stdout)
}

// Server starts dist/distro server --disable-agent BENCH_RUNS times (default 3) from a fresh
// data dir and prints start → /readyz, PSS/RSS/anonymous memory of its processes after
// BENCH_IDLE (default 60s), the SIGTERM → exit time and restart → /readyz; then creates
// BENCH_OBJECTS ConfigMaps (default 500) from BENCH_CLIENTS clients (default 8), against
// etcd too when ETCD_BINARY names an etcd executable, alternating the two.
func (Bench) Server(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	runs, err := envInt("BENCH_RUNS", 3)
	if err != nil {
		return err
	}
	objects, err := envInt("BENCH_OBJECTS", 500)
	if err != nil {
		return err
	}
	clients, err := envInt("BENCH_CLIENTS", 8)
	if err != nil {
		return err
	}
	idle := 60 * time.Second
	if v := os.Getenv("BENCH_IDLE"); v != "" {
		if idle, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("BENCH_IDLE %q: want a duration such as 60s", v)
		}
	}
	scratch, err := os.MkdirTemp("", "bench-server-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	return serverbench.Run(ctx, serverbench.Options{
		Binary: distPath, Runs: runs, Idle: idle, Objects: objects, Clients: clients,
		EtcdBinary: os.Getenv("ETCD_BINARY"), Scratch: scratch, Log: os.Stderr,
	}, os.Stdout)
}

// Track measures `mage upstream:track` from detection to the pull request opened for a
// one-patch bump, BENCH_RUNS times (default 1, as each run compiles every Kubernetes
// package anew and runs the whole test suite). Upstream and GitHub are stand-ins: a
// local module proxy serves a made-up patch release never served on this machine before
// (the locked modules re-versioned, so the patches apply; the versions served are listed in
// $HOME/.cache/distro/bench-track/served) in front of the module cache and GOPROXY, and GitHub is the
// in-process fake. The rest is real: a work clone of HEAD (committed changes only) pushed
// to a local bare repository, upstream.lock, go.mod and go.sum moved, patches re-applied,
// then mage build, mage test and conformance:quick (when the target exists) with the
// machine's warm build cache. BENCH_TRACK_DIR keeps the scratch directory there (its
// module cache is then reused); otherwise a temporary one is removed. To look into a
// failed step: BENCH_TRACK_KEEP=1 keeps each run's work clone in BENCH_TRACK_DIR, and
// BENCH_TRACK_STEPS=build,unit tests runs only the named steps (a partial run measures
// less than a tracker run; conformance:quick brings a cluster up under /var/lib, which
// two runs on one machine share).
func (Bench) Track(ctx context.Context) error {
	runs, err := envInt("BENCH_RUNS", 1)
	if err != nil {
		return err
	}
	scratch := os.Getenv("BENCH_TRACK_DIR")
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "bench-track-"); err != nil {
			return err
		}
		defer removeTree(scratch)
	} else if scratch, err = filepath.Abs(scratch); err != nil {
		return err
	}
	goEnv := func(name string) (string, error) {
		out, err := exec.CommandContext(ctx, "go", "env", name).Output()
		return strings.TrimSpace(string(out)), err
	}
	modCache, err := goEnv("GOMODCACHE")
	if err != nil {
		return err
	}
	proxy, err := goEnv("GOPROXY")
	if err != nil {
		return err
	}
	noSumDB, err := goEnv("GONOSUMDB")
	if err != nil {
		return err
	}
	steps := track.MageSteps()
	if names := os.Getenv("BENCH_TRACK_STEPS"); names != "" {
		var chosen []track.Step
		for _, name := range strings.Split(names, ",") {
			i := slices.IndexFunc(steps, func(s track.Step) bool { return s.Name == strings.TrimSpace(name) })
			if i < 0 {
				return fmt.Errorf("BENCH_TRACK_STEPS: no step %q (the steps: build, unit tests, conformance:quick)", name)
			}
			chosen = append(chosen, steps[i])
		}
		steps = chosen
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return err
	}
	// The made-up releases served so far on this machine: the build cache holds their packages.
	served := filepath.Join(home, ".cache", version.Program, "bench-track", "served")
	_, err = trackbench.Run(ctx, trackbench.Options{
		RepoDir: ".", Runs: runs, Scratch: scratch,
		Fallback: "file://" + filepath.ToSlash(filepath.Join(modCache, "cache", "download")) + "," + proxy,
		NoSumDB:  noSumDB, Steps: steps, Log: os.Stderr, Keep: os.Getenv("BENCH_TRACK_KEEP") == "1",
		Served: served,
	}, os.Stdout)
	return err
}

// removeTree deletes a scratch directory, module cache files (read-only) included.
func removeTree(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s %q: want a positive number", name, v)
	}
	return n, nil
}

// patchedSources lists every locked module, with the pristine source dir of those that
// have patches, as patches:apply does.
func patchedSources(ctx context.Context, lock *upstream.Lock) ([]patchset.Source, error) {
	patched, err := patchset.PatchedModules(patchesDir)
	if err != nil {
		return nil, err
	}
	var sources []patchset.Source
	for _, m := range lock.Modules {
		src := patchset.Source{Path: m.Path, Version: m.Version, Sum: m.Sum}
		if slices.Contains(patched, m.Path) {
			if src, err = resolveSource(ctx, lock, m.Path); err != nil {
				return nil, err
			}
		}
		sources = append(sources, src)
	}
	return sources, nil
}
