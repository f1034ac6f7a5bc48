package track

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/track/detect"
)

// Config is the tracker's settings as a person or a schedule gives them: strings from flags
// or the environment. Complete turns them into Options.
type Config struct {
	// Remote is the git remote to clone and push; empty means the URL of "origin" in Dir.
	Remote string
	// Dir is the caller's checkout, only read to find Remote; "." when empty.
	Dir           string
	Base          string
	ReleaseBranch string
	// Minors is a list such as "1.35,1.36,1.37"; empty tracks the base branch's minor.
	Minors      string
	Prereleases bool
	// OpenPR acts; without it the run is a dry run.
	OpenPR bool
	// Token is the GitHub token (GITHUB_TOKEN); acting needs it, a dry run uses it when set.
	Token string
	// Repo is the GitHub repository pull requests go to, "owner/name".
	Repo string
	// UpstreamRepo is whose GitHub releases are the second opinion, "kubernetes/kubernetes"
	// when empty; "-" skips that source.
	UpstreamRepo string
	// APIURL and UploadURL point at a GitHub Enterprise Server; empty means github.com.
	APIURL, UploadURL string
	WorkDir           string
	Rerun             bool
	// Reopen takes up again a version whose pull request was closed (Options.Reopen).
	Reopen bool
}

// ConfigFromEnv reads the settings of `mage upstream:track` and the defaults of
// distro-track's flags.
func ConfigFromEnv(getenv func(string) string) Config {
	on := func(key string) bool { b, _ := strconv.ParseBool(getenv(key)); return b }
	return Config{
		Remote:        getenv("TRACK_REMOTE"),
		Base:          getenv("TRACK_BASE"),
		ReleaseBranch: getenv("TRACK_RELEASE_BRANCH"),
		Minors:        getenv("TRACK_MINORS"),
		Prereleases:   on("TRACK_PRERELEASES"),
		OpenPR:        on("TRACK_OPEN_PR"),
		Token:         getenv("GITHUB_TOKEN"),
		// GitHub Actions names the repository a workflow runs in.
		Repo:         firstOf(getenv("TRACK_REPO"), getenv("GITHUB_REPOSITORY")),
		UpstreamRepo: getenv("TRACK_UPSTREAM_REPO"),
		APIURL:       getenv("TRACK_GITHUB_API_URL"),
		UploadURL:    getenv("TRACK_GITHUB_UPLOAD_URL"),
		WorkDir:      getenv("TRACK_WORK_DIR"),
		Rerun:        on("TRACK_RERUN"),
		Reopen:       on("TRACK_REOPEN"),
	}
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Complete checks the settings, every problem at once, and makes the GitHub clients.
// Steps and the go environment are the caller's to fill in.
func (c Config) Complete(ctx context.Context, out io.Writer) (Options, error) {
	o := Options{
		Remote: c.Remote, Base: c.Base, ReleaseBranch: c.ReleaseBranch,
		Minors: detect.ParseMinors(c.Minors), Prereleases: c.Prereleases,
		DryRun: !c.OpenPR, WorkDir: c.WorkDir, Rerun: c.Rerun, Reopen: c.Reopen, Out: out,
	}
	var errs []error
	if o.Remote == "" {
		dir := firstOf(c.Dir, ".")
		url, err := exec.CommandContext(ctx, "git", "-C", dir, "remote", "get-url", "origin").Output()
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(exit.Stderr)))
			}
			errs = append(errs, fmt.Errorf("no remote given, and no origin in %s to default to: %v", dir, err))
		}
		o.Remote = strings.TrimSpace(string(url))
	}
	if c.OpenPR && c.Token == "" {
		errs = append(errs, errors.New("opening pull requests needs GITHUB_TOKEN"))
	}
	owner, name, ok := strings.Cut(c.Repo, "/")
	if c.Token != "" {
		if !ok {
			errs = append(errs, fmt.Errorf("the GitHub repository must read owner/name, not %q", c.Repo))
		} else {
			pulls, err := github.NewClient(github.Options{Owner: owner, Repo: name, Token: c.Token, APIURL: c.APIURL, UploadURL: c.UploadURL})
			if err != nil {
				errs = append(errs, err)
			} else {
				o.PullRequests = pulls
			}
		}
	}
	if c.UpstreamRepo != "-" {
		uo, un, _ := strings.Cut(firstOf(c.UpstreamRepo, "kubernetes/kubernetes"), "/")
		rels, err := detect.NewGitHubReleases(detect.GitHubOptions{Owner: uo, Repo: un, Token: c.Token, APIURL: c.APIURL, UploadURL: c.UploadURL})
		if err != nil {
			errs = append(errs, err)
		} else {
			o.Releases = rels
		}
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	return o, o.Validate()
}

// WriteSummary prints one line per tracked minor.
func (r Report) WriteSummary(w io.Writer) {
	for _, u := range r.Updates {
		line := fmt.Sprintf("%s: %s", u.Minor, u.Action)
		if u.To != "" && u.From != "" && u.Action != UpToDate {
			line += fmt.Sprintf(" %s → %s on %s", u.From, u.To, u.Branch)
		}
		if u.PullRequest > 0 {
			line += fmt.Sprintf(", pull request #%d %s", u.PullRequest, u.URL)
		}
		if u.Replaced > 0 {
			line += fmt.Sprintf(" in place of closed #%d", u.Replaced)
		}
		if len(u.Superseded) > 0 && u.Action != WouldAct {
			var ns []string
			for _, n := range u.Superseded {
				ns = append(ns, fmt.Sprintf("#%d", n))
			}
			line += ", closed superseded " + strings.Join(ns, ", ")
		}
		if u.NeedsHuman {
			line += ", " + NeedsHuman
		}
		if u.Elapsed > 0 {
			line += fmt.Sprintf(" (%s from detection)", u.Elapsed.Round(1e6))
		}
		if u.Plan != "" {
			line += ": " + u.Plan
		}
		fmt.Fprintln(w, line)
	}
}
