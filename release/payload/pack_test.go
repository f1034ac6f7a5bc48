package payload

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/distro/version"
)

func writeFiles(t *testing.T, content map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for name, c := range content {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		files[name] = p
	}
	return files
}

func TestPackIsDeterministic(t *testing.T) {
	files := writeFiles(t, map[string]string{version.Program: strings.Repeat("real binary ", 1000), "runc": "runc", "bridge": "bridge"})
	var a, b bytes.Buffer
	fa, err := Pack(&a, files, DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	// Other mtimes and modes on disk must not show in the archive.
	for _, p := range files {
		os.Chmod(p, 0o755)
		os.Chtimes(p, time.Now(), time.Now().Add(-time.Hour))
	}
	fb, err := Pack(&b, files, DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || fa != fb {
		t.Fatal("two packs of the same files differ")
	}

	// The archive: the manifest first, then bin/ in name order with the real binary last, all
	// owned by 0 at time 0.
	zr, err := zstd.NewReader(bytes.NewReader(a.Bytes()[fa.ManifestLen:]))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" {
			t.Errorf("%s: time %v, owner %d:%d %q", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname)
		}
		if want := int64(0o755); h.Name != payload.ManifestName && h.Mode != want {
			t.Errorf("%s: mode %o", h.Name, h.Mode)
		}
	}
	if got := strings.Join(names, " "); got != "manifest.json bin/bridge bin/runc bin/"+version.Program {
		t.Errorf("archive entries: %s", got)
	}
}

func TestAssembleRefusesBadInput(t *testing.T) {
	launcher := filepath.Join(t.TempDir(), "launcher")
	in, _ := os.ReadFile("/bin/true")
	os.WriteFile(launcher, in, 0o755)
	good := writeFiles(t, map[string]string{version.Program: "x", "runc": "y"})
	out := filepath.Join(t.TempDir(), "distro")
	if err := Assemble(launcher, good, out); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		launcher string
		files    map[string]string
		want     string
	}{
		{"no real binary", launcher, map[string]string{"runc": good["runc"]}, `no "` + version.Program + `"`},
		{"path as name", launcher, map[string]string{version.Program: good[version.Program], "../runc": good["runc"]}, "invalid file name"},
		{"hidden name", launcher, map[string]string{version.Program: good[version.Program], ".runc": good["runc"]}, "invalid file name"},
		{"missing file", launcher, map[string]string{version.Program: good[version.Program], "runc": "/nonexistent"}, "no such file"},
		{"dir as file", launcher, map[string]string{version.Program: good[version.Program], "runc": t.TempDir()}, "not a regular file"},
		{"launcher with payload", out, good, "not a launcher without payload"},
		{"no launcher", "/nonexistent", good, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "distro")
			err := Assemble(tc.launcher, tc.files, dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Assemble = %v, want %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
}

func TestPackWithZstdCommand(t *testing.T) {
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Skip("Debian package zstd is not installed")
	}
	files := writeFiles(t, map[string]string{version.Program: strings.Repeat("real binary ", 10000), "runc": "runc"})
	var a, b bytes.Buffer
	fa, err := Pack(&a, files, ReleaseCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pack(&b, files, ReleaseCompression); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two packs through zstd differ")
	}
	launcher := filepath.Join(t.TempDir(), "launcher")
	in, _ := os.ReadFile("/bin/true")
	os.WriteFile(launcher, in, 0o755)
	out := filepath.Join(t.TempDir(), "distro")
	if err := AssembleWith(launcher, files, out, ReleaseCompression); err != nil {
		t.Fatal(err)
	}
	p, err := payload.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Footer.ArchiveLen != fa.ArchiveLen {
		t.Errorf("archive length %d, Pack said %d", p.Footer.ArchiveLen, fa.ArchiveLen)
	}
	r, err := p.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := payload.Verify(r.BinDir); err != nil {
		t.Fatal(err)
	}

	_, err = Pack(io.Discard, files, Compression{Command: []string{"zstd", "--no-such-flag"}})
	if err == nil || !strings.Contains(err.Error(), "compressor zstd --no-such-flag") {
		t.Errorf("failing compressor: %v", err)
	}
}
