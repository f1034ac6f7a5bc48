package multicall

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/distro-io/distro/distro/config"
	"github.com/distro-io/distro/distro/version"
)

// daemon describes a long-running command (server, agent): options as flags, the config file
// and DISTRO_* variables, validated, completed, then run until SIGTERM or SIGINT.
type daemon struct {
	name, use, short string
	addFlags         func(*pflag.FlagSet)
	// prepare validates and completes the options and returns what runs the daemon.
	prepare func() (func(context.Context) error, error)
}

func (d daemon) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:           d.use,
		Short:         d.short,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := (config.Loader{}).Load(cmd.Flags()); err != nil {
				return err
			}
			run, err := d.prepare()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return run(ctx)
		},
	}
	d.addFlags(cmd.Flags())
	config.AddConfigFlag(cmd.Flags())
	return cmd
}

func (d daemon) run(args []string) int {
	cmd := d.command()
	cmd.SetArgs(args[1:])
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", version.Program, d.name, err)
		return 1
	}
	return 0
}
