// Package track turns a new upstream Kubernetes patch release into a pull request: it
// detects the release (package detect), and in a work clone of the repository moves
// upstream.lock, go.mod and go.sum, re-applies patches/, runs the build and tests, pushes
// upstream/vX.Y.Z and opens or refreshes the pull request from it.
//
// The tracker keeps no state of its own: what has been done is read back from the remote's
// branches and from the pull requests, so running it twice, or from two machines, opens one
// pull request per release.
//
// Pull requests the tracker finds:
//
//   - An open one from upstream/vX.Y.Z is refreshed; its needs-human label follows the
//     latest run, added when something needs a person and taken off once the patches apply
//     and the steps pass again.
//   - A closed one from upstream/vX.Y.Z (not merged) is a person's answer, and the tracker
//     leaves the version alone: reopening it on every run would fight whoever closed it, and
//     so would opening a fresh one. To have the tracker take the version up again, reopen
//     the pull request on GitHub (the tracker then refreshes it), or run with Reopen
//     (--reopen, TRACK_REOPEN=1): the tracker reopens that pull request, keeping its
//     conversation, and opens a fresh one that names it only when GitHub refuses to reopen
//     it (a merged one, or one whose branch went away).
//   - An open one of the tracker's for an older patch release of the same minor, into the
//     same base, is superseded once the newer one is open: the tracker comments with the
//     newer pull request's number and closes it, leaving its branch. When a person has
//     pushed to the older branch it is theirs: it stays open.
package track

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/distro-io/distro/distro/version"
	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/patchset"
	"github.com/distro-io/distro/release/track/detect"
	"github.com/distro-io/distro/release/upstream"
)

// Options say what to track and where to act. Validate them; Run uses them as they are.
type Options struct {
	// Remote is the repository (URL or path) the work clone is made from and pushed to.
	Remote string
	// Base is the branch tracking the lock's minor version; "main" when empty.
	Base string
	// ReleaseBranch names the branch of another tracked minor, from a format with one %s
	// for the minor: "release-%s" (release-1.35) when empty.
	ReleaseBranch string
	// Minors are the tracked minor versions ("1.37"); empty means the base branch's.
	Minors      []string
	Prereleases bool
	// GoEnv is added to the environment of every go command and step: GOPROXY, GOSUMDB,
	// GOMODCACHE, GOFLAGS and the rest.
	GoEnv []string
	// Releases is the second opinion on what was released (GitHub releases); nil skips it.
	Releases detect.Source
	// PullRequests opens and updates pull requests; it may be nil in a dry run, which then
	// does not say whether a pull request exists.
	PullRequests github.PullRequests
	// DryRun prints what would be done: no branch is made, pushed, and no pull request
	// opened or changed.
	DryRun bool
	// Steps check the updated branch, in order; MageSteps in real use.
	Steps []Step
	// ListTargets lists the work clone's mage targets for steps that name one; MageList
	// when empty.
	ListTargets []string
	// WorkDir holds the work clone; a temporary directory, removed afterwards, when empty.
	WorkDir string
	// Rerun runs the steps again even when the branch and the pull request are current.
	Rerun bool
	// Reopen takes a version up again whose pull request was closed: that pull request is
	// reopened, or a fresh one opened when GitHub will not reopen it. Without it a closed
	// pull request means the version is left alone.
	Reopen bool
	// Out receives progress; nil discards it.
	Out io.Writer
}

// Validate reports every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.Remote == "" {
		errs = append(errs, errors.New("a git remote to clone and push to is required"))
	}
	if !o.DryRun && o.PullRequests == nil {
		errs = append(errs, errors.New("acting (not a dry run) needs a GitHub client for pull requests"))
	}
	if len(o.Minors) > 0 {
		if err := (detect.Options{Minors: o.Minors}).Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if o.ReleaseBranch != "" && strings.Count(o.ReleaseBranch, "%s") != 1 {
		errs = append(errs, fmt.Errorf("release branch format %q must hold %%s once", o.ReleaseBranch))
	}
	for _, s := range o.Steps {
		if s.Name == "" {
			errs = append(errs, errors.New("every step needs a name"))
		}
	}
	return errors.Join(errs...)
}

// Action is what happened to one release.
type Action string

const (
	UpToDate Action = "up to date" // nothing newer than the lock
	NoBranch Action = "no branch"  // a tracked minor without a branch to update
	Opened   Action = "opened"     // branch pushed, pull request opened
	Updated  Action = "updated"    // pull request body refreshed (branch pushed if its content changed)
	Current  Action = "current"    // branch and pull request already hold this run's result
	Handsoff Action = "left alone" // a person has pushed to the branch
	Declined Action = "declined"   // the version's pull request was closed; left alone
	Reopened Action = "reopened"   // the closed pull request was reopened and refreshed
	WouldAct Action = "dry run"    // what a real run would do is in Plan
)

// Update is the outcome for one tracked minor version.
type Update struct {
	Minor       string
	Base        string
	From, To    string
	Branch      string
	Action      Action
	Plan        string // dry run: what would be done
	Pushed      bool   // the branch was pushed in this run
	PullRequest int
	URL         string
	// Replaced is the closed pull request a fresh one was opened instead of (Reopen).
	Replaced   int
	NeedsHuman bool
	// Superseded are the pull requests for older patch releases closed in favour of this
	// one (in a dry run: that would be).
	Superseded []int
	Steps      []StepResult
	// Elapsed runs from the start of the run (work clone, then detection) to the pull
	// request being opened or updated.
	Elapsed time.Duration
}

// Report is a run's outcome.
type Report struct {
	Detected []detect.Minor
	Updates  []Update
}

func (o Options) base() string {
	if o.Base == "" {
		return "main"
	}
	return o.Base
}

func (o Options) releaseBranch(minor string) string {
	f := o.ReleaseBranch
	if f == "" {
		f = "release-%s"
	}
	return fmt.Sprintf(f, minor)
}

func (o Options) logf(format string, args ...any) {
	if o.Out != nil {
		fmt.Fprintf(o.Out, format+"\n", args...)
	}
}

// Identity of the tracker's commits; a branch holding other authors' commits is a
// person's work and is never overwritten.
var (
	authorName  = version.Program + "-track"
	authorEmail = version.Program + "-track@" + version.Program + ".invalid"
)

// Run detects new releases and acts on each. Options must have been validated.
func Run(ctx context.Context, o Options) (Report, error) {
	start := time.Now()
	var rep Report
	work := o.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", version.Program+"-track-")
		if err != nil {
			return rep, err
		}
		defer removeAll(dir)
		work = dir
	}
	r, err := clone(ctx, o.Remote, filepath.Join(work, "clone"), gitEnv(authorName, authorEmail))
	if err != nil {
		return rep, fmt.Errorf("work clone of %s: %w", o.Remote, err)
	}
	heads, err := r.remoteBranches(ctx)
	if err != nil {
		return rep, err
	}
	baseLock, err := r.lockAt(ctx, o.base())
	if err != nil {
		return rep, err
	}
	minors := o.Minors
	if len(minors) == 0 {
		minors = []string{detect.MinorOf(baseLock.Kubernetes().Version)}
	}
	others := []detect.Source{}
	if o.Releases != nil {
		others = append(others, o.Releases)
	}
	rep.Detected, err = detect.Detect(ctx, detect.Options{Minors: minors, Prereleases: o.Prereleases}, detect.Proxy{Env: o.GoEnv}, others...)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, d := range rep.Detected {
		for _, n := range d.Notes {
			o.logf("%s: %s", d.Minor, n)
		}
		u, err := o.track(ctx, r, heads, baseLock, d, start)
		if err != nil {
			err = fmt.Errorf("minor %s: %w", d.Minor, err)
			o.logf("%v", err)
			errs = append(errs, err)
		}
		rep.Updates = append(rep.Updates, u)
	}
	return rep, errors.Join(errs...)
}

// lockAt reads upstream.lock as committed on a branch of origin.
func (r *repo) lockAt(ctx context.Context, branch string) (*upstream.Lock, error) {
	data, err := r.show(ctx, "origin/"+branch, "upstream.lock")
	if err != nil {
		return nil, fmt.Errorf("upstream.lock on %s: %w", branch, err)
	}
	return upstream.Parse(branch+":upstream.lock", data)
}

// track decides what one tracked minor needs, and does it.
func (o Options) track(ctx context.Context, r *repo, heads map[string]string, baseLock *upstream.Lock, d detect.Minor, start time.Time) (Update, error) {
	u := Update{Minor: d.Minor, Base: o.base(), To: d.Newest}
	lock := baseLock
	if detect.MinorOf(baseLock.Kubernetes().Version) != d.Minor {
		u.Base = o.releaseBranch(d.Minor)
		if _, ok := heads[u.Base]; !ok {
			u.Action = NoBranch
			o.logf("%s: no branch %s to update", d.Minor, u.Base)
			return u, nil
		}
		var err error
		if lock, err = r.lockAt(ctx, u.Base); err != nil {
			return u, err
		}
		if got := detect.MinorOf(lock.Kubernetes().Version); got != d.Minor {
			return u, fmt.Errorf("branch %s locks Kubernetes %s, not a %s release", u.Base, lock.Kubernetes().Version, d.Minor)
		}
	}
	u.From = lock.Kubernetes().Version
	if d.Newest == "" || semver.Compare(d.Newest, u.From) <= 0 {
		u.Action = UpToDate
		o.logf("%s: %s is the newest release; nothing to do", d.Minor, u.From)
		return u, nil
	}
	u.Branch = BranchPrefix + d.Newest
	remoteHead := heads[u.Branch]
	var pr github.PullRequest
	var found bool
	var closed *github.PullRequest
	if o.PullRequests != nil {
		var err error
		if pr, found, closed, err = o.pullRequestsOf(ctx, u.Branch); err != nil {
			return u, err
		}
	}
	if closed != nil && !o.Reopen {
		how := "closed without merging"
		if closed.Merged {
			how = "merged, yet " + u.Base + " is still at " + u.From
		}
		u.Action, u.PullRequest, u.URL = Declined, closed.Number, closed.HTMLURL
		o.logf("%s: pull request #%d for %s was %s; left alone (reopen it on GitHub, or run with --reopen, to take %s up again)", d.Minor, closed.Number, u.To, how, u.To)
		return u, nil
	}
	if o.DryRun {
		u.Action = WouldAct
		if o.PullRequests != nil {
			older, err := o.olderPullRequests(ctx, u)
			if err != nil {
				return u, err
			}
			for _, p := range older {
				u.Superseded = append(u.Superseded, p.Number)
			}
		}
		u.Plan = o.plan(u, remoteHead, pr, found, closed)
		o.logf("%s: %s", d.Minor, u.Plan)
		return u, nil
	}
	if remoteHead != "" {
		foreign, err := r.foreignAuthors(ctx, u.Base, u.Branch)
		if err != nil {
			return u, err
		}
		if len(foreign) > 0 {
			u.Action = Handsoff
			u.PullRequest, u.URL = pr.Number, pr.HTMLURL
			o.logf("%s: %s has commits by %s; a person is on it, left alone", d.Minor, u.Branch, strings.Join(foreign, ", "))
			if found {
				return u, o.supersede(ctx, r, heads, &u)
			}
			return u, nil
		}
	}
	u, err := o.act(ctx, r, u, lock, d, remoteHead, pr, found, closed, start)
	if err != nil {
		return u, err
	}
	return u, o.supersede(ctx, r, heads, &u)
}

// pullRequestsOf finds the open pull request from branch, or else the newest closed one.
func (o Options) pullRequestsOf(ctx context.Context, branch string) (open github.PullRequest, found bool, closed *github.PullRequest, err error) {
	prs, err := o.PullRequests.PullRequestsFrom(ctx, branch)
	if err != nil {
		return open, false, nil, err
	}
	var numbers []string
	for _, p := range prs {
		if p.State == "open" {
			if !found {
				open, found = p, true
			}
			numbers = append(numbers, fmt.Sprintf("#%d", p.Number))
		}
	}
	if len(numbers) > 1 {
		return open, false, nil, fmt.Errorf("%s has %d open pull requests (%s); close all but one", branch, len(numbers), strings.Join(numbers, ", "))
	}
	if !found && len(prs) > 0 {
		closed = &prs[0]
	}
	return open, found, closed, nil
}

// olderPullRequests lists the tracker's open pull requests into the update's base for older
// patch releases of its minor: those the update supersedes. A pull request counts as the
// tracker's when its branch is upstream/vX.Y.Z and its body carries the tracker's marker.
func (o Options) olderPullRequests(ctx context.Context, u Update) ([]github.PullRequest, error) {
	open, err := o.PullRequests.OpenPullRequestsInto(ctx, u.Base)
	if err != nil {
		return nil, err
	}
	var older []github.PullRequest
	for _, p := range open {
		v, ok := strings.CutPrefix(headBranch(p.Head), BranchPrefix)
		if !ok || p.Number == u.PullRequest || !semver.IsValid(v) || detect.MinorOf(v) != u.Minor ||
			semver.Compare(v, u.To) >= 0 || markerRE.FindStringSubmatch(p.Body) == nil {
			continue
		}
		older = append(older, p)
	}
	return older, nil
}

// headBranch is the branch of an "owner:branch" head.
func headBranch(head string) string {
	if _, branch, ok := strings.Cut(head, ":"); ok {
		return branch
	}
	return head
}

// supersede comments on and closes the tracker's pull requests for older patch releases,
// once the update has a pull request of its own. One a person has pushed to stays open.
func (o Options) supersede(ctx context.Context, r *repo, heads map[string]string, u *Update) error {
	if u.PullRequest == 0 || o.PullRequests == nil {
		return nil
	}
	older, err := o.olderPullRequests(ctx, *u)
	if err != nil {
		return err
	}
	for _, p := range older {
		branch := headBranch(p.Head)
		if _, ok := heads[branch]; ok {
			foreign, err := r.foreignAuthors(ctx, u.Base, branch)
			if err != nil {
				return err
			}
			if len(foreign) > 0 {
				o.logf("%s: #%d (%s) is superseded by #%d but has commits by %s; left open for them", u.Minor, p.Number, branch, u.PullRequest, strings.Join(foreign, ", "))
				continue
			}
		}
		v := strings.TrimPrefix(branch, BranchPrefix)
		note := fmt.Sprintf("Superseded by #%d: Kubernetes %s is out, and that pull request moves `%s` from %s straight to it. Closing this one for %s; its branch `%s` is left as it is.",
			u.PullRequest, u.To, u.Base, u.From, v, branch)
		if err := o.PullRequests.Comment(ctx, p.Number, note); err != nil {
			return err
		}
		if _, err := o.PullRequests.SetPullRequestState(ctx, p.Number, "closed"); err != nil {
			return err
		}
		u.Superseded = append(u.Superseded, p.Number)
		o.logf("%s: closed #%d for %s, superseded by #%d", u.Minor, p.Number, v, u.PullRequest)
	}
	return nil
}

// plan says in words what act would do.
func (o Options) plan(u Update, remoteHead string, pr github.PullRequest, found bool, closed *github.PullRequest) string {
	var steps []string
	for _, s := range o.Steps {
		steps = append(steps, s.Name)
	}
	what := fmt.Sprintf("would move %s from %s to %s on branch %s (upstream.lock, go.mod, go.sum, patches re-applied", u.Base, u.From, u.To, u.Branch)
	if len(steps) > 0 {
		what += "; " + strings.Join(steps, ", ")
	}
	what += ")"
	if remoteHead != "" {
		what += fmt.Sprintf(", force-push %s (now %.12s) if its content changed", u.Branch, remoteHead)
	} else {
		what += ", push it"
	}
	switch {
	case found:
		what += fmt.Sprintf(", and refresh pull request #%d", pr.Number)
	case closed != nil && !closed.Merged:
		what += fmt.Sprintf(", and reopen and refresh the closed pull request #%d", closed.Number)
	case closed != nil:
		what += fmt.Sprintf(", and open a pull request in place of the merged #%d", closed.Number)
	case o.PullRequests == nil:
		what += ", and open a pull request unless one is open (not checked: no GitHub client)"
	default:
		what += ", and open a pull request"
	}
	if len(u.Superseded) > 0 {
		var ns []string
		for _, n := range u.Superseded {
			ns = append(ns, fmt.Sprintf("#%d", n))
		}
		what += "; then close " + strings.Join(ns, ", ") + " for older patch releases as superseded"
	}
	return what
}

// foreignAuthors lists who other than the tracker committed to origin's branch since base.
func (r *repo) foreignAuthors(ctx context.Context, base, branch string) ([]string, error) {
	if _, err := r.git(ctx, "fetch", "--quiet", "origin", "+refs/heads/"+branch+":refs/remotes/origin/"+branch); err != nil {
		return nil, err
	}
	out, err := r.git(ctx, "log", "--format=%ae", "origin/"+base+"..origin/"+branch)
	if err != nil {
		return nil, err
	}
	var foreign []string
	for _, email := range strings.Fields(out) {
		if email != authorEmail && !contains(foreign, email) {
			foreign = append(foreign, email)
		}
	}
	return foreign, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// act makes the branch, runs the steps, pushes and opens or refreshes the pull request.
func (o Options) act(ctx context.Context, r *repo, u Update, from *upstream.Lock, d detect.Minor, remoteHead string, pr github.PullRequest, found bool, closed *github.PullRequest, start time.Time) (Update, error) {
	if err := r.startBranch(ctx, u.Branch, u.Base); err != nil {
		return u, err
	}
	o.logf("%s: moving %s from %s to %s in %s", d.Minor, u.Base, u.From, u.To, r.dir)
	bumpStart := time.Now()
	to, err := upstream.Bump(ctx, from, d.Newest, upstream.Options{Env: o.GoEnv})
	bumped := time.Since(bumpStart).Round(time.Millisecond)
	if err != nil {
		// Without verified hashes there is nothing a pull request could propose.
		return u, err
	}
	lockPath := filepath.Join(r.dir, "upstream.lock")
	if err := to.Write(lockPath); err != nil {
		return u, err
	}
	var needs []string
	results := []StepResult{{Name: "upstream.lock", Status: Passed, Elapsed: bumped,
		Tail: fmt.Sprintf("%d modules moved to %s, hashes verified", 1+len(to.ByRole(upstream.RoleStaging)), to.Kubernetes().Version)}}

	goMod := StepResult{Name: "go.mod and go.sum", Status: Passed}
	gstart := time.Now()
	out, err := o.moveGoMod(ctx, r.dir, to)
	goMod.Elapsed = time.Since(gstart).Round(time.Millisecond)
	goMod.Tail = tail([]byte(out), tailLines)
	if err != nil {
		goMod.Status, goMod.Reason = Failed, err.Error()
		needs = append(needs, "go.mod could not follow the lock: "+err.Error())
	}
	results = append(results, goMod)

	paths := []string{"upstream.lock", "go.mod", "go.sum"}
	entry := changelogEntry(from, to)
	if changed, err := addChangelogEntry(filepath.Join(r.dir, "CHANGELOG.md"), entry); err != nil {
		return u, err
	} else if changed {
		paths = append(paths, "CHANGELOG.md")
	}

	patches, applyErr := o.applyPatches(ctx, r.dir, to)
	results = append(results, patches)
	if applyErr != nil {
		if errors.As(applyErr, new(*patchset.ApplyError)) {
			needs = append(needs, "a patch no longer applies (below)")
		} else {
			needs = append(needs, "patches/ could not be applied: "+applyErr.Error())
		}
	}

	tree, err := r.commit(ctx, commitMessage(from, to), existing(r.dir, paths)...)
	if err != nil {
		return u, err
	}
	changed := true
	if remoteHead != "" {
		remoteTree, err := r.git(ctx, "rev-parse", "origin/"+u.Branch+"^{tree}")
		if err != nil {
			return u, err
		}
		changed = remoteTree != tree
	}
	if !changed && found && markedTree(pr.Body) == tree && !o.Rerun {
		u.Action, u.PullRequest, u.URL = Current, pr.Number, pr.HTMLURL
		u.NeedsHuman = contains(pr.Labels, NeedsHuman)
		u.Elapsed = time.Since(start)
		o.logf("%s: %s and pull request #%d already hold %s; nothing to do", d.Minor, u.Branch, pr.Number, u.To)
		return u, nil
	}

	blocked := ""
	switch {
	case goMod.Status == Failed:
		blocked = "go.mod did not follow the lock"
	case patches.Status == Failed:
		blocked = "patches do not apply"
	}
	targets, listErr := o.mageTargets(ctx, r.dir)
	for _, s := range o.Steps {
		var res StepResult
		switch {
		case blocked != "":
			res = StepResult{Name: s.Name, Status: Skipped, Reason: blocked}
		case s.Target != "" && listErr != nil:
			res = StepResult{Name: s.Name, Status: Skipped, Reason: "not available: " + listErr.Error()}
		case s.Target != "" && !targets[s.Target]:
			res = StepResult{Name: s.Name, Status: Skipped, Reason: "not available (no mage target " + s.Target + ")"}
		default:
			o.logf("%s: %s", d.Minor, s.Name)
			res = runStep(ctx, r.dir, o.GoEnv, s)
			if res.Status == Failed {
				needs = append(needs, s.Name+" failed")
			}
		}
		o.logf("%s: %s %s %s", d.Minor, s.Name, res.Status, res.Reason)
		results = append(results, res)
	}
	u.Steps, u.NeedsHuman = results, len(needs) > 0

	// Reopen before pushing: GitHub reopens a pull request only while its branch is where
	// the pull request last saw it.
	reopened := false
	if closed != nil {
		if !closed.Merged {
			p, err := o.PullRequests.SetPullRequestState(ctx, closed.Number, "open")
			if err == nil {
				pr, found, reopened = p, true, true
				o.logf("%s: reopened pull request #%d", d.Minor, p.Number)
			} else {
				o.logf("%s: pull request #%d could not be reopened (%v); opening a new one", d.Minor, closed.Number, err)
			}
		}
		if !reopened {
			u.Replaced = closed.Number
		}
	}

	if changed {
		if err := r.push(ctx, u.Branch, remoteHead); err != nil {
			return u, err
		}
		u.Pushed = true
		o.logf("%s: pushed %s", d.Minor, u.Branch)
	}
	lockDiff, err := r.git(ctx, "diff", "origin/"+u.Base, "HEAD", "--", "upstream.lock")
	if err != nil {
		return u, err
	}
	var applyError *patchset.ApplyError
	errors.As(applyErr, &applyError)
	body := renderBody(bodyInput{
		From: from, To: to, Base: u.Base, Entry: entry, LockDiff: lockDiff, Notes: d.Notes,
		ApplyErr: applyError, Steps: results, Tree: tree, NeedsWhy: needs, Replaces: u.Replaced,
	})
	if found {
		pr, err = o.PullRequests.UpdatePullRequest(ctx, pr.Number, title(to), body)
		u.Action = Updated
		if reopened {
			u.Action = Reopened
		}
	} else {
		pr, err = o.PullRequests.CreatePullRequest(ctx, github.NewPullRequest{Head: u.Branch, Base: u.Base, Title: title(to), Body: body})
		u.Action = Opened
	}
	if err != nil {
		return u, err
	}
	u.PullRequest, u.URL = pr.Number, pr.HTMLURL
	// The label says what the latest run found: on when a person is needed, off again once
	// the patches apply and the steps pass.
	switch labelled := contains(pr.Labels, NeedsHuman); {
	case u.NeedsHuman && !labelled:
		if err := o.PullRequests.AddLabels(ctx, pr.Number, NeedsHuman); err != nil {
			return u, err
		}
	case !u.NeedsHuman && labelled:
		if err := o.PullRequests.RemoveLabel(ctx, pr.Number, NeedsHuman); err != nil {
			return u, err
		}
		o.logf("%s: %s no longer needs a person; label %s removed from #%d", d.Minor, u.Branch, NeedsHuman, pr.Number)
	}
	u.Elapsed = time.Since(start)
	o.logf("%s: pull request #%d %s (%s after detection started)", d.Minor, pr.Number, u.Action, u.Elapsed.Round(time.Millisecond))
	return u, nil
}

func commitMessage(from, to *upstream.Lock) string {
	k := to.Kubernetes().Version
	return fmt.Sprintf("upstream: Kubernetes %s\n\nMove upstream.lock, go.mod and go.sum from Kubernetes %s to %s and its %d staging\nmodules (%s). Upstream changes: %s\n",
		k, from.Kubernetes().Version, k, len(to.ByRole(upstream.RoleStaging)), to.ReleaseVersion(), UpstreamChangelog(k))
}

// existing keeps the paths present in dir (a repository need not have go.sum).
func existing(dir string, paths []string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// moveGoMod moves go.mod to the lock, tidies, keeps what the lock pins, and checks the
// result as upstream:verify would.
func (o Options) moveGoMod(ctx context.Context, dir string, to *upstream.Lock) (string, error) {
	goModPath := filepath.Join(dir, "go.mod")
	if err := moveGoMod(goModPath, to); err != nil {
		return "", err
	}
	out, err := tidy(ctx, dir, o.GoEnv)
	if err != nil {
		return out, err
	}
	kept, err := keepLocked(ctx, dir, o.GoEnv, goModPath, to)
	out += kept
	if err != nil {
		return out, err
	}
	return out, upstream.CheckGoMod(to, goModPath)
}

// applyPatches re-applies patches/ to the moved modules, into the work clone's build/ where
// the build step finds them already made.
func (o Options) applyPatches(ctx context.Context, dir string, to *upstream.Lock) (res StepResult, _ error) {
	res.Name = "patches"
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start).Round(time.Millisecond) }()
	patchesDir := filepath.Join(dir, "patches")
	if _, err := os.Stat(patchesDir); os.IsNotExist(err) {
		res.Status, res.Reason = Skipped, "the repository has no patches/"
		return res, nil
	}
	err := func() error {
		patched, err := patchset.PatchedModules(patchesDir)
		if err != nil {
			return err
		}
		var sources []patchset.Source
		for _, m := range to.Modules {
			src := patchset.Source{Path: m.Path, Version: m.Version, Sum: m.Sum}
			if contains(patched, m.Path) {
				got, srcDir, err := upstream.Resolve(ctx, m.Path, m.Version, upstream.Options{Env: o.GoEnv})
				if err != nil {
					return err
				}
				if got.Sum != m.Sum {
					return fmt.Errorf("%s: the source hashes to %s, the lock has %s", m, got.Sum, m.Sum)
				}
				src.Dir = srcDir
			}
			sources = append(sources, src)
		}
		applied, err := patchset.Apply(ctx, patchset.ApplyOptions{Modules: sources, PatchesDir: patchesDir, BuildDir: filepath.Join(dir, "build")})
		if err != nil {
			return err
		}
		var lines []string
		for _, t := range applied.Trees {
			lines = append(lines, fmt.Sprintf("%s@%s: %d patches applied", t.Path, t.Version, len(t.Patches)))
		}
		res.Tail = strings.Join(lines, "\n")
		return nil
	}()
	// Name the patch as the repository does, not by the work clone's temporary path.
	var applyErr *patchset.ApplyError
	if errors.As(err, &applyErr) {
		rel := *applyErr
		if p, relErr := filepath.Rel(dir, rel.Patch); relErr == nil {
			rel.Patch = filepath.ToSlash(p)
		}
		err = &rel
	}
	if err != nil {
		res.Status, res.Reason, res.Tail = Failed, err.Error(), err.Error()
		return res, err
	}
	res.Status = Passed
	return res, nil
}

// mageTargets lists the work clone's mage targets, once per update, only when a step
// names one.
func (o Options) mageTargets(ctx context.Context, dir string) (map[string]bool, error) {
	need := false
	for _, s := range o.Steps {
		need = need || s.Target != ""
	}
	if !need {
		return nil, nil
	}
	argv := o.ListTargets
	if len(argv) == 0 {
		argv = MageList
	}
	out, err := run(ctx, dir, o.GoEnv, argv)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, tail(out, 3))
	}
	return mageTargets(out), nil
}

// removeAll deletes a work directory, including the read-only module cache files a test
// proxy's go commands may have left in it.
func removeAll(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}
