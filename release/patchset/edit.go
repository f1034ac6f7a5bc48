package patchset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
)

// upstreamTag marks the pristine source in an edit repository; the commits after it are the
// patch series.
const upstreamTag = "upstream"

// Edit makes a git repository at <workDir>/<module path> for working on a module's patches:
// the pristine source is the first commit, tagged upstream, and every patch becomes one
// commit through git am, keeping its author, date and message. Change the commits with
// ordinary git (commit, rebase -i upstream, ...) and write them back with Export.
//
// When a patch does not apply (typically after an upstream bump), the repository is left
// with git am stopped at that patch, so it can be fixed there and continued, and the error
// says which patch and hunk failed.
func Edit(ctx context.Context, m Source, patchesDir, workDir string) (repoDir string, err error) {
	if err := m.validate(); err != nil {
		return "", fmt.Errorf("edit: %w", err)
	}
	if err := m.checkDir(); err != nil {
		return "", fmt.Errorf("edit: %w", err)
	}
	patches, err := series(patchesDir, m.Path)
	if err != nil {
		return "", fmt.Errorf("edit: %w", err)
	}
	repoDir = filepath.Join(workDir, filepath.FromSlash(m.Path))
	if _, err := os.Lstat(repoDir); err == nil {
		return "", fmt.Errorf("edit: %s already exists; export its commits or remove it first", repoDir)
	}
	if err := os.MkdirAll(filepath.Dir(repoDir), 0o755); err != nil {
		return "", err
	}

	// The pristine commit is made in a scratch directory, so an interrupted Edit leaves
	// nothing at repoDir that a later Edit would refuse.
	scratch, err := os.MkdirTemp(filepath.Dir(repoDir), "."+filepath.Base(repoDir)+".new-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	if err := copyTree(m.Dir, scratch); err != nil {
		return "", fmt.Errorf("edit: copy %s: %w", m.Dir, err)
	}
	if err := initUpstream(ctx, scratch, m); err != nil {
		return "", fmt.Errorf("edit %s: %w", m, err)
	}
	if err := os.Rename(scratch, repoDir); err != nil {
		return "", err
	}
	if len(patches) == 0 {
		return repoDir, nil
	}

	args := []string{"am", "--keep-cr", "--keep-non-patch", "--quiet"}
	for _, p := range patches {
		abs, err := filepath.Abs(p)
		if err != nil {
			return repoDir, err
		}
		args = append(args, abs)
	}
	out, err := git(ctx, repoDir, args...)
	if err != nil {
		if ctx.Err() != nil {
			return repoDir, ctx.Err()
		}
		failed := failedAmPatch(out, patches)
		if failed == "" {
			return repoDir, fmt.Errorf("edit %s: %w", m, err)
		}
		return repoDir, fmt.Errorf("edit %s: %w\nthe patches before it are commits in %s; fix this one there and run git am --continue (or git am --abort), then export",
			m, newApplyError(failed, out), repoDir)
	}
	return repoDir, nil
}

// initUpstream commits the pristine tree in dir and tags it.
func initUpstream(ctx context.Context, dir string, m Source) error {
	steps := [][]string{
		{"init", "--quiet", "--initial-branch=patches"},
		// The user's own config applies to later commands run by hand; these keep line
		// endings byte for byte whatever it says.
		{"config", "core.autocrlf", "false"},
		{"config", "am.keepcr", "true"},
	}
	for _, args := range steps {
		if _, err := git(ctx, dir, args...); err != nil {
			return err
		}
	}
	// Upstream's .gitattributes must not rewrite file contents on the way in or out.
	attrs := filepath.Join(dir, ".git", "info", "attributes")
	if err := os.MkdirAll(filepath.Dir(attrs), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(attrs, []byte("* -text -filter -ident -working-tree-encoding\n"), 0o644); err != nil {
		return err
	}
	steps = [][]string{
		// --force: upstream's .gitignore files must not keep its own sources out.
		{"add", "--all", "--force", "."},
		{"commit", "--quiet", "--no-verify", "--message", "upstream " + m.String()},
		{"tag", upstreamTag},
	}
	for _, args := range steps {
		if _, err := git(ctx, dir, args...); err != nil {
			return err
		}
	}
	return nil
}

var amFailedAt = regexp.MustCompile(`(?m)^Patch failed at (\d+) `)

// failedAmPatch finds the patch git am stopped at; it numbers the series from 1.
func failedAmPatch(out string, patches []string) string {
	m := amFailedAt.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > len(patches) {
		return ""
	}
	return patches[n-1]
}

// Export writes the commits after the upstream tag in repoDir back to
// <patchesDir>/<modulePath>/ as git format-patch files, one per commit, numbered from 0001
// and named after their subjects. The output depends only on the commits: no version
// signature, no commit ids, no "n/m" in subjects (adding a patch changes no other file), blob
// ids abbreviated to a fixed length rather than one that grows with the repository, no
// per-user git config. Patch files without a commit any more are removed, unchanged files
// are left alone, and nothing is written when the export fails.
func Export(ctx context.Context, repoDir, patchesDir, modulePath string) error {
	if err := module.CheckPath(modulePath); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := exportable(ctx, repoDir); err != nil {
		return fmt.Errorf("export %s: %w", modulePath, err)
	}

	// git runs in repoDir, so the directory it writes to must not be relative.
	patchesDir, err := filepath.Abs(patchesDir)
	if err != nil {
		return err
	}
	dest := filepath.Join(patchesDir, filepath.FromSlash(modulePath))
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	// Dot-named, so Apply and Check skip it should it ever be left behind.
	scratch, err := os.MkdirTemp(filepath.Dir(dest), ".export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if _, err := git(ctx, repoDir, "format-patch", "--quiet",
		"--zero-commit", "--no-signature", "--no-numbered", "--abbrev=12", "--find-renames",
		"--output-directory", scratch, upstreamTag+"..HEAD"); err != nil {
		return fmt.Errorf("export %s: %w", modulePath, err)
	}
	written, err := seriesIn(scratch)
	if err != nil {
		return fmt.Errorf("export %s: %w", modulePath, err)
	}
	out, err := git(ctx, repoDir, "log", "--reverse", "--format=%s", upstreamTag+"..HEAD")
	if err != nil {
		return err
	}
	subjects := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		subjects = nil
	}
	if len(subjects) != len(written) {
		return fmt.Errorf("export %s: %d commits after %s but %d patches", modulePath, len(subjects), upstreamTag, len(written))
	}
	fresh := map[string][]byte{}
	for i, p := range written {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return fmt.Errorf("export %s: commit %d %q changes nothing, so it cannot be a patch; drop it", modulePath, i+1, subjects[i])
		}
		if _, err := parsePatch(data); err != nil {
			return fmt.Errorf("export %s: commit %d %q: %w", modulePath, i+1, subjects[i], err)
		}
		fresh[filepath.Base(p)] = data
	}
	return install(scratch, dest, fresh)
}

// exportable refuses a repository whose state Export would not capture.
func exportable(ctx context.Context, repoDir string) error {
	if _, err := git(ctx, repoDir, "rev-parse", "--verify", "--quiet", upstreamTag+"^{commit}"); err != nil {
		return fmt.Errorf("%s has no %s tag; make it with Edit", repoDir, upstreamTag)
	}
	for _, op := range []string{"rebase-apply", "rebase-merge"} {
		out, err := git(ctx, repoDir, "rev-parse", "--git-path", op)
		if err != nil {
			return err
		}
		p := strings.TrimSpace(out)
		if !filepath.IsAbs(p) {
			p = filepath.Join(repoDir, p)
		}
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("a git am or rebase is in progress in %s; finish or abort it first", repoDir)
		}
	}
	if _, err := git(ctx, repoDir, "merge-base", "--is-ancestor", upstreamTag, "HEAD"); err != nil {
		return fmt.Errorf("HEAD in %s does not descend from the %s tag", repoDir, upstreamTag)
	}
	out, err := git(ctx, repoDir, "rev-list", "--merges", upstreamTag+"..HEAD")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("%s has merge commits after %s; a patch series must be linear", repoDir, upstreamTag)
	}
	out, err = git(ctx, repoDir, "status", "--porcelain", "--untracked-files=all")
	if err != nil {
		return err
	}
	if s := strings.TrimRight(out, "\n"); s != "" {
		return fmt.Errorf("%s has changes that are not committed; commit them first:\n%s", repoDir, s)
	}
	return nil
}

// install moves the freshly exported files into dest and removes patch files that are not
// among them. Files whose content did not change are not touched.
func install(scratch, dest string, fresh map[string][]byte) error {
	if len(fresh) > 0 {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
	}
	for name, data := range fresh {
		old, err := os.ReadFile(filepath.Join(dest, name))
		if err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := os.Rename(filepath.Join(scratch, name), filepath.Join(dest, name)); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dest)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, keep := fresh[e.Name()]; keep || e.IsDir() || !strings.HasSuffix(e.Name(), ".patch") {
			continue
		}
		if err := os.Remove(filepath.Join(dest, e.Name())); err != nil {
			return err
		}
	}
	if len(fresh) == 0 {
		os.Remove(dest) // only if empty; other files stay
	}
	return nil
}
