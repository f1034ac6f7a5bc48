package patchset

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/distro-io/distro/distro/version"
)

// Identity used for the commits this package makes itself (the pristine source, and as
// committer of patches applied by git am); patch authors are kept from the patch files.
var (
	gitName  = version.Program + " patchset"
	gitEmail = "patchset@" + version.Program + ".invalid"
)

// git runs git in dir and returns its combined output. The environment is made
// predictable: English messages (they are parsed), no user or system config (it changes
// format-patch output), and no walking up from dir into an enclosing repository (a build dir
// usually sits inside this project's checkout, and git apply would then patch relative to
// that checkout's root).
func git(ctx context.Context, dir string, args ...string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = abs
	cmd.Env = gitEnv(filepath.Dir(abs))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("git %s in %s: %w\n%s", strings.Join(args, " "), dir, err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func gitEnv(ceiling string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_CEILING_DIRECTORIES="+ceiling,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+gitName,
		"GIT_AUTHOR_EMAIL="+gitEmail,
		"GIT_COMMITTER_NAME="+gitName,
		"GIT_COMMITTER_EMAIL="+gitEmail,
	)
}
