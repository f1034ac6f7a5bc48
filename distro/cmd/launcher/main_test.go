package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/version"
	release "github.com/distro-io/distro/release/payload"
)

func TestFindDataDir(t *testing.T) {
	home := func() (string, error) { return "/home/u", nil }
	noHome := func() (string, error) { return "", errors.New("no home") }
	for _, tc := range []struct {
		name string
		args []string
		env  string
		root bool
		home func() (string, error)
		want string
		err  string
	}{
		{"long flag", []string{"server", "--data-dir", "/d"}, "/env", true, home, "/d", ""},
		{"long flag with =", []string{"server", "--data-dir=/d"}, "", true, home, "/d", ""},
		{"short flag", []string{"agent", "-d", "/d"}, "", false, home, "/d", ""},
		{"short flag with =", []string{"agent", "-d=/d"}, "", false, home, "/d", ""},
		{"last flag wins", []string{"-d", "/a", "--data-dir", "/b"}, "", true, home, "/b", ""},
		{"after -- is not ours", []string{"kubectl", "--", "-d", "/x"}, "", true, home, version.DataDir, ""},
		{"environment", []string{"server"}, "/env", false, home, "/env", ""},
		{"root default", []string{"server"}, "", true, home, version.DataDir, ""},
		{"user default", []string{"server"}, "", false, home, "/home/u/." + version.Program, ""},
		{"user without home", []string{"server"}, "", false, noHome, "", "no data dir"},
		{"flag without value", []string{"server", "--data-dir"}, "", true, home, "", "needs a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findDataDir(tc.args, tc.env, tc.root, tc.home)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("findDataDir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	wd, _ := os.Getwd()
	if got, _ := findDataDir([]string{"-d", "rel"}, "", true, home); got != filepath.Join(wd, "rel") {
		t.Errorf("relative data dir = %q", got)
	}
}

// The real binary of the test payload reports how it was started and runs runc from PATH.
const fakeDistro = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	fmt.Printf("argv0=%s\n", os.Args[0])
	fmt.Printf("args=%s\n", strings.Join(os.Args[1:], "|"))
	fmt.Printf("path0=%s\n", strings.Split(os.Getenv("PATH"), ":")[0])
	out, err := exec.Command("runc", "--version").Output()
	fmt.Printf("runc=%s err=%v\n", strings.TrimSpace(string(out)), err)
}
`

const fakeRunc = `package main

import "fmt"

func main() { fmt.Println("fake runc") }
`

// release is a launcher with a payload of small real executables, built once per test binary.
type built struct {
	launcher, dist string
	err            error
}

var (
	buildOnce sync.Once
	artifacts built
)

func buildRelease(t *testing.T) built {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "launcher-test-")
		if err != nil {
			artifacts.err = err
			return
		}
		artifacts.err = func() error {
			launcher := filepath.Join(dir, "launcher")
			if err := goBuild(".", launcher); err != nil {
				return err
			}
			files := map[string]string{"loopback": "/bin/true"}
			for name, src := range map[string]string{version.Program: fakeDistro, "runc": fakeRunc} {
				srcDir := filepath.Join(dir, "src-"+name)
				os.Mkdir(srcDir, 0o755)
				os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte("module fake\n\ngo 1.27\n"), 0o644)
				os.WriteFile(filepath.Join(srcDir, "main.go"), []byte(src), 0o644)
				files[name] = filepath.Join(dir, "bin-"+name)
				if err := goBuild(srcDir, files[name]); err != nil {
					return err
				}
			}
			artifacts.launcher = launcher
			artifacts.dist = filepath.Join(dir, version.Program)
			return release.Assemble(launcher, files, artifacts.dist)
		}()
	})
	if artifacts.err != nil {
		t.Fatal(artifacts.err)
	}
	return artifacts
}

func TestMain(m *testing.M) {
	code := m.Run()
	if artifacts.dist != "" {
		os.RemoveAll(filepath.Dir(artifacts.dist))
	}
	os.Exit(code)
}

func goBuild(dir, out string) error {
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return errors.New(string(b))
	}
	return nil
}

type result struct {
	stdout, stderr string
	err            error
}

func launch(exe string, env []string, args ...string) result {
	cmd := exec.Command(exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	return result{stdout.String(), stderr.String(), err}
}

func TestLauncherRunsTheRealBinary(t *testing.T) {
	b := buildRelease(t)
	dataDir := t.TempDir()

	first := launch(b.dist, nil, "server", "--data-dir", dataDir, "--token=x y")
	if first.err != nil {
		t.Fatalf("%v\n%s", first.err, first.stderr)
	}
	if !strings.Contains(first.stderr, "unpacked 3 files") {
		t.Errorf("first run did not report unpacking:\n%s", first.stderr)
	}
	binDir, err := filepath.EvalSymlinks(filepath.Join(dataDir, "data", "current", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"argv0=" + filepath.Join(binDir, version.Program) + "\n",
		"args=server|--data-dir|" + dataDir + "|--token=x y\n",
		"path0=" + binDir + "\n",
		"runc=fake runc err=<nil>\n",
	} {
		if !strings.Contains(first.stdout, want) {
			t.Errorf("child output lacks %q:\n%s", want, first.stdout)
		}
	}

	start := time.Now()
	second := launch(b.dist, nil, "--data-dir="+dataDir, "version")
	t.Logf("second run (fast path, both execs): %s", time.Since(start))
	if second.err != nil || second.stderr != "" || !strings.Contains(second.stdout, "args=--data-dir="+dataDir+"|version") {
		t.Errorf("second run: %v\nstdout: %s\nstderr: %s", second.err, second.stdout, second.stderr)
	}

	// A symlink named after a program keeps that name for the multicall binary.
	link := filepath.Join(t.TempDir(), "kubectl")
	os.Symlink(b.dist, link)
	viaLink := launch(link, []string{strings.ToUpper(version.Program) + "_DATA_DIR=" + dataDir}, "get", "nodes")
	if !strings.Contains(viaLink.stdout, "argv0="+filepath.Join(binDir, "kubectl")+"\n") || viaLink.stderr != "" {
		t.Errorf("via kubectl symlink: %v\n%s%s", viaLink.err, viaLink.stdout, viaLink.stderr)
	}
}

func TestLauncherRepairsDamagedFiles(t *testing.T) {
	b := buildRelease(t)
	dataDir := t.TempDir()
	if r := launch(b.dist, nil, "-d", dataDir); r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	runc, _ := filepath.EvalSymlinks(filepath.Join(dataDir, "data", "current", "bin", "runc"))
	if err := os.WriteFile(runc, []byte("#!/bin/sh\necho tampered\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := launch(b.dist, nil, "-d", dataDir)
	if r.err != nil || !strings.Contains(r.stderr, "replacing a damaged copy: "+runc+": size") || !strings.Contains(r.stdout, "runc=fake runc") {
		t.Errorf("after damage: %v\nstdout: %s\nstderr: %s", r.err, r.stdout, r.stderr)
	}
}

func TestLauncherConcurrentFirstRuns(t *testing.T) {
	b := buildRelease(t)
	dataDir := t.TempDir()
	results := make([]result, 6)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = launch(b.dist, nil, "--data-dir", dataDir, "agent")
		}()
	}
	wg.Wait()
	unpacked := 0
	for i, r := range results {
		if r.err != nil || !strings.Contains(r.stdout, "args=--data-dir|"+dataDir+"|agent") {
			t.Errorf("run %d: %v\n%s%s", i, r.err, r.stdout, r.stderr)
		}
		unpacked += strings.Count(r.stderr, "unpacked 3 files")
	}
	if unpacked != 1 {
		t.Errorf("%d of %d concurrent first runs unpacked, want exactly 1", unpacked, len(results))
	}
}

func TestLauncherRefusesTruncatedDownload(t *testing.T) {
	b := buildRelease(t)
	whole, err := os.ReadFile(b.dist)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), version.Program)
	os.WriteFile(cut, whole[:len(whole)*2/3], 0o755)
	dataDir := t.TempDir()
	r := launch(cut, nil, "--data-dir", dataDir, "server")
	if r.err == nil || !strings.Contains(r.stderr, "truncated or corrupted, download it again") {
		t.Errorf("truncated download: %v\n%s", r.err, r.stderr)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("truncated download wrote into the data dir: %v", entries)
	}
}

func TestLauncherWithoutPayload(t *testing.T) {
	b := buildRelease(t)
	r := launch(b.launcher, nil, "--data-dir", t.TempDir(), "server")
	if r.err == nil || !strings.Contains(r.stderr, "no payload appended") {
		t.Errorf("bare launcher: %v\n%s", r.err, r.stderr)
	}
}

func TestLauncherNamesTheDataDirOnError(t *testing.T) {
	b := buildRelease(t)
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, nil, 0o644)
	r := launch(b.dist, nil, "--data-dir", file)
	if r.err == nil || !strings.Contains(r.stderr, "data dir "+file) {
		t.Errorf("data dir that is a file: %v\n%s", r.err, r.stderr)
	}
}
