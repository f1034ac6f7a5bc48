// Package upstreamtest builds a Go module proxy out of files in a temporary directory, with
// made-up modules, so tests can run the real go command against it without a network.
package upstreamtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// Mod is one made-up module version to serve.
type Mod struct {
	Path, Version string
	// Files maps slash-separated paths inside the module to their content. When it lacks
	// go.mod, one naming Path is added; when it is empty, a small package is added too,
	// different for every version so every version hashes differently.
	Files map[string]string
}

func (m Mod) files() map[string]string {
	files := map[string]string{}
	for name, content := range m.Files {
		files[name] = content
	}
	if _, ok := files["go.mod"]; !ok {
		files["go.mod"] = "module " + m.Path + "\n\ngo 1.22\n"
	}
	if len(m.Files) == 0 {
		files["version.go"] = fmt.Sprintf("// Package lib is a made-up module served by a test proxy.\npackage lib\n\nconst Version = %q\n", m.Version)
	}
	return files
}

// Proxy is a file-tree module proxy (GOPROXY=file://...) with its own module cache.
type Proxy struct {
	// Dir is the root of the proxy's file tree.
	Dir string
	// GOPATH and ModCache are private to this proxy, so nothing leaks between tests.
	GOPATH, ModCache string
	t                testing.TB
}

// NewProxy returns a proxy serving the given modules; everything lives under t.TempDir().
func NewProxy(t testing.TB, mods ...Mod) *Proxy {
	t.Helper()
	root := t.TempDir()
	p := &Proxy{
		Dir:      filepath.Join(root, "proxy"),
		GOPATH:   filepath.Join(root, "gopath"),
		ModCache: filepath.Join(root, "gopath", "pkg", "mod"),
		t:        t,
	}
	// The go command leaves the module cache read-only; make it removable again.
	t.Cleanup(func() {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o755)
			}
			return nil
		})
	})
	p.Add(mods...)
	return p
}

// Env is the environment that points the go command at this proxy alone: no checksum
// database, no toolchain download, no workspace.
func (p *Proxy) Env() []string {
	return []string{
		"GOPROXY=file://" + filepath.ToSlash(p.Dir),
		"GOSUMDB=off",
		"GONOSUMDB=",
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOPATH=" + p.GOPATH,
		"GOMODCACHE=" + p.ModCache,
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local",
		"GOENV=off",
		"GOTELEMETRY=off",
	}
}

// Add serves more module versions; adding a version already served replaces its content,
// which is how a test tampers with the proxy.
func (p *Proxy) Add(mods ...Mod) {
	p.t.Helper()
	for _, m := range mods {
		dir := p.versionDir(m.Path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.t.Fatal(err)
		}
		base := filepath.Join(dir, p.escapeVersion(m.Version))
		info, _ := json.Marshal(struct {
			Version string
			Time    time.Time
		}{m.Version, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		files := m.files()
		p.write(base+".info", info)
		p.write(base+".mod", []byte(files["go.mod"]))
		p.write(base+".zip", Zip(p.t, m))
		p.addToList(filepath.Join(dir, "list"), m.Version)
	}
}

// Sum is the h1: hash of the zip the proxy serves for path@version.
func (p *Proxy) Sum(path, version string) string {
	p.t.Helper()
	sum, err := dirhash.HashZip(p.ZipPath(path, version), dirhash.Hash1)
	if err != nil {
		p.t.Fatal(err)
	}
	return sum
}

// ZipPath is the zip the proxy serves for path@version.
func (p *Proxy) ZipPath(path, version string) string {
	return filepath.Join(p.versionDir(path), p.escapeVersion(version)+".zip")
}

// CachedZipPath is where the go command keeps path@version's zip once downloaded.
func (p *Proxy) CachedZipPath(path, version string) string {
	escaped, _ := module.EscapePath(path)
	return filepath.Join(p.ModCache, "cache", "download", filepath.FromSlash(escaped), "@v", p.escapeVersion(version)+".zip")
}

// CachedDir is where the go command extracts path@version once downloaded.
func (p *Proxy) CachedDir(path, version string) string {
	escaped, _ := module.EscapePath(path)
	return filepath.Join(p.ModCache, filepath.FromSlash(escaped)+"@"+p.escapeVersion(version))
}

// Zip returns the module zip for m, as the proxy would serve it.
func Zip(t testing.TB, m Mod) []byte {
	t.Helper()
	src := t.TempDir()
	for name, content := range m.files() {
		path := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := modzip.CreateFromDir(&buf, module.Version{Path: m.Path, Version: m.Version}, src); err != nil {
		t.Fatalf("zip %s@%s: %v", m.Path, m.Version, err)
	}
	return buf.Bytes()
}

func (p *Proxy) versionDir(path string) string {
	escaped, err := module.EscapePath(path)
	if err != nil {
		p.t.Fatal(err)
	}
	return filepath.Join(p.Dir, filepath.FromSlash(escaped), "@v")
}

func (p *Proxy) escapeVersion(version string) string {
	escaped, err := module.EscapeVersion(version)
	if err != nil {
		p.t.Fatal(err)
	}
	return escaped
}

func (p *Proxy) addToList(list, version string) {
	data, _ := os.ReadFile(list)
	versions := strings.Fields(string(data))
	if !slices.Contains(versions, version) {
		versions = append(versions, version)
	}
	semver.Sort(versions)
	p.write(list, []byte(strings.Join(versions, "\n")+"\n"))
}

func (p *Proxy) write(path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
