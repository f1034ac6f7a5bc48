package notes

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/distro-io/distro/release/upstream"
)

// Component is one row of the "Embedded component versions" table.
type Component struct {
	Name, Version, Source string
}

// displayNames are what people call the modules upstream.lock pins; others are listed
// by module path.
var displayNames = map[string]string{
	"k8s.io/kubernetes":                      "Kubernetes",
	"github.com/k3s-io/kine":                 "kine",
	"github.com/containerd/containerd/v2":    "containerd",
	"github.com/opencontainers/runc":         "runc",
	"github.com/containernetworking/plugins": "CNI plugins",
	"github.com/coredns/coredns":             "CoreDNS",
	"github.com/flannel-io/flannel":          "flannel",
	"github.com/kubernetes-sigs/cri-tools":   "crictl",
}

// sqliteModule is the cgo driver that bundles SQLite; go.mod, not the lock, pins it.
const sqliteModule = "github.com/mattn/go-sqlite3"

// Components lists the embedded components: the kubernetes, linked and payload modules
// of the lock in lock order, with SQLite after kine (it is kine's default datastore),
// and the staging modules in one row.
func Components(ctx context.Context, lock *upstream.Lock, repoDir, modCache string) ([]Component, error) {
	sqlite, err := sqliteComponent(ctx, repoDir, modCache)
	if err != nil {
		return nil, err
	}
	var out []Component
	for _, m := range lock.Modules {
		if m.Role == upstream.RoleStaging {
			continue
		}
		name := displayNames[m.Path]
		if name == "" {
			name = m.Path
		}
		out = append(out, Component{Name: name, Version: m.Version, Source: fmt.Sprintf("`%s` (%s)", m.Path, m.Role)})
		if m.Path == "github.com/k3s-io/kine" && sqlite != nil {
			out = append(out, *sqlite)
			sqlite = nil
		}
	}
	if sqlite != nil {
		out = append(out, *sqlite)
	}
	if staging := lock.ByRole(upstream.RoleStaging); len(staging) > 0 {
		versions := map[string]bool{}
		for _, m := range staging {
			versions[m.Version] = true
		}
		if len(versions) == 1 {
			out = append(out, Component{Name: "Kubernetes staging modules", Version: staging[0].Version, Source: fmt.Sprintf("%d `k8s.io/*` modules (staging)", len(staging))})
		} else {
			for _, m := range staging {
				out = append(out, Component{Name: m.Path, Version: m.Version, Source: fmt.Sprintf("`%s` (staging)", m.Path)})
			}
		}
	}
	return out, nil
}

// sqliteComponent reads go-sqlite3's version from go.mod and the SQLite release it
// bundles from the module's sqlite3-binding.h in the module cache. A module not in
// the cache leaves the SQLite release out rather than guessing it.
func sqliteComponent(ctx context.Context, repoDir, modCache string) (*Component, error) {
	path := filepath.Join(repoDir, "go.mod")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax(path, data, nil)
	if err != nil {
		return nil, err
	}
	var ver string
	for _, r := range f.Require {
		if r.Mod.Path == sqliteModule {
			ver = r.Mod.Version
		}
	}
	if ver == "" {
		return nil, nil
	}
	c := &Component{Name: "SQLite", Version: "bundled", Source: fmt.Sprintf("`%s` %s (go.mod)", sqliteModule, ver)}
	if modCache == "" {
		cmd := exec.CommandContext(ctx, "go", "env", "GOMODCACHE")
		cmd.Dir = repoDir
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go env GOMODCACHE: %w", err)
		}
		modCache = strings.TrimSpace(string(out))
	}
	dir, err := module.EscapePath(sqliteModule)
	if err != nil {
		return nil, err
	}
	header := filepath.Join(modCache, filepath.FromSlash(dir)+"@"+ver, "sqlite3-binding.h")
	if v, err := sqliteRelease(header); err != nil {
		return nil, err
	} else if v != "" {
		c.Version = v
	}
	return c, nil
}

// sqliteRelease reads `#define SQLITE_VERSION "3.x.y"`; a missing file gives "".
func sqliteRelease(header string) (string, error) {
	f, err := os.Open(header)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "#define" && fields[1] == "SQLITE_VERSION" {
			return strings.Trim(fields[2], `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s defines no SQLITE_VERSION", header)
}
