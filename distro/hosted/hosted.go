// Package hosted runs an upstream component's command (kube-apiserver, kubelet, …)
// inside the distro process, as one component under the component manager.
//
// The command runs on a context of its own (cobra's ExecuteContext): the patched
// upstream commands stop when it is cancelled, instead of installing the process-wide
// signal handler (patches/k8s.io/apiserver, "let a host program own signal handling").
package hosted

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/distro-io/distro/distro/component"
)

func init() {
	// Every upstream command applies its logging flags; in one process the second one
	// would be refused. The components share one configuration, so unchanged re-applies are fine.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
}

// Command is a component that runs an upstream cobra command with the given arguments.
type Command struct {
	name       string
	newCommand func() *cobra.Command
	args       []string
	ready      func(ctx context.Context) error

	report func(error)
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

var (
	_ component.Component       = (*Command)(nil)
	_ component.Readier         = (*Command)(nil)
	_ component.FailureReporter = (*Command)(nil)
)

// New returns a component named name running newCommand() with args. ready, if not
// nil, tells when the component serves (for example its /readyz answering ok).
func New(name string, newCommand func() *cobra.Command, args []string, ready func(context.Context) error) *Command {
	return &Command{name: name, newCommand: newCommand, args: args, ready: ready}
}

func (c *Command) Name() string { return c.name }

// Args returns the command line the component runs with.
func (c *Command) Args() []string { return append([]string(nil), c.args...) }

func (c *Command) ReportFailuresTo(report func(error)) { c.report = report }

// Init parses the arguments once, so a bad flag is reported before anything starts.
func (c *Command) Init(context.Context) error {
	cmd := c.newCommand()
	if err := cmd.ParseFlags(c.args); err != nil {
		return fmt.Errorf("%s arguments %q: %w", c.name, c.args, err)
	}
	return nil
}

// Start runs the command in a goroutine on a context that only Stop cancels.
func (c *Command) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.done = make(chan struct{})
	cmd := c.newCommand()
	cmd.SetArgs(c.args)
	// Upstream commands print their usage on an error; the error itself is what counts.
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	go func() {
		defer close(c.done)
		err := cmd.ExecuteContext(runCtx)
		stopped := runCtx.Err() != nil
		c.mu.Lock()
		if !stopped {
			if err == nil {
				err = errors.New("exited")
			}
			c.err = err
		}
		c.mu.Unlock()
		if !stopped && c.report != nil {
			c.report(fmt.Errorf("%s stopped on its own: %w", c.name, err))
		}
	}()
	return nil
}

// Ready fails while the command has exited or its readiness check fails.
func (c *Command) Ready(ctx context.Context) error {
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Errorf("%s exited: %w", c.name, c.err)
	default:
	}
	if c.ready == nil {
		return nil
	}
	return c.ready(ctx)
}

// Stop cancels the command's context and waits for it to return, or for ctx.
func (c *Command) Stop(ctx context.Context) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s did not stop in time: %w", c.name, ctx.Err())
	}
}
