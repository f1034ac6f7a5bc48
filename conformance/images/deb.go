package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Deb is one Debian package as apt's lists describe it.
type Deb struct {
	Package, Version, SHA256 string
}

// debInfo asks apt's lists (apt-cache, no download) for the candidate version of pkg and the
// sha256 of its .deb: enough to name a build made from it.
func debInfo(ctx context.Context, pkg string) (Deb, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg).Output()
	if err != nil {
		return Deb{}, fmt.Errorf("apt-cache show %s (run apt-get update?): %w", pkg, err)
	}
	d := parseDebInfo(out)
	d.Package = pkg
	if d.Version == "" || d.SHA256 == "" {
		return Deb{}, fmt.Errorf("apt-cache show %s: no Version or SHA256", pkg)
	}
	return d, nil
}

// parseDebInfo reads Version and SHA256 from the first record of apt-cache show.
func parseDebInfo(out []byte) Deb {
	var d Deb
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			d.Version = v
		}
		if v, ok := strings.CutPrefix(line, "SHA256: "); ok {
			d.SHA256 = v
		}
	}
	return d
}

// download fetches the .deb with apt-get into cacheDir (kept by its sha256) and checks it.
func (d Deb) download(ctx context.Context, cacheDir string) ([]byte, error) {
	cached := filepath.Join(cacheDir, "deb", d.SHA256+".deb")
	if b, err := os.ReadFile(cached); err == nil && sha256Hex(b) == d.SHA256 {
		return b, nil
	}
	tmp, err := os.MkdirTemp("", "conformance-deb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "apt-get", "download", d.Package+"="+d.Version)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download %s=%s: %w: %s", d.Package, d.Version, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s: %d files", d.Package, len(debs))
	}
	b, err := os.ReadFile(debs[0])
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(b); got != d.SHA256 {
		return nil, fmt.Errorf("%s: sha256 %s, apt's lists say %s", filepath.Base(debs[0]), got, d.SHA256)
	}
	return b, writeAtomic(cached, b, 0o644)
}

// debFile returns one file of a .deb's data (dpkg-deb --fsys-tarfile).
func debFile(ctx context.Context, deb []byte, name string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", "/dev/stdin")
	cmd.Stdin = bytes.NewReader(deb)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile: %w", err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the package has no %s", name)
		}
		if err != nil {
			return nil, err
		}
		if path.Clean("/"+h.Name) == path.Clean("/"+name) && h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}
