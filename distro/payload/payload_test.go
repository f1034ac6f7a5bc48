package payload_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/distro/version"
	release "github.com/distro-io/distro/release/payload"
)

// assemble writes a payload file of random executables (the real binary among them) behind a
// copy of /bin/true standing in for the launcher, and returns its path and the files by name.
func assemble(t *testing.T, sizes map[string]int) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files, content := map[string]string{}, map[string][]byte{}
	for name, size := range sizes {
		b := make([]byte, size)
		rand.Read(b)
		b = append(b, bytes.Repeat([]byte(name), size)...) // compressible too
		p := filepath.Join(dir, "in-"+name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name], content[name] = p, b
	}
	launcher := filepath.Join(dir, "launcher")
	copyFile(t, "/bin/true", launcher)
	out := filepath.Join(dir, "distro")
	if err := release.Assemble(launcher, files, out); err != nil {
		t.Fatal(err)
	}
	return out, content
}

var defaultSizes = map[string]int{version.Program: 300 << 10, "runc": 100 << 10, "bridge": 50 << 10, "loopback": 1}

func open(t *testing.T, path string) *payload.Payload {
	t.Helper()
	p, err := payload.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ensure(t *testing.T, p *payload.Payload, dataDir string) payload.Result {
	t.Helper()
	r, err := p.Ensure(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEnsureUnpacksThenTakesFastPath(t *testing.T) {
	exe, content := assemble(t, defaultSizes)
	p := open(t, exe)
	dataDir := t.TempDir()

	r := ensure(t, p, dataDir)
	want := filepath.Join(dataDir, "data", p.ID(), "bin")
	if !r.Unpacked || r.BinDir != want || r.Reason != "" {
		t.Fatalf("first Ensure = %+v, want unpacked to %s", r, want)
	}
	for name, b := range content {
		got, err := os.ReadFile(filepath.Join(r.BinDir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: content differs (%v)", name, err)
		}
		st, _ := os.Stat(filepath.Join(r.BinDir, name))
		if st.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v", name, st.Mode())
		}
	}
	if target, _ := os.Readlink(filepath.Join(dataDir, "data", "current")); target != p.ID() {
		t.Errorf("current -> %q, want %s", target, p.ID())
	}
	if err := payload.Verify(r.BinDir); err != nil {
		t.Error(err)
	}
	if err := payload.VerifyCurrent(dataDir); err != nil {
		t.Error(err)
	}

	start := time.Now()
	if r := ensure(t, p, dataDir); r.Unpacked {
		t.Errorf("second Ensure unpacked again: %s", r.Reason)
	}
	t.Logf("fast path: %s", time.Since(start))
}

func TestEnsureRepairsDamage(t *testing.T) {
	exe, content := assemble(t, defaultSizes)
	p := open(t, exe)
	for _, tc := range []struct {
		name   string
		damage func(bin string) error
		reason string
	}{
		{"deleted", func(bin string) error { return os.Remove(filepath.Join(bin, "runc")) }, "no such file"},
		{"truncated", func(bin string) error { return os.Truncate(filepath.Join(bin, "runc"), 10) }, "size 10"},
		{"rewritten same size", func(bin string) error {
			return os.WriteFile(filepath.Join(bin, "bridge"), make([]byte, len(content["bridge"])), 0o755)
		}, "modified since"},
		{"mode changed", func(bin string) error { return os.Chmod(filepath.Join(bin, version.Program), 0o700) }, "mode"},
		{"symlink instead", func(bin string) error {
			os.Remove(filepath.Join(bin, "loopback"))
			return os.Symlink("/bin/true", filepath.Join(bin, "loopback"))
		}, "not a regular file"},
		{"manifest deleted", func(bin string) error { return os.Remove(filepath.Join(bin, "..", payload.ManifestName)) }, "no such file"},
		{"dir deleted", func(bin string) error { return os.RemoveAll(filepath.Dir(bin)) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			r := ensure(t, p, dataDir)
			if err := tc.damage(r.BinDir); err != nil {
				t.Fatal(err)
			}
			r = ensure(t, p, dataDir)
			if !r.Unpacked || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("Ensure after damage = %+v, want unpacked because %q", r, tc.reason)
			}
			if err := payload.Verify(r.BinDir); err != nil {
				t.Fatal(err)
			}
			leftovers, _ := filepath.Glob(filepath.Join(dataDir, "data", ".unpack-*"))
			if len(leftovers) > 0 {
				t.Errorf("temp dirs left: %v", leftovers)
			}
		})
	}
}

// A change the fast path cannot see (same size, time put back) is what Verify is for.
func TestVerifyFindsWhatTheFastPathMisses(t *testing.T) {
	exe, content := assemble(t, defaultSizes)
	p := open(t, exe)
	dataDir := t.TempDir()
	r := ensure(t, p, dataDir)
	path := filepath.Join(r.BinDir, "runc")
	if err := os.WriteFile(path, make([]byte, len(content["runc"])), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, time.Unix(0, 0), time.Unix(0, 0))
	if r := ensure(t, p, dataDir); r.Unpacked {
		t.Fatalf("fast path unexpectedly noticed: %s", r.Reason)
	}
	err := payload.Verify(r.BinDir)
	if err == nil || !strings.Contains(err.Error(), "runc: sha256") || !strings.Contains(err.Error(), "remove ") {
		t.Fatalf("Verify = %v, want a sha256 mismatch of runc and the remedy", err)
	}

	// A manifest edited to match the damage is caught by the dir's name.
	mpath := filepath.Join(r.BinDir, "..", payload.ManifestName)
	mb, _ := os.ReadFile(mpath)
	os.WriteFile(mpath, append(mb, ' '), 0o644)
	if err := payload.Verify(r.BinDir); err == nil || !strings.Contains(err.Error(), "does not match the dir's name") {
		t.Fatalf("Verify with edited manifest = %v", err)
	}
}

func TestEnsureConcurrentFirstRuns(t *testing.T) {
	exe, _ := assemble(t, defaultSizes)
	dataDir := t.TempDir()
	var wg sync.WaitGroup
	results := make([]payload.Result, 8)
	errs := make([]error, len(results))
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := payload.Open(exe)
			if err == nil {
				results[i], err = p.Ensure(dataDir)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	unpacked := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Errorf("run %d: %v", i, errs[i])
		}
		if r.Unpacked {
			unpacked++
		}
	}
	if unpacked != 1 {
		t.Errorf("%d of %d concurrent first runs unpacked, want 1", unpacked, len(results))
	}
	if err := payload.VerifyCurrent(dataDir); err != nil {
		t.Error(err)
	}
}

func TestOlderPayloadsStay(t *testing.T) {
	oldExe, _ := assemble(t, defaultSizes)
	newExe, _ := assemble(t, defaultSizes)
	dataDir := t.TempDir()
	oldR := ensure(t, open(t, oldExe), dataDir)
	newP := open(t, newExe)
	ensure(t, newP, dataDir)
	if err := payload.Verify(oldR.BinDir); err != nil {
		t.Errorf("older payload damaged by a newer one: %v", err)
	}
	if target, _ := os.Readlink(filepath.Join(dataDir, "data", "current")); target != newP.ID() {
		t.Errorf("current -> %s, want the newer %s", target, newP.ID())
	}
}

func TestDamagedDownloads(t *testing.T) {
	exe, _ := assemble(t, defaultSizes)
	whole, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	p := open(t, exe)
	archiveStart := int(p.Footer.ArchiveOffset())
	for _, tc := range []struct {
		name     string
		mangle   func([]byte) []byte
		openErr  string
		unpackEr string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-5000] }, "truncated", ""},
		{"footer only cut", func(b []byte) []byte { return b[:len(b)-1] }, "truncated", ""},
		{"launcher only", func(b []byte) []byte { return b[:p.Footer.Offset] }, payload.ErrNoPayload.Error(), ""},
		{"manifest byte flipped", func(b []byte) []byte { b[p.Footer.Offset+20] ^= 1; return b }, "manifest does not match", ""},
		{"archive byte flipped", func(b []byte) []byte { b[archiveStart+len(b[archiveStart:])/2] ^= 0x40; return b }, "", "unpacking"},
		{"grown", func(b []byte) []byte {
			return append(append(b[:len(b)-payload.FooterSize:len(b)-payload.FooterSize], 0), b[len(b)-payload.FooterSize:]...)
		}, "footer describes", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "distro")
			if err := os.WriteFile(path, tc.mangle(bytes.Clone(whole)), 0o755); err != nil {
				t.Fatal(err)
			}
			bad, err := payload.Open(path)
			if tc.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.openErr) {
					t.Fatalf("Open = %v, want error containing %q", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dataDir := t.TempDir()
			if _, err := bad.Ensure(dataDir); err == nil || !strings.Contains(err.Error(), tc.unpackEr) {
				t.Fatalf("Ensure = %v, want error containing %q", err, tc.unpackEr)
			}
			left, _ := os.ReadDir(filepath.Join(dataDir, "data"))
			for _, e := range left {
				if e.Name() != ".lock" {
					t.Errorf("left behind after a failed unpack: %s", e.Name())
				}
			}
		})
	}
	if _, err := payload.Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file = %v", err)
	}
}

func TestParseManifestRejects(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for name, m := range map[string]string{
		"empty":       `{"files":[]}`,
		"unsorted":    `{"files":[{"name":"b","size":1,"sha256":"` + sum + `","mode":493},{"name":"a","size":1,"sha256":"` + sum + `","mode":493}]}`,
		"duplicate":   `{"files":[{"name":"a","size":1,"sha256":"` + sum + `","mode":493},{"name":"a","size":1,"sha256":"` + sum + `","mode":493}]}`,
		"path":        `{"files":[{"name":"../a","size":1,"sha256":"` + sum + `","mode":493}]}`,
		"hidden":      `{"files":[{"name":".a","size":1,"sha256":"` + sum + `","mode":493}]}`,
		"short sum":   `{"files":[{"name":"a","size":1,"sha256":"abcd","mode":493}]}`,
		"setuid":      `{"files":[{"name":"a","size":1,"sha256":"` + sum + `","mode":8388845}]}`,
		"unknown key": `{"files":[],"extra":1}`,
		"not json":    `files`,
	} {
		if _, err := payload.ParseManifest([]byte(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

// A temp dir left by an unpack that was killed is removed by the next one.
func TestUnpackRemovesLeftovers(t *testing.T) {
	exe, _ := assemble(t, defaultSizes)
	dataDir := t.TempDir()
	stale := filepath.Join(dataDir, "data", ".unpack-0123456789ab-42")
	if err := os.MkdirAll(filepath.Join(stale, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "bin", "runc"), []byte("half"), 0o600)
	ensure(t, open(t, exe), dataDir)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale unpack dir still there: %v", err)
	}
}
