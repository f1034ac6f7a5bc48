// Package pipeline runs a release as an ordered list of small steps that share one
// Context. Each step lives in its own package under release/steps and is tested there;
// this package only holds what they share and the runner that reports on them.
package pipeline

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/distro-io/distro/release/github"
	"github.com/distro-io/distro/release/upstream"
	releaseversion "github.com/distro-io/distro/release/version"
)

// Context is what steps share. It is deliberately small: settings fixed before the
// run, and the few results later steps consume (version, artifacts, notes).
type Context struct {
	// RepoDir is the distro repository; DistDir is where artifacts go (usually RepoDir/dist).
	RepoDir, DistDir string
	Lock             *upstream.Lock

	// Version is the release being made; the zero value until the version step sets it
	// (or the caller gives it).
	Version releaseversion.Version
	// Commit is the commit the release is built from and tagged at, recorded by the
	// guard while the tree is known to be clean.
	Commit string

	// Artifacts are the files the release publishes, in upload order.
	Artifacts []Artifact
	// Notes is the release notes in Markdown.
	Notes string

	// Publish turns the dry run (the default) into a real release: CHANGELOG.md is
	// committed and the release is created on GitHub through Publisher.
	Publish bool
	// Publisher talks to GitHub. It may be nil in a dry run; a publishing run needs it.
	Publisher github.Publisher

	// Out receives what steps have to say beyond their one-line outcome.
	Out io.Writer
}

// Artifact is one file of the release.
type Artifact struct {
	Name string // the asset name on the release, e.g. "sha256sum-amd64.txt"
	Path string // where the file is on disk
}

// Add appends an artifact, replacing one of the same name so a step run twice does not
// list its file twice.
func (c *Context) Add(a Artifact) {
	for i := range c.Artifacts {
		if c.Artifacts[i].Name == a.Name {
			c.Artifacts[i] = a
			return
		}
	}
	c.Artifacts = append(c.Artifacts, a)
}

// Printf writes to Out, or nowhere if Out is nil.
func (c *Context) Printf(format string, args ...any) {
	if c.Out != nil {
		fmt.Fprintf(c.Out, format, args...)
	}
}

// HasVersion reports whether the version is known yet.
func (c *Context) HasVersion() bool { return c.Version != releaseversion.Version{} }

// Result is what a step that did not fail reports: Done or Skipped.
type Result interface {
	// Outcome returns "ok" or "skipped" and the detail or reason.
	Outcome() (status, text string)
}

// Done is a step that did its job; Detail says what it made, in a few words.
type Done struct{ Detail string }

// Skipped is a step that had nothing to do; Reason says why, so a skip is never silent.
type Skipped struct{ Reason string }

// Outcome implements Result.
func (d Done) Outcome() (string, string) { return "ok", d.Detail }

// Outcome implements Result.
func (s Skipped) Outcome() (string, string) { return "skipped", s.Reason }

// Step is one part of a release.
type Step interface {
	Name() string
	Run(ctx context.Context, c *Context) (Result, error)
}

// StepFunc makes a Step of a name and a function.
func StepFunc(name string, run func(ctx context.Context, c *Context) (Result, error)) Step {
	return stepFunc{name, run}
}

type stepFunc struct {
	name string
	run  func(context.Context, *Context) (Result, error)
}

func (s stepFunc) Name() string                                        { return s.name }
func (s stepFunc) Run(ctx context.Context, c *Context) (Result, error) { return s.run(ctx, c) }

// StepError is the error of a failed run; it names the step.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("release step %s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Run runs the steps in order, printing one line per step with its outcome and time to
// report (c.Out when report is nil), and stops at the first failure.
func Run(ctx context.Context, c *Context, steps []Step, report io.Writer) error {
	if report == nil {
		report = c.Out
	}
	if report == nil {
		report = io.Discard
	}
	width := 0
	for _, s := range steps {
		width = max(width, len(s.Name()))
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return &StepError{Step: s.Name(), Err: err}
		}
		start := time.Now()
		res, err := s.Run(ctx, c)
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			fmt.Fprintf(report, "%-*s  FAILED   %8s  %v\n", width, s.Name(), took, err)
			return &StepError{Step: s.Name(), Err: err}
		}
		if res == nil {
			res = Done{}
		}
		status, text := res.Outcome()
		fmt.Fprintf(report, "%-*s  %-7s  %8s  %s\n", width, s.Name(), status, took, text)
	}
	return nil
}
