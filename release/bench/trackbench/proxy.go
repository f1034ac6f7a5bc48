package trackbench

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/distro-io/distro/release/upstream"
)

// Moved lists the modules a bump of lock to kubernetes version to moves (Kubernetes and its
// staging modules), from → to.
func Moved(lock *upstream.Lock, to string) map[string][2]string {
	moved := map[string][2]string{}
	for _, m := range lock.Modules {
		switch m.Role {
		case upstream.RoleKubernetes:
			moved[m.Path] = [2]string{m.Version, to}
		case upstream.RoleStaging:
			moved[m.Path] = [2]string{m.Version, upstream.StagingVersion(to)}
		}
	}
	return moved
}

// MakeProxy writes a file-tree module proxy into dir (GOPROXY=file://dir) serving a made-up
// release: every module Moved names, at its new version, with the content of its locked
// version. Only the version changes, in the zip's paths and in the go.mod requirements
// between the moved modules, so the patches apply as they do to the locked release and
// every package still has a new module path@version to compile under. Zip entries are
// copied without recompressing them.
//
// zipOf returns the locked version's module zip (through the go command: the module cache,
// or the configured proxies).
func MakeProxy(dir string, moved map[string][2]string, zipOf func(path, version string) (string, error)) error {
	stamp := time.Now().UTC().Truncate(time.Second)
	for path, v := range moved {
		from, to := v[0], v[1]
		src, err := zipOf(path, from)
		if err != nil {
			return err
		}
		escaped, err := module.EscapePath(path)
		if err != nil {
			return err
		}
		vdir := filepath.Join(dir, filepath.FromSlash(escaped), "@v")
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return err
		}
		goMod, err := reversion(src, filepath.Join(vdir, to+".zip"), path, from, to, moved)
		if err != nil {
			return fmt.Errorf("made-up %s@%s from %s: %w", path, to, from, err)
		}
		info, _ := json.Marshal(struct {
			Version string
			Time    time.Time
		}{to, stamp})
		for name, data := range map[string][]byte{
			to + ".info": info,
			to + ".mod":  goMod,
			"list":       []byte(from + "\n" + to + "\n"),
		} {
			if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// reversion copies the zip of path@from to dst as path@to, with its go.mod's requirements
// on other moved modules moved too, and returns that go.mod.
func reversion(src, dst, path, from, to string, moved map[string][2]string) ([]byte, error) {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	zw := zip.NewWriter(out)
	oldPrefix, newPrefix := path+"@"+from+"/", path+"@"+to+"/"
	var goMod []byte
	for _, f := range zr.File {
		rest, ok := strings.CutPrefix(f.Name, oldPrefix)
		if !ok {
			return nil, fmt.Errorf("%s: entry %q is outside %s", src, f.Name, oldPrefix)
		}
		hdr := f.FileHeader
		hdr.Name = newPrefix + rest
		if rest == "go.mod" {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
			if goMod, err = moveRequirements(path+"/go.mod", data, moved); err != nil {
				return nil, err
			}
			hdr.CRC32, hdr.CompressedSize64, hdr.UncompressedSize64 = 0, 0, 0
			w, err := zw.CreateHeader(&hdr)
			if err != nil {
				return nil, err
			}
			if _, err := w.Write(goMod); err != nil {
				return nil, err
			}
			continue
		}
		raw, err := f.OpenRaw()
		if err != nil {
			return nil, err
		}
		w, err := zw.CreateRaw(&hdr)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(w, raw); err != nil {
			return nil, err
		}
	}
	if goMod == nil {
		// A module without go.mod gets the one the go command synthesises.
		goMod = []byte("module " + path + "\n")
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return goMod, out.Close()
}

// moveRequirements rewrites the requirements on moved modules at their old versions.
func moveRequirements(name string, data []byte, moved map[string][2]string) ([]byte, error) {
	f, err := modfile.Parse(name, data, nil)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, r := range f.Require {
		if v, ok := moved[r.Mod.Path]; ok && r.Mod.Version == v[0] {
			if err := f.AddRequire(r.Mod.Path, v[1]); err != nil {
				return nil, err
			}
			changed = true
		}
	}
	if !changed {
		return data, nil
	}
	return modfile.Format(f.Syntax), nil
}

// GoZip returns a function finding a module version's zip through `go mod download`, with
// env added to the process environment.
func GoZip(ctx context.Context, env []string) func(path, version string) (string, error) {
	return func(path, version string) (string, error) {
		cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", path+"@"+version)
		cmd.Dir = os.TempDir()
		cmd.Env = append(append(os.Environ(), env...), "GOWORK=off")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		var got struct{ Zip, Error string }
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil && runErr == nil {
			return "", fmt.Errorf("go mod download %s@%s: %w", path, version, err)
		}
		if got.Error != "" {
			return "", fmt.Errorf("go mod download %s@%s: %s", path, version, got.Error)
		}
		if runErr != nil {
			return "", fmt.Errorf("go mod download %s@%s: %w: %s", path, version, runErr, strings.TrimSpace(stderr.String()))
		}
		return got.Zip, nil
	}
}
