package verify

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Mage is how MageBuild runs the worktree's mage: through the go command's tool directive,
// so the tag's own go.mod decides the mage version.
var Mage = []string{"go", "tool", "mage"}

// MageBuild rebuilds the way the release built: the tag's own `mage release`, as a dry
// run, with DISTRO_RELEASE_VERSION naming the version. That is the release pipeline of the
// tagged commit (its build, its flags: -trimpath, no build id, the commit's time as the
// build date, the version stamped), writing every artifact and sha256sum-amd64.txt to the
// worktree's dist/. The guard's checks are skipped (DISTRO_RELEASE_SKIP_CHECKS=1): they
// passed when the release was made and do not change a byte of it. Publishing settings
// and GITHUB_TOKEN are left out of its environment, so a verification writes nothing
// anywhere but in its worktree; SOURCE_DATE_EPOCH and the go settings pass through.
func MageBuild(ctx context.Context, b Build) error {
	argv := append(append([]string(nil), Mage...), "release")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = b.Dir
	cmd.Env = RebuildEnv(os.Environ(), b.Version.String())
	cmd.Stdout, cmd.Stderr = b.Out, b.Out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s in %s: %w", strings.Join(argv, " "), b.Dir, err)
	}
	return nil
}

// RebuildEnv is environ without what could make a rebuild publish, reuse an old build, pick
// another version or compress the payload other than a release does, plus the settings of
// a dry-run release of version.
func RebuildEnv(environ []string, version string) []string {
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if name == "GITHUB_TOKEN" || name == "GOWORK" || name == "DISTRO_PAYLOAD_COMPRESSION" || strings.HasPrefix(name, "DISTRO_PUBLISH") ||
			strings.HasPrefix(name, "DISTRO_RELEASE_") || strings.HasPrefix(name, "DISTRO_GITHUB_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "DISTRO_RELEASE_VERSION="+version, "DISTRO_RELEASE_SKIP_CHECKS=1")
}
