//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/magefile/mage/mg"

	distroimages "github.com/distro-io/distro/distro/images"
	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/images"
	"github.com/distro-io/distro/release/payload"
	"github.com/distro-io/distro/release/upstream"
)

// Payload builds the executables shipped inside distro and the self-extracting file users download.
type Payload mg.Namespace

const (
	payloadBinDir    = "build/payload/bin"
	payloadImagesDir = "build/payload/images"
	launcherPath     = "build/launcher"
	realBinaryPath   = "build/" + version.Program
	distPath         = "dist/" + version.Program
)

// Build builds runc (cgo, seccomp, static) and the CNI plugins from the modules upstream.lock
// pins with role payload into build/payload/bin and prints each file's size. Results are cached
// in $HOME/.cache/distro/payload by a hash of their inputs. Needs Debian's libseccomp-dev and
// pkg-config.
func (Payload) Build(ctx context.Context) error {
	files, err := payloadExecutables(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		st, err := os.Stat(files[name])
		if err != nil {
			return err
		}
		fmt.Printf("%-12s %6.2f MiB  %s\n", name, float64(st.Size())/(1<<20), files[name])
	}
	return nil
}

// Assemble writes dist/distro: the launcher with build/distro (built by build), runc and the
// CNI plugins appended as a compressed archive, compressed with the zstd command (Debian
// package zstd) at level 19 so the download stays under 60 MiB. DISTRO_PAYLOAD_COMPRESSION=fast
// uses the built-in compressor instead: a few MiB larger, several times faster, for quick loops.
func (Payload) Assemble(ctx context.Context) error {
	if _, err := os.Stat(realBinaryPath); err != nil {
		return fmt.Errorf("%w: build the real binary first", err)
	}
	files, err := payloadExecutables(ctx)
	if err != nil {
		return err
	}
	files[version.Program] = realBinaryPath
	if err := payload.BuildLauncher(ctx, "", ".", launcherPath); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(distPath), 0o755); err != nil {
		return err
	}
	compression := payload.ReleaseCompression
	if os.Getenv("DISTRO_PAYLOAD_COMPRESSION") == "fast" {
		compression = payload.DefaultCompression
	}
	if err := payload.AssembleWith(launcherPath, files, distPath, compression); err != nil {
		return err
	}
	st, err := os.Stat(distPath)
	if err != nil {
		return err
	}
	fmt.Printf("%s %.1f MiB\n", distPath, float64(st.Size())/(1<<20))
	return nil
}

// payloadExecutables builds the payload modules of upstream.lock into build/payload/bin.
func payloadExecutables(ctx context.Context) (map[string]string, error) {
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return nil, err
	}
	var sources []payload.Source
	// Payload modules, and linked modules that also ship a separate program (containerd's shim).
	built := payload.Executables()
	for _, m := range lock.Modules {
		if _, ok := built[m.Path]; ok {
			sources = append(sources, payload.Source{Path: m.Path, Version: m.Version, Sum: m.Sum})
		}
	}
	files, err := payload.BuildExecutables(ctx, payload.BuildOptions{Sources: sources, OutDir: payloadBinDir, Log: os.Stdout})
	if err != nil {
		return nil, err
	}
	// The pause image travels inside the binary: a node needs it before anything can be imported.
	pause, err := pauseArchive(ctx, lock)
	if err != nil {
		return nil, err
	}
	files[distroimages.PauseArchive] = pause
	return files, nil
}

// pauseArchive builds the pause image (cached by its inputs) into build/payload/images.
func pauseArchive(ctx context.Context, lock *upstream.Lock) (string, error) {
	k := lock.Kubernetes()
	dir, err := images.ModuleDir(ctx, k)
	if err != nil {
		return "", err
	}
	pause, err := images.Pause(ctx, images.PauseOptions{KubernetesDir: dir, KubernetesVersion: k.Version})
	if err != nil {
		return "", err
	}
	out := filepath.Join(payloadImagesDir, distroimages.PauseArchive)
	if err := os.MkdirAll(payloadImagesDir, 0o755); err != nil {
		return "", err
	}
	return out, images.WriteArchiveFile(out, []images.Named{pause})
}
