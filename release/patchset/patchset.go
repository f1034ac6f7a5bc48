// Package patchset keeps distro's changes to upstream modules as a series of git
// format-patch files, patches/<module path>/NNNN-name.patch, and turns them into patched
// source trees that a build picks up through a generated go.work.
//
// The package takes plain inputs (module path, version, pristine source dir) so it does not
// care where the sources came from; the caller resolves them from upstream.lock.
package patchset

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/mod/module"
)

// Source is one pristine upstream module.
type Source struct {
	Path    string // module path, e.g. k8s.io/apiserver
	Version string // module version, e.g. v0.37.2
	// Dir is the pristine source, e.g. the read-only copy in the Go module cache. Apply needs
	// it only for modules that have patches.
	Dir string
	// Sum is the h1: hash of Dir's content (the one upstream.lock records). It identifies the
	// source for the warm-rebuild check; when empty, Apply computes it from Dir.
	Sum string
}

func (s Source) String() string { return s.Path + "@" + s.Version }

func (s Source) validate() error {
	return module.Check(s.Path, s.Version)
}

func (s Source) checkDir() error {
	if s.Dir == "" {
		return fmt.Errorf("%s has no source dir", s)
	}
	if info, err := os.Stat(s.Dir); err != nil || !info.IsDir() {
		return fmt.Errorf("source dir %s of %s is not a directory", s.Dir, s)
	}
	return nil
}

// patchName is the file name of one patch in a series: the number fixes the order.
var patchName = regexp.MustCompile(`^([0-9]{4})-[^/]+\.patch$`)

// series lists the patch files in patchesDir/<module>, in the order they apply.
// A missing directory is an empty series.
func series(patchesDir, modulePath string) ([]string, error) {
	return seriesIn(filepath.Join(patchesDir, filepath.FromSlash(modulePath)))
}

// seriesIn lists the patch files in dir, in the order they apply.
func seriesIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []string
	byNumber := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".patch") {
			continue
		}
		m := patchName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%s: a patch file name must read NNNN-name.patch", filepath.Join(dir, e.Name()))
		}
		if other, ok := byNumber[m[1]]; ok {
			return nil, fmt.Errorf("%s: %s and %s share the number %s, so their order is unclear", dir, other, e.Name(), m[1])
		}
		byNumber[m[1]] = e.Name()
		files = append(files, filepath.Join(dir, e.Name()))
	}
	sort.Strings(files)
	return files, nil
}

// PatchedModules walks patchesDir and returns the module paths that have patch files:
// every directory holding a *.patch file is named after a module. Directories whose name
// starts with a dot (Export's scratch space) are skipped.
func PatchedModules(patchesDir string) ([]string, error) {
	info, err := os.Stat(patchesDir)
	if err != nil {
		return nil, fmt.Errorf("patches dir: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("patches dir %s is not a directory", patchesDir)
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(patchesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != patchesDir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".patch") {
			return nil
		}
		rel, err := filepath.Rel(patchesDir, filepath.Dir(p))
		if err != nil {
			return err
		}
		mod := filepath.ToSlash(rel)
		if err := module.CheckPath(mod); err != nil {
			return fmt.Errorf("%s: the directory of a patch must be named after a module: %w", p, err)
		}
		seen[mod] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	mods := make([]string, 0, len(seen))
	for m := range seen {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	return mods, nil
}

// treeName is where a module's patched tree lives below a build dir's src/.
func treeName(modulePath, version string) string {
	return path.Join("src", modulePath) + "@" + version
}
