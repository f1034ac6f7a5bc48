// Package guard holds the release steps that refuse to release: from a dirty tree, when
// a project check fails, or when the version is already published with other assets.
package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distro-io/distro/release/pipeline"
)

// Check is one project check the guard runs: patches:check, strip:audit,
// upstream:verify, the unit tests. The mage wiring passes the real commands; tests
// pass fakes of them.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Tree is the first guard: the working tree must be clean (a release is built from a
// commit, not from whatever lies around), and every check must pass. It records the
// commit in the Context.
type Tree struct {
	Checks []Check
	// SkipChecks, when not empty, is why the checks are not run this time; only a dry
	// run may skip them, and the step's outcome says so.
	SkipChecks string
}

var _ pipeline.Step = Tree{}

// Name implements pipeline.Step.
func (Tree) Name() string { return "guard" }

// maxListed bounds how many dirty paths the refusal quotes.
const maxListed = 10

// Run implements pipeline.Step.
func (g Tree) Run(ctx context.Context, c *pipeline.Context) (pipeline.Result, error) {
	status, err := pipeline.Git(ctx, c.RepoDir, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return nil, err
	}
	if dirty := strings.Split(strings.TrimRight(status, "\n"), "\n"); status != "" {
		listed := dirty
		if len(listed) > maxListed {
			listed = append(listed[:maxListed:maxListed], fmt.Sprintf("… and %d more", len(dirty)-maxListed))
		}
		return nil, fmt.Errorf("refusing to release from a dirty working tree (%d changed or untracked paths: %s); commit or remove them first",
			len(dirty), strings.Join(trimEach(listed), ", "))
	}
	head, err := pipeline.Git(ctx, c.RepoDir, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	c.Commit = strings.TrimSpace(head)
	detail := fmt.Sprintf("clean tree at %.12s", c.Commit)

	if g.SkipChecks != "" {
		if c.Publish {
			return nil, fmt.Errorf("refusing to publish without the checks (%s)", g.SkipChecks)
		}
		return pipeline.Done{Detail: detail + "; checks not run: " + g.SkipChecks}, nil
	}
	var passed []string
	for _, check := range g.Checks {
		if check.Run == nil {
			return nil, fmt.Errorf("check %q has nothing to run", check.Name)
		}
		c.Printf("guard: running %s\n", check.Name)
		if err := check.Run(ctx); err != nil {
			return nil, &CheckError{Check: check.Name, Err: err}
		}
		passed = append(passed, check.Name)
	}
	if len(passed) > 0 {
		detail += "; passed " + strings.Join(passed, ", ")
	} else {
		detail += "; no checks configured"
	}
	return pipeline.Done{Detail: detail}, nil
}

func trimEach(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimSpace(l)
	}
	return out
}

// CheckError is a failed check; it names the check.
type CheckError struct {
	Check string
	Err   error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("refusing to release: %s failed: %v", e.Check, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// FailedCheck returns the name of the check an error came from, or "".
func FailedCheck(err error) string {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Check
	}
	return ""
}
