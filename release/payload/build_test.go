package payload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/payload"
	"github.com/distro-io/distro/distro/version"
)

// Pinned in upstream.lock; the test builds exactly these.
var lockedSources = []Source{
	{Path: ContainerdModule, Version: "v2.4.2", Sum: "h1:p6Qg+xbEz8lvwdhHDx0U469xENvp4LgGBx+E7djXkGw="},
	{Path: RuncModule, Version: "v1.5.3", Sum: "h1:y3GUIW7J0Gxd+tCFfWR6L1YDnhHiNR1BGRx1J50+VnA="},
	{Path: CNIModule, Version: "v1.10.0", Sum: "h1:4lwzpgsn5NdIneXrag/EEfKzhNSriJc1zTxZxfdfPLQ="},
}

func slowTests(t *testing.T) {
	t.Helper()
	if os.Getenv("DISTRO_SLOW_TESTS") != "1" {
		t.Skip("builds runc and the CNI plugins; set DISTRO_SLOW_TESTS=1")
	}
}

// TestBuildExecutables builds runc and the CNI plugins twice from scratch into separate caches
// and output dirs, and checks they are static, stamped and byte for byte reproducible; a third
// build comes from the cache.
func TestBuildExecutables(t *testing.T) {
	slowTests(t)
	ctx := context.Background()
	var runs []map[string]string
	caches := []string{t.TempDir(), t.TempDir()}
	for i, cache := range caches {
		if i > 0 {
			// Nothing shared with the first build but the module cache.
			t.Setenv("GOCACHE", t.TempDir())
		}
		start := time.Now()
		got, err := BuildExecutables(ctx, BuildOptions{Sources: lockedSources, OutDir: t.TempDir(), CacheDir: cache, Log: testLog{t}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("built in %s", time.Since(start))
		runs = append(runs, got)
	}

	var names []string
	for _, exes := range Executables() {
		for _, e := range exes {
			names = append(names, e.Name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		a, b := runs[0][name], runs[1][name]
		if a == "" || b == "" {
			t.Fatalf("%s not built", name)
		}
		if sumOf(t, a) != sumOf(t, b) {
			t.Errorf("%s differs between two builds of the same inputs", name)
		}
		st, _ := os.Stat(a)
		t.Logf("%-10s %6.2f MiB", name, float64(st.Size())/(1<<20))
		assertStatic(t, a)
	}

	out, err := exec.Command(runs[0]["runc"], "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "runc version 1.5.3") || !strings.Contains(string(out), "libseccomp: ") {
		t.Errorf("runc --version: %v\n%s", err, out)
	}
	// Started without CNI_COMMAND, a plugin prints its name and version.
	cmd := exec.Command(runs[0]["bridge"])
	cmd.Env = []string{}
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "CNI bridge plugin v1.10.0") {
		t.Errorf("bridge does not report v1.10.0:\n%s", out)
	}

	// Packed, unpacked and run the way a node does it.
	for _, c := range []Compression{DefaultCompression, ReleaseCompression} {
		f, err := Pack(io.Discard, runs[0], c)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("runc and CNI plugins compressed (%s): %.2f MiB", c, float64(f.ArchiveLen)/(1<<20))
	}
	files := maps.Clone(runs[0])
	files[version.Program] = runs[0]["runc"]
	launcher := filepath.Join(t.TempDir(), "launcher")
	if err := BuildLauncher(ctx, "", ".", launcher); err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(t.TempDir(), "distro")
	if err := Assemble(launcher, files, dist); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cmd = exec.Command(dist, "--version")
	cmd.Env = append(os.Environ(), strings.ToUpper(version.Program)+"_DATA_DIR="+dataDir)
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "runc version 1.5.3") {
		t.Errorf("runc as the real binary behind the launcher: %v\n%s", err, out)
	}
	if err := payload.VerifyCurrent(dataDir); err != nil {
		t.Error(err)
	}

	start := time.Now()
	again, err := BuildExecutables(ctx, BuildOptions{Sources: lockedSources, OutDir: t.TempDir(), CacheDir: caches[0]})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cached build took %s", d)
	}
	if sumOf(t, again["runc"]) != sumOf(t, runs[0]["runc"]) {
		t.Error("cached runc differs")
	}
}

func TestBuildExecutablesRefusesWrongSum(t *testing.T) {
	slowTests(t)
	bad := slices.Clone(lockedSources)
	bad[0].Sum = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	_, err := BuildExecutables(context.Background(), BuildOptions{Sources: bad, OutDir: t.TempDir(), CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "upstream.lock says") {
		t.Fatalf("want a hash mismatch, got %v", err)
	}
}

func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: not statically linked", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}

func sumOf(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
