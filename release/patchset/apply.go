package patchset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/dirhash"
)

// ApplyOptions says which modules to patch from where, and where the trees go.
type ApplyOptions struct {
	// Modules are the pristine upstream modules. Every module that has a directory under
	// PatchesDir must be among them.
	Modules    []Source
	PatchesDir string
	// BuildDir receives src/<path>@<version> for each patched module. One Apply at a time
	// may work in a build dir.
	BuildDir string
}

// Result lists the patched trees, in the order of ApplyOptions.Modules.
type Result struct {
	Trees []Tree
}

// Tree is one patched module.
type Tree struct {
	Path, Version string
	Dir           string   // <BuildDir>/src/<path>@<version>
	Patches       []string // the patch files applied, in order
	// Reused is true when the tree from an earlier Apply had the same inputs and was kept
	// untouched.
	Reused bool
}

// stampName is the file in a patched tree recording what it was made from.
const stampName = ".patchset-stamp.json"

type stamp struct {
	Module  string       `json:"module"`
	Version string       `json:"version"`
	Source  string       `json:"source"`
	Patches []stampPatch `json:"patches"`
}

type stampPatch struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Apply makes a patched copy of every module that has patches. Each tree is built in a
// scratch directory beside its final place and renamed into place only once every patch has
// applied, so a build never sees a half-patched tree and a failure keeps the previous tree.
func Apply(ctx context.Context, opts ApplyOptions) (Result, error) {
	var res Result
	if opts.PatchesDir == "" || opts.BuildDir == "" {
		return res, errors.New("apply: PatchesDir and BuildDir are required")
	}
	buildDir, err := filepath.Abs(opts.BuildDir)
	if err != nil {
		return res, err
	}
	known := map[string]bool{}
	for _, m := range opts.Modules {
		if err := m.validate(); err != nil {
			return res, fmt.Errorf("apply: %w", err)
		}
		if known[m.Path] {
			return res, fmt.Errorf("apply: module %s is listed twice", m.Path)
		}
		known[m.Path] = true
	}
	withPatches, err := PatchedModules(opts.PatchesDir)
	if err != nil {
		return res, fmt.Errorf("apply: %w", err)
	}
	var stale []string
	for _, mod := range withPatches {
		if !known[mod] {
			stale = append(stale, filepath.Join(opts.PatchesDir, filepath.FromSlash(mod)))
		}
	}
	if len(stale) > 0 {
		return res, fmt.Errorf("apply: patches for modules that are not being built (remove them, or add the module upstream): %s", strings.Join(stale, ", "))
	}

	for _, m := range opts.Modules {
		patches, err := series(opts.PatchesDir, m.Path)
		if err != nil {
			return res, fmt.Errorf("apply: %w", err)
		}
		if len(patches) == 0 {
			continue
		}
		tree, err := applyModule(ctx, m, patches, buildDir)
		if err != nil {
			return res, fmt.Errorf("apply %s: %w", m, err)
		}
		res.Trees = append(res.Trees, tree)
	}
	return res, nil
}

func applyModule(ctx context.Context, m Source, patches []string, buildDir string) (Tree, error) {
	final := filepath.Join(buildDir, filepath.FromSlash(treeName(m.Path, m.Version)))
	tree := Tree{Path: m.Path, Version: m.Version, Dir: final, Patches: patches}
	if err := m.checkDir(); err != nil {
		return tree, err
	}

	want, err := makeStamp(m, patches)
	if err != nil {
		return tree, err
	}
	if have, err := os.ReadFile(filepath.Join(final, stampName)); err == nil && bytes.Equal(have, want) {
		tree.Reused = true
		return tree, nil
	}

	parent, base := filepath.Dir(final), filepath.Base(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return tree, err
	}
	removeScratch(parent, base)
	scratch, err := os.MkdirTemp(parent, "."+base+".new-")
	if err != nil {
		return tree, err
	}
	defer os.RemoveAll(scratch)

	if err := copyTree(m.Dir, scratch); err != nil {
		return tree, fmt.Errorf("copy %s: %w", m.Dir, err)
	}
	for _, p := range patches {
		if err := gitApply(ctx, scratch, p); err != nil {
			return tree, err
		}
	}
	if err := os.WriteFile(filepath.Join(scratch, stampName), want, 0o644); err != nil {
		return tree, err
	}
	if err := replaceDir(scratch, final); err != nil {
		return tree, err
	}
	return tree, nil
}

// makeStamp records the inputs of a patched tree: the source's identity and each patch's hash.
func makeStamp(m Source, patches []string) ([]byte, error) {
	s := stamp{Module: m.Path, Version: m.Version, Source: m.Sum}
	if s.Source == "" {
		h, err := dirhash.HashDir(m.Dir, m.String(), dirhash.Hash1)
		if err != nil {
			return nil, fmt.Errorf("hash source %s: %w", m.Dir, err)
		}
		s.Source = h
	}
	for _, p := range patches {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		s.Patches = append(s.Patches, stampPatch{Name: filepath.Base(p), SHA256: hex.EncodeToString(sum[:])})
	}
	out, err := json.MarshalIndent(s, "", "  ")
	return append(out, '\n'), err
}

// removeScratch deletes scratch directories that an interrupted Apply left beside a tree.
func removeScratch(parent, base string) {
	for _, kind := range []string{".new-", ".old-"} {
		left, _ := filepath.Glob(filepath.Join(parent, "."+base+kind+"*"))
		for _, d := range left {
			os.RemoveAll(d)
		}
	}
}

// replaceDir moves the finished tree into place; an old tree there is moved aside first and
// deleted only after the new one is in place.
func replaceDir(scratch, final string) error {
	if _, err := os.Lstat(final); os.IsNotExist(err) {
		return os.Rename(scratch, final)
	}
	old, err := os.MkdirTemp(filepath.Dir(final), "."+filepath.Base(final)+".old-")
	if err != nil {
		return err
	}
	aside := filepath.Join(old, "tree")
	if err := os.Rename(final, aside); err != nil {
		os.Remove(old)
		return err
	}
	if err := os.Rename(scratch, final); err != nil {
		os.Rename(aside, final)
		return err
	}
	return os.RemoveAll(old)
}

// copyTree copies a source tree into dst, which exists. Copies are writable by their owner
// even though the Go module cache's files are read-only, so patches can change them.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(p, target, info.Mode().Perm()|0o200)
		default:
			return fmt.Errorf("%s: not a regular file, directory or symlink", p)
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// gitApply applies one patch file to dir, all or nothing.
func gitApply(ctx context.Context, dir, patchFile string) error {
	abs, err := filepath.Abs(patchFile)
	if err != nil {
		return err
	}
	out, err := git(ctx, dir, "apply", "--whitespace=nowarn", abs)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return newApplyError(patchFile, out)
	}
	return nil
}

// ApplyError says which patch did not apply, and where.
type ApplyError struct {
	Patch string // the patch file
	File  string // the file in the module it failed on, when git named one
	// Hunk is the 1-based number of the failing hunk among File's hunks in the patch, and
	// HunkHeader its @@ line; 0 and "" when the failure is not one hunk's.
	Hunk       int
	HunkHeader string
	Detail     string // git's own words
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "patch %s does not apply", e.Patch)
	if e.Hunk > 0 {
		fmt.Fprintf(&b, ": hunk #%d %q of %s", e.Hunk, e.HunkHeader, e.File)
	} else if e.File != "" {
		fmt.Fprintf(&b, ": %s", e.File)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	return b.String()
}

var (
	hunkFailed = regexp.MustCompile(`(?m)^error: patch failed: (.+):(\d+)$`)
	fileError  = regexp.MustCompile(`(?m)^error: (.+?): (No such file or directory|does not exist in index|already exists in (?:working directory|index)|patch does not apply|wrong type|does not match index)$`)
	gitError   = regexp.MustCompile(`(?m)^(?:error|fatal): (.+)$`)
)

// newApplyError reads git apply's (or git am's) complaint and finds the hunk it means in the
// patch file: git names the file and the first line of the hunk in the old file.
func newApplyError(patchFile, gitOutput string) *ApplyError {
	e := &ApplyError{Patch: patchFile}
	var details []string
	for _, m := range gitError.FindAllStringSubmatch(gitOutput, -1) {
		details = append(details, m[1])
	}
	e.Detail = strings.Join(details, "; ")
	if e.Detail == "" {
		e.Detail = strings.TrimSpace(gitOutput)
	}

	if m := hunkFailed.FindStringSubmatch(gitOutput); m != nil {
		e.File = m[1]
		line, _ := strconv.Atoi(m[2])
		data, err := os.ReadFile(patchFile)
		if err != nil {
			return e
		}
		p, err := parsePatch(data)
		if err != nil {
			return e
		}
		for _, f := range p.Files {
			if f.OldName != e.File && f.NewName != e.File {
				continue
			}
			for i, h := range f.Hunks {
				if h.OldStart == line {
					e.Hunk, e.HunkHeader = i+1, h.Header
					return e
				}
			}
		}
		return e
	}
	if m := fileError.FindStringSubmatch(gitOutput); m != nil {
		e.File = m[1]
	}
	return e
}
