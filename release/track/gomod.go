package track

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/distro-io/distro/release/upstream"
)

// moveGoMod points go.mod at the lock's Kubernetes version: the kubernetes module's
// require, and each staging module's replace (and its require, where go.mod names a real
// version rather than the v0.0.0 placeholder Kubernetes itself uses).
func moveGoMod(goModPath string, lock *upstream.Lock) error {
	data, err := os.ReadFile(goModPath)
	if err != nil {
		return err
	}
	f, err := modfile.Parse(goModPath, data, nil)
	if err != nil {
		return err
	}
	k := lock.Kubernetes()
	if err := f.AddRequire(k.Path, k.Version); err != nil {
		return err
	}
	for _, m := range lock.ByRole(upstream.RoleStaging) {
		var olds []string // the old versions replaced: "" for every version
		for _, r := range f.Replace {
			if r.Old.Path == m.Path {
				olds = append(olds, r.Old.Version)
			}
		}
		if len(olds) == 0 {
			// CheckGoMod wants every staging module replaced; add what go.mod lacks.
			olds = []string{""}
		}
		for _, old := range olds {
			if err := f.AddReplace(m.Path, old, m.Path, m.Version); err != nil {
				return err
			}
		}
		for _, r := range f.Require {
			if r.Mod.Path == m.Path && r.Mod.Version != "v0.0.0" {
				if err := f.AddRequire(m.Path, m.Version); err != nil {
					return err
				}
				break
			}
		}
	}
	f.Cleanup()
	out, err := f.Format()
	if err != nil {
		return err
	}
	return os.WriteFile(goModPath, out, 0o644)
}

// tidy runs `go mod tidy` in the work clone, so go.sum and the indirect requirements follow
// the moved modules.
func tidy(ctx context.Context, dir string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("go mod tidy: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// keepLocked requires again, through go get, the modules the lock pins for linking that
// tidy dropped: go.mod may require a module ahead of the code that imports it, and the
// lock (and upstream:verify) want it required all the same. go get records what its module
// graph needs in go.sum and marks the requirement indirect, as it was.
func keepLocked(ctx context.Context, dir string, env []string, goModPath string, lock *upstream.Lock) (string, error) {
	data, err := os.ReadFile(goModPath)
	if err != nil {
		return "", err
	}
	f, err := modfile.Parse(goModPath, data, nil)
	if err != nil {
		return "", err
	}
	required := map[string]bool{}
	for _, r := range f.Require {
		required[r.Mod.Path] = true
	}
	var args []string
	for _, m := range lock.Modules {
		if (m.Role == upstream.RoleKubernetes || m.Role == upstream.RoleLinked) && !required[m.Path] {
			args = append(args, m.Path+"@"+m.Version)
		}
	}
	if len(args) == 0 {
		return "", nil
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"get"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("go get %s (locked, dropped by go mod tidy): %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
