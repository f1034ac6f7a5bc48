package multicall

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
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

// daemonGCPercent is the GOGC a daemon runs with unless GOGC is set. An idle node keeps about
// 115 MB of live heap; Go's default of 100 lets the heap reach twice that before collecting,
// and 50 keeps it at one and a half times for about 50 MiB less resident memory, at the cost
// of more frequent, short collections.
const daemonGCPercent = 50

// applyDaemonGCPercent sets daemonGCPercent for this process and, through the environment,
// for the children it starts (containerd and its shims), leaving an explicit GOGC alone.
func applyDaemonGCPercent() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(daemonGCPercent)
	os.Setenv("GOGC", strconv.Itoa(daemonGCPercent))
}

func (d daemon) run(args []string) int {
	applyDaemonGCPercent()
	cmd := d.command()
	cmd.SetArgs(args[1:])
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", version.Program, d.name, err)
		return 1
	}
	return 0
}
