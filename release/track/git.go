package track

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// repo is the work clone: a repository of its own in a directory the tracker owns, so the
// caller's checkout is never touched.
type repo struct {
	dir string
	env []string
}

// gitEnv keeps git's output parseable and its behaviour independent of the person's
// configuration, and names the tracker as the author of its commits.
func gitEnv(name, email string) []string {
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
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email,
		"GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email,
	)
}

// git runs git in the work clone and returns its output without the surrounding space.
func (r *repo) git(ctx context.Context, args ...string) (string, error) {
	out, err := r.raw(ctx, args...)
	return strings.TrimSpace(string(out)), err
}

func (r *repo) raw(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// clone makes a work clone of remote in dir; "origin" is the remote pushed to.
func clone(ctx context.Context, remote, dir string, env []string) (*repo, error) {
	r := &repo{dir: dir, env: env}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := r.git(ctx, "clone", "--quiet", "--no-checkout", remote, "."); err != nil {
		return nil, err
	}
	return r, nil
}

// remoteBranches maps each branch of origin to its commit, read from origin itself rather
// than from what the clone fetched, so it is current when pushing.
func (r *repo) remoteBranches(ctx context.Context) (map[string]string, error) {
	out, err := r.git(ctx, "ls-remote", "--heads", "origin")
	if err != nil {
		return nil, err
	}
	heads := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		sha, ref, ok := strings.Cut(line, "\t")
		if ok {
			heads[strings.TrimPrefix(ref, "refs/heads/")] = sha
		}
	}
	return heads, nil
}

// show returns a file as committed at rev.
func (r *repo) show(ctx context.Context, rev, path string) ([]byte, error) {
	return r.raw(ctx, "show", rev+":"+path)
}

// startBranch checks branch out at origin/base, dropping anything an earlier update left in
// the work tree; ignored files (build caches) are kept.
func (r *repo) startBranch(ctx context.Context, branch, base string) error {
	if _, err := r.git(ctx, "checkout", "--quiet", "--force", "-B", branch, "origin/"+base); err != nil {
		return err
	}
	_, err := r.git(ctx, "clean", "--quiet", "-fd")
	return err
}

// commit records the named files and returns the commit's tree.
func (r *repo) commit(ctx context.Context, message string, paths ...string) (string, error) {
	if _, err := r.git(ctx, append([]string{"add", "--"}, paths...)...); err != nil {
		return "", err
	}
	if _, err := r.git(ctx, "commit", "--quiet", "-m", message); err != nil {
		return "", err
	}
	return r.git(ctx, "rev-parse", "HEAD^{tree}")
}

// treeOf returns the tree of a commit of origin, fetching it first.
func (r *repo) treeOf(ctx context.Context, branch string) (string, error) {
	if _, err := r.git(ctx, "fetch", "--quiet", "origin", "refs/heads/"+branch); err != nil {
		return "", err
	}
	return r.git(ctx, "rev-parse", "FETCH_HEAD^{tree}")
}

// push sends HEAD to origin's branch, but only if origin's branch is still at expected
// ("" for: the branch must not exist), so a concurrent change is never overwritten.
func (r *repo) push(ctx context.Context, branch, expected string) error {
	ref := "refs/heads/" + branch
	_, err := r.git(ctx, "push", "--quiet", "--force-with-lease="+ref+":"+expected, "origin", "HEAD:"+ref)
	return err
}
