// Command distro-track turns a new upstream Kubernetes patch release into a pull request.
// Cron or a CI schedule runs it; it keeps no state between runs.
//
//	distro-track [flags]
//
// Without --open-pr it only prints what it would do. Every flag defaults to the environment
// variable `mage upstream:track` reads (see its help), and GITHUB_TOKEN carries the token.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/distro-io/distro/release/track"
)

func main() {
	env := track.ConfigFromEnv(os.Getenv)
	c := env
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fs.StringVar(&c.Remote, "remote", env.Remote, "git remote to clone and push to (default: origin of --dir) [TRACK_REMOTE]")
	fs.StringVar(&c.Dir, "dir", ".", "checkout whose origin is the default remote; never changed")
	fs.StringVar(&c.Base, "base", env.Base, "branch following the newest tracked minor (default main) [TRACK_BASE]")
	fs.StringVar(&c.ReleaseBranch, "release-branch", env.ReleaseBranch, "branch of another tracked minor, %s for the minor (default release-%s) [TRACK_RELEASE_BRANCH]")
	fs.StringVar(&c.Minors, "minors", env.Minors, "minor versions to track, e.g. 1.35,1.36,1.37 (default: the base branch's) [TRACK_MINORS]")
	fs.BoolVar(&c.Prereleases, "prereleases", env.Prereleases, "count alpha, beta and rc releases [TRACK_PRERELEASES]")
	fs.BoolVar(&c.OpenPR, "open-pr", env.OpenPR, "act: push branches and open pull requests (needs GITHUB_TOKEN) [TRACK_OPEN_PR]")
	fs.StringVar(&c.Repo, "repo", env.Repo, "GitHub repository for pull requests, owner/name [TRACK_REPO, GITHUB_REPOSITORY]")
	fs.StringVar(&c.UpstreamRepo, "upstream-repo", env.UpstreamRepo, "GitHub repository whose releases are compared, \"-\" for none (default kubernetes/kubernetes) [TRACK_UPSTREAM_REPO]")
	fs.StringVar(&c.APIURL, "github-api-url", env.APIURL, "GitHub Enterprise API URL [TRACK_GITHUB_API_URL]")
	fs.StringVar(&c.UploadURL, "github-upload-url", env.UploadURL, "GitHub Enterprise upload URL [TRACK_GITHUB_UPLOAD_URL]")
	fs.StringVar(&c.WorkDir, "work-dir", env.WorkDir, "directory for the work clone (default: a temporary one, removed) [TRACK_WORK_DIR]")
	fs.BoolVar(&c.Rerun, "rerun", env.Rerun, "run the steps again even when branch and pull request are current [TRACK_RERUN]")
	fs.BoolVar(&c.Reopen, "reopen", env.Reopen, "take up again a version whose pull request was closed: reopen it (or open a fresh one) [TRACK_REOPEN]")
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %q\n", fs.Args())
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "distro-track:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c track.Config) error {
	o, err := c.Complete(ctx, os.Stderr)
	if err != nil {
		return err
	}
	o.Steps = track.MageSteps()
	rep, err := track.Run(ctx, o)
	rep.WriteSummary(os.Stdout)
	return err
}
