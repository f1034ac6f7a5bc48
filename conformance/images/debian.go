package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// Debian describes a Debian root filesystem made with mmdebstrap from the machine's own apt
// sources: the images that need a real distribution (DNS tools, nginx, agnhost's shell tools)
// are built on it.
type Debian struct {
	// Suite is the Debian release (bookworm); the machine's apt sources must serve it.
	Suite string
	// Packages are installed on top of the Essential set (mmdebstrap's "essential" variant:
	// no apt, no init).
	Packages []string
	// Users and Groups are lines appended to /etc/passwd and /etc/group.
	Users, Groups []string
}

// rootfsFormat changes when the way a root filesystem is made or trimmed changes.
const rootfsFormat = "1"

// dpkg path excludes: documentation and translations nothing in a test reads.
var debianExcludes = []string{"/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*", "/usr/share/lintian/*"}

// aptSources returns the machine's apt sources (deb822 files first, then sources.list), the
// text mmdebstrap is given, so the images come from wherever this machine gets its packages.
func aptSources() (string, error) {
	var parts []string
	deb822, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	slices.Sort(deb822)
	for _, f := range deb822 {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		parts = append(parts, strings.TrimSpace(string(b)))
	}
	if len(parts) > 0 {
		return strings.Join(parts, "\n\n") + "\n", nil
	}
	b, err := os.ReadFile("/etc/apt/sources.list")
	if err != nil {
		return "", fmt.Errorf("apt sources: %w", err)
	}
	return string(b), nil
}

// hasSuite says whether sources name the suite (as a whole word).
func hasSuite(sources, suite string) bool {
	return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(suite) + `(\s|$)`).MatchString(sources)
}

// mmdebstrapVersion is `mmdebstrap --version`, part of a root filesystem's key.
func mmdebstrapVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "mmdebstrap", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("mmdebstrap (Debian package mmdebstrap) makes the test images' root filesystems: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// keyInput is what decides the root filesystem: the recipe, the sources it is fetched from and
// the tool. Debian's point releases are not part of it: a root filesystem is remade when the
// recipe changes, not when the archive moves (the installed versions are in its dpkg status).
func (d Debian) keyInput(ctx context.Context) (map[string]any, error) {
	sources, err := aptSources()
	if err != nil {
		return nil, err
	}
	tool, err := mmdebstrapVersion(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"format": rootfsFormat, "recipe": d, "sources": sources, "tool": tool, "excludes": debianExcludes}, nil
}

// Rootfs returns the root filesystem as a layer tar, from the cache when a tar with the same
// key is there, else made with mmdebstrap (a few minutes) and trimmed (see trimRootfs).
func (d Debian) Rootfs(ctx context.Context, cacheDir string, log func(string, ...any)) ([]byte, error) {
	in, err := d.keyInput(ctx)
	if err != nil {
		return nil, err
	}
	key, err := hashJSON(in)
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(cacheDir, "rootfs", "debian-"+d.Suite+"-"+key+".tar")
	if b, err := os.ReadFile(cached); err == nil {
		return b, nil
	}
	sources := in["sources"].(string)
	if !hasSuite(sources, d.Suite) {
		return nil, fmt.Errorf("the apt sources of this machine do not serve Debian %s, which the test images are built on", d.Suite)
	}
	tmp, err := os.MkdirTemp("", "conformance-rootfs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "rootfs.tar")
	args := []string{"--variant=essential", "--mode=root", "--format=tar"}
	if len(d.Packages) > 0 {
		args = append(args, "--include="+strings.Join(d.Packages, ","))
	}
	for _, e := range debianExcludes {
		args = append(args, "--dpkgopt=path-exclude="+e)
	}
	// "-": the sources come on standard input.
	args = append(args, d.Suite, out, "-")
	log("debian %s: mmdebstrap %s", d.Suite, strings.Join(d.Packages, " "))
	start := time.Now()
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	cmd.Stdin = strings.NewReader(sources)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=0", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mmdebstrap %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 30))
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	trimmed, err := trimRootfs(raw, d.Users, d.Groups)
	if err != nil {
		return nil, err
	}
	log("debian %s: root filesystem in %s, %.1f MiB", d.Suite, time.Since(start).Round(time.Second), float64(len(trimmed))/(1<<20))
	return trimmed, atomicfile.Write(cached, trimmed, 0o644)
}

// trimRootfs rewrites mmdebstrap's tar as an image layer: names without "./", no device nodes
// (the runtime makes /dev), no apt caches or lists, fixed times, and the extra users and groups
// appended to /etc/passwd and /etc/group.
func trimRootfs(raw []byte, users, groups []string) ([]byte, error) {
	tr := tar.NewReader(bytes.NewReader(raw))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	appendTo := map[string][]string{"etc/passwd": users, "etc/group": groups}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the root filesystem: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" || dropFromRootfs(name, h) {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		if lines := appendTo[name]; len(lines) > 0 && h.Typeflag == tar.TypeReg {
			data = append(bytes.TrimRight(data, "\n"), '\n')
			data = append(data, []byte(strings.Join(lines, "\n")+"\n")...)
			h.Size = int64(len(data))
		}
		if h.Typeflag == tar.TypeDir {
			name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			h.Linkname = strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
		}
		h.Name = name
		h.ModTime, h.AccessTime, h.ChangeTime = epoch, time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func dropFromRootfs(name string, h *tar.Header) bool {
	if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock || h.Typeflag == tar.TypeFifo {
		return true
	}
	for _, dir := range []string{"dev/", "proc/", "sys/", "run/", "tmp/", "var/cache/apt/", "var/lib/apt/lists/", "var/log/apt/", "var/cache/debconf/"} {
		if strings.HasPrefix(name, dir) {
			return true
		}
	}
	return name == "var/log/dpkg.log" || name == "var/log/alternatives.log" || name == "etc/machine-id" || strings.HasPrefix(name, "var/cache/ldconfig/")
}
