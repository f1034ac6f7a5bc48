package hosted

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// blockingCommand runs until its context ends, like an upstream component.
func blockingCommand(started chan<- string) func() *cobra.Command {
	return func() *cobra.Command {
		var name string
		cmd := &cobra.Command{
			Use: "blocking",
			RunE: func(cmd *cobra.Command, _ []string) error {
				started <- name
				<-cmd.Context().Done()
				return nil
			},
		}
		cmd.Flags().StringVar(&name, "name", "", "")
		return cmd
	}
}

func TestStartRunsCommandWithArgsAndStopEndsIt(t *testing.T) {
	started := make(chan string, 1)
	c := New("blocking", blockingCommand(started), []string{"--name=x"}, nil)
	ctx := context.Background()
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	startCtx, cancelStart := context.WithCancel(ctx)
	if err := c.Start(startCtx); err != nil {
		t.Fatal(err)
	}
	cancelStart() // the start context bounds the start only, not the component's life
	if got := <-started; got != "x" {
		t.Errorf("command ran with --name=%q, want x", got)
	}
	if err := c.Ready(ctx); err != nil {
		t.Errorf("Ready while running: %v", err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestCommandExitingOnItsOwnIsReported(t *testing.T) {
	reported := make(chan error, 1)
	c := New("quitter", func() *cobra.Command {
		return &cobra.Command{Use: "quitter", RunE: func(*cobra.Command, []string) error { return errors.New("boom") }}
	}, nil, nil)
	c.ReportFailuresTo(func(err error) { reported <- err })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := <-reported
	if !strings.Contains(err.Error(), "quitter") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("reported %v, want the component's name and its error", err)
	}
	if err := c.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Ready after exit = %v, want the exit error", err)
	}
}

func TestInitRefusesUnknownFlagNamingComponent(t *testing.T) {
	c := New("blocking", blockingCommand(make(chan string, 1)), []string{"--no-such-flag"}, nil)
	err := c.Init(context.Background())
	if err == nil || !strings.Contains(err.Error(), "blocking") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("Init = %v, want an error naming the component and the flag", err)
	}
}

func TestReadyUsesCheck(t *testing.T) {
	c := New("blocking", blockingCommand(make(chan string, 1)), nil, func(context.Context) error { return errors.New("not yet") })
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	if err := c.Ready(context.Background()); err == nil || err.Error() != "not yet" {
		t.Errorf("Ready = %v, want the check's error", err)
	}
}
