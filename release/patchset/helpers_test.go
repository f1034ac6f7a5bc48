package patchset

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lines makes a file of n numbered lines, enough for patches with separate hunks.
func lines(prefix string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s line %d\n", prefix, i)
	}
	return b.String()
}

// newModule writes a small made-up module whose files are read-only, as in the Go module
// cache.
func newModule(t *testing.T, path, version string, files map[string]string) Source {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mod", path+"@"+version)
	files["go.mod"] = "module " + path + "\n\ngo 1.22\n"
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return Source{Path: path, Version: version, Dir: dir}
}

// upstreamRepo is a git repository of a module's pristine source, with the upstream tag, in
// which a test makes commits to turn into patches with Export.
type upstreamRepo struct {
	t   *testing.T
	dir string
}

func newUpstreamRepo(t *testing.T, src Source) *upstreamRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(src.Dir, dir); err != nil {
		t.Fatal(err)
	}
	r := &upstreamRepo{t: t, dir: dir}
	r.git("init", "--quiet")
	r.git("add", "--all")
	r.git("commit", "--quiet", "-m", "pristine")
	r.git("tag", "upstream")
	return r
}

func (r *upstreamRepo) git(args ...string) string {
	r.t.Helper()
	out, err := git(context.Background(), r.dir, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// commit writes files (an empty content deletes the file) and commits them with message.
func (r *upstreamRepo) commit(message string, files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "--all")
	r.git("commit", "--quiet", "--author", "Ada Author <ada@example.com>",
		"--date", "2024-03-04T05:06:07+02:00", "-m", message)
}

// export writes the repository's commits as patches for modulePath under patchesDir.
func (r *upstreamRepo) export(patchesDir, modulePath string) {
	r.t.Helper()
	if err := Export(context.Background(), r.dir, patchesDir, modulePath); err != nil {
		r.t.Fatal(err)
	}
}

// replaceLine returns content with one line changed.
func replaceLine(content, old, new string) string {
	if !strings.Contains(content, old+"\n") {
		panic("no line " + old)
	}
	return strings.Replace(content, old+"\n", new+"\n", 1)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// snapshot reads every file below dir, to show that a failed step changed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = readFile(t, p)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return files
}

func sameFiles(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d: %v", what, len(got), len(want), keys(got))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: %s is missing", what, name)
		} else if g != w {
			t.Errorf("%s: %s changed:\n%s\nwant:\n%s", what, name, g, w)
		}
	}
}

func keys(m map[string]string) []string {
	var k []string
	for name := range m {
		k = append(k, name)
	}
	return k
}
