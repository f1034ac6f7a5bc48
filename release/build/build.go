// Package build compiles the distro multicall binary from the locked (and patched)
// upstream sources, with every version variable stamped.
package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// MainPackage is the multicall binary's main package, relative to the module root.
const MainPackage = "./distro/cmd/distro"

// Tags are the build tags of every distro build. They decide what the build cache
// holds, so the same set is used everywhere (build, strip audit, tests of the binary).
var Tags = []string{
	"netgo", "osusergo", // pure-Go resolver and user lookup: a static binary without glibc NSS
	"static_build",
	"sqlite_omit_load_extension",         // no dlopen from SQLite: static linking
	"providerless",                       // upstream's switch for cloud providers (a no-op since they left the tree)
	"no_btrfs", "no_devmapper", "no_zfs", // containerd snapshotters distro does not offer (overlayfs and native remain)
}

// Stamp is what the binary says about itself.
type Stamp struct {
	Version         string // vX.Y.Z+distroN
	UpstreamVersion string // vX.Y.Z
	ContainerdVer   string // vX.Y.Z of the linked containerd, empty to leave unstamped
	KineVersion     string // vX.Y.Z of the linked kine, empty to leave unstamped
	GitCommit       string
	TreeState       string // "clean" or "dirty"
	BuildDate       time.Time
}

// Options say what to build and where.
type Options struct {
	ModuleDir string // the distro module root
	GoWork    string // build/go.work adding the patched trees; empty builds unpatched upstream
	Output    string
	Stamp     Stamp
	// Env is added to the go command's environment (GOCACHE, GOFLAGS, …).
	Env []string
}

// LDFlags returns the linker flags: a stripped, static binary with every version
// variable stamped the way upstream's hack/lib/version.sh does.
func LDFlags(s Stamp) (string, error) {
	major, minor, err := majorMinor(s.UpstreamVersion)
	if err != nil {
		return "", err
	}
	vars := []string{
		"github.com/distro-io/distro/distro/version.Version=" + s.Version,
		"github.com/distro-io/distro/distro/version.GitCommit=" + s.GitCommit,
		"github.com/distro-io/distro/distro/version.UpstreamVersion=" + s.UpstreamVersion,
	}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		vars = append(vars,
			pkg+".gitVersion="+s.Version,
			pkg+".gitMajor="+major,
			pkg+".gitMinor="+minor,
			pkg+".gitCommit="+s.GitCommit,
			pkg+".gitTreeState="+s.TreeState,
			pkg+".buildDate="+s.BuildDate.UTC().Format(time.RFC3339),
		)
	}
	if s.ContainerdVer != "" {
		vars = append(vars, "github.com/containerd/containerd/v2/version.Version="+s.ContainerdVer)
	}
	if s.KineVersion != "" {
		vars = append(vars, "github.com/k3s-io/kine/pkg/version.Version="+s.KineVersion)
	}
	flags := []string{"-s", "-w", "-buildid=", "-linkmode=external", "-extldflags=-static"}
	for _, v := range vars {
		flags = append(flags, "-X", v)
	}
	return strings.Join(flags, " "), nil
}

func majorMinor(v string) (string, string, error) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if !strings.HasPrefix(v, "v") || len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", fmt.Errorf("upstream version %q is not of the form vX.Y.Z", v)
	}
	return parts[0], parts[1], nil
}

// Command returns the go build invocation for opts.
func Command(ctx context.Context, opts Options) (*exec.Cmd, error) {
	ldflags, err := LDFlags(opts.Stamp)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(opts.Output)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "build",
		"-trimpath", "-buildvcs=false",
		"-tags", strings.Join(Tags, ","),
		"-ldflags", ldflags,
		"-o", out, MainPackage)
	cmd.Dir = opts.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64", "GOWORK="+goWork(opts.GoWork))
	cmd.Env = append(cmd.Env, opts.Env...)
	return cmd, nil
}

// goWork turns "no workspace" into the go command's explicit off switch, so a go.work
// lying around in a parent directory is never picked up by accident.
func goWork(path string) string {
	if path == "" {
		return "off"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}

// Binary builds the multicall binary; the go command's output goes to the caller's stderr.
func Binary(ctx context.Context, opts Options) error {
	cmd, err := Command(ctx, opts)
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", MainPackage, err, stderr.String())
	}
	os.Stderr.Write(stderr.Bytes())
	return nil
}

// GitStamp reads commit, tree state and commit time of the repository at dir. The
// commit time (not the wall clock) is the build date, so two builds of one commit
// are identical; SOURCE_DATE_EPOCH overrides it.
func GitStamp(ctx context.Context, dir string) (commit, treeState string, date time.Time, err error) {
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s in %s: %w", strings.Join(args, " "), dir, err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if commit, err = run("rev-parse", "HEAD"); err != nil {
		return
	}
	status, err := run("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return
	}
	treeState = "clean"
	if status != "" {
		treeState = "dirty"
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = run("log", "-1", "--format=%ct"); err != nil {
			return
		}
	}
	var secs int64
	if _, err = fmt.Sscan(epoch, &secs); err != nil {
		err = fmt.Errorf("commit time or SOURCE_DATE_EPOCH %q is not a number of seconds", epoch)
		return
	}
	date = time.Unix(secs, 0).UTC()
	return
}
