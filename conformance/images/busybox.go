package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/distro-io/distro/distro/pki/atomicfile"
)

// BusyBox is compiled from the upstream tarball of this machine's Debian busybox source package,
// without Debian's patches: one of them (for the Debian installer) makes ash drop environment
// variables whose names are not shell names, which upstream's ash passes on to the programs it
// runs, and a conformance test depends on that (ConfigMap "should be consumable via the
// environment" runs `sh -c env` with variables named data-1, …). Upstream's busybox image is
// upstream's source with its default configuration, static; so is this one.

// Deb names a Debian package at a version.
type Deb struct {
	Package, Version string
}

// parseDebInfo reads Version from the first record of apt-cache show.
func parseDebInfo(out []byte) Deb {
	var d Deb
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			d.Version = v
		}
	}
	return d
}

// busyboxFormat changes when the way busybox is compiled changes.
const busyboxFormat = "1"

// busyboxSource is the source package and version the machine's busybox-static comes from
// (apt-cache's "Source: busybox (1:1.35.0-4+deb12u1)", or the binary's own version).
func busyboxSource(ctx context.Context) (Deb, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", "busybox-static").Output()
	if err != nil {
		return Deb{}, fmt.Errorf("apt-cache show busybox-static (run apt-get update?): %w", err)
	}
	return parseSource(out, "busybox-static")
}

var sourceField = regexp.MustCompile(`(?m)^Source: (\S+)(?: \(([^)]+)\))?$`)

// parseSource reads the source package of apt-cache show's first record.
func parseSource(out []byte, pkg string) (Deb, error) {
	first, _, _ := bytes.Cut(out, []byte("\n\n"))
	bin := parseDebInfo(first)
	d := Deb{Package: pkg, Version: bin.Version}
	if m := sourceField.FindSubmatch(first); m != nil {
		d.Package = string(m[1])
		if len(m[2]) > 0 {
			d.Version = string(m[2])
		}
	}
	if d.Version == "" {
		return Deb{}, fmt.Errorf("apt-cache show %s: no version", pkg)
	}
	return d, nil
}

// upstreamVersion is a Debian version without its epoch and revision: 1:1.35.0-4+b1 → 1.35.0.
func upstreamVersion(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	return v
}

// sourceAptDir makes a private apt state under dir whose sources are this machine's, as
// deb-src, so `apt-get source` works without touching the machine's apt configuration.
func sourceAptDir(ctx context.Context, dir string) ([]string, error) {
	sources, err := aptSources()
	if err != nil {
		return nil, err
	}
	src := regexp.MustCompile(`(?m)^Types:.*$`).ReplaceAllString(sources, "Types: deb-src")
	src = regexp.MustCompile(`(?m)^deb\s`).ReplaceAllString(src, "deb-src ")
	parts := filepath.Join(dir, "sources.list.d")
	for _, d := range []string{parts, filepath.Join(dir, "lists", "partial"), filepath.Join(dir, "cache", "archives", "partial")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	name := "machine.sources"
	if !strings.Contains(src, "Types:") {
		name = "machine.list"
	}
	if err := os.WriteFile(filepath.Join(parts, name), []byte(src), 0o644); err != nil {
		return nil, err
	}
	empty := filepath.Join(dir, "empty.list")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return nil, err
	}
	opts := []string{
		"-o", "Dir::Etc::SourceList=" + empty,
		"-o", "Dir::Etc::SourceParts=" + parts,
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		// The private dirs are root's; apt's sandbox user could not write them.
		"-o", "APT::Sandbox::User=root",
	}
	cmd := exec.CommandContext(ctx, "apt-get", append(opts, "-q", "update")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get update (deb-src of this machine's sources): %w: %s", err, tail(string(out), 10))
	}
	return opts, nil
}

// busyboxBinary returns the static busybox compiled from src's upstream tarball, from the
// cache when it is there.
func (b *builder) busyboxBinary(ctx context.Context, src Deb) ([]byte, error) {
	key, err := hashJSON(map[string]any{"format": busyboxFormat, "source": src, "config": "defconfig CONFIG_STATIC=y"})
	if err != nil {
		return nil, err
	}
	cached := filepath.Join(b.CacheDir, "busybox", "busybox-"+key)
	if data, err := os.ReadFile(cached); err == nil {
		return data, nil
	}
	start := time.Now()
	tmp, err := os.MkdirTemp("", "conformance-busybox-src-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	opts, err := sourceAptDir(ctx, filepath.Join(b.CacheDir, "apt-src"))
	if err != nil {
		return nil, err
	}
	b.logf("busybox: fetching the %s %s source package", src.Package, src.Version)
	cmd := exec.CommandContext(ctx, "apt-get", append(opts, "-q", "source", "--download-only", src.Package+"="+src.Version)...)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get source %s=%s: %w: %s", src.Package, src.Version, err, tail(string(out), 10))
	}
	origs, _ := filepath.Glob(filepath.Join(tmp, src.Package+"_"+upstreamVersion(src.Version)+".orig.tar.*"))
	if len(origs) != 1 {
		return nil, fmt.Errorf("apt-get source %s: %d upstream tarballs", src.Package, len(origs))
	}
	steps := [][]string{
		{"tar", "-xf", origs[0]},
	}
	for _, s := range steps {
		c := exec.CommandContext(ctx, s[0], s[1:]...)
		c.Dir = tmp
		if out, err := c.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, tail(string(out), 10))
		}
	}
	srcDir := filepath.Join(tmp, "busybox-"+upstreamVersion(src.Version))
	b.logf("busybox: compiling %s (defconfig, static)", filepath.Base(srcDir))
	makeCmd := func(args ...string) error {
		c := exec.CommandContext(ctx, "make", args...)
		c.Dir = srcDir
		c.Env = append(os.Environ(), "LC_ALL=C", "KCONFIG_NOTIMESTAMP=1", "KBUILD_BUILD_TIMESTAMP=1970-01-01", "KBUILD_BUILD_USER=build", "KBUILD_BUILD_HOST=build")
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("make %s: %w: %s", strings.Join(args, " "), err, tail(string(out), 20))
		}
		return nil
	}
	if err := makeCmd("defconfig"); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(srcDir, ".config")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	cfg = bytes.Replace(cfg, []byte("# CONFIG_STATIC is not set"), []byte("CONFIG_STATIC=y"), 1)
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return nil, err
	}
	if err := makeCmd("oldconfig"); err != nil {
		return nil, err
	}
	if err := makeCmd("-j2", "busybox"); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(srcDir, "busybox"))
	if err != nil {
		return nil, err
	}
	b.logf("busybox: compiled in %s, %.1f MiB", time.Since(start).Round(time.Second), float64(len(data))/(1<<20))
	return data, atomicfile.Write(cached, data, 0o755)
}
