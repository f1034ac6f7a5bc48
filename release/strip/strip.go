// Package strip proves what the distro binary leaves out: its dependency list is checked
// against a deny list of cloud-provider and third-party storage-driver packages.
package strip

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed denylist.txt
var defaultDenyList string

// Pattern is one deny-list entry: an import path, or a subtree when written "path/...".
type Pattern struct {
	Path    string
	Subtree bool
	Line    int
}

func (p Pattern) String() string {
	if p.Subtree {
		return p.Path + "/..."
	}
	return p.Path
}

// Matches reports whether the import path pkg is denied by p.
func (p Pattern) Matches(pkg string) bool {
	if pkg == p.Path {
		return true
	}
	return p.Subtree && strings.HasPrefix(pkg, p.Path+"/")
}

// DenyList returns the deny list kept in this package (denylist.txt).
func DenyList() []Pattern {
	patterns, err := ParseDenyList("denylist.txt", defaultDenyList)
	if err != nil {
		panic(err) // the embedded list is checked by the package's tests
	}
	return patterns
}

// ParseDenyList reads patterns, one a line, with # comments; name is used in errors.
func ParseDenyList(name, text string) ([]Pattern, error) {
	var patterns []Pattern
	var problems []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := Pattern{Path: strings.TrimSuffix(line, "/..."), Line: n}
		p.Subtree = p.Path != line
		if p.Path == "" || strings.ContainsAny(p.Path, " \t*") || strings.Contains(p.Path, "...") {
			problems = append(problems, fmt.Sprintf("%s:%d: %q is not an import path or a path/... pattern", name, n, line))
			continue
		}
		patterns = append(patterns, p)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return patterns, nil
}

// Violation is a linked package that the deny list forbids.
type Violation struct {
	Package string
	Pattern Pattern
}

// Audit returns every package that a pattern denies, sorted by package.
func Audit(packages []string, deny []Pattern) []Violation {
	var found []Violation
	for _, pkg := range packages {
		for _, p := range deny {
			if p.Matches(pkg) {
				found = append(found, Violation{Package: pkg, Pattern: p})
				break
			}
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Package < found[j].Package })
	return found
}

// ListDeps lists the packages a build of pkgs links, standard library excluded, as the
// go command resolves them with the given workspace file ("" for none) and build tags.
func ListDeps(ctx context.Context, moduleDir, goWork string, tags []string, pkgs ...string) ([]string, error) {
	args := []string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "-tags", strings.Join(tags, ",")}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = moduleDir
	if goWork == "" {
		goWork = "off"
	} else if abs, err := filepath.Abs(goWork); err == nil {
		goWork = abs // the go command takes GOWORK only as an absolute path
	}
	cmd.Env = append(os.Environ(), "GOWORK="+goWork, "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w\n%s", strings.Join(pkgs, " "), err, stderr.String())
	}
	var deps []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			deps = append(deps, line)
		}
	}
	return deps, nil
}
