package multicall

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/distro-io/distro/distro/config"
	"github.com/distro-io/distro/distro/server"
	"github.com/distro-io/distro/distro/version"
)

func init() {
	Register(Program{Name: "server", Usage: "run the control plane (kine, apiserver, controller-manager, scheduler)", Run: runServer})
}

func newServerCommand() *cobra.Command {
	opts := server.NewOptions()
	cmd := &cobra.Command{
		Use:           version.Program + " server",
		Short:         "Run the control plane in one process",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := (config.Loader{}).Load(cmd.Flags()); err != nil {
				return err
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			cfg, err := opts.Complete()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return server.Run(ctx, cfg)
		},
	}
	opts.AddFlags(cmd.Flags())
	config.AddConfigFlag(cmd.Flags())
	return cmd
}

func runServer(args []string) int {
	cmd := newServerCommand()
	cmd.SetArgs(args[1:])
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s server: %v\n", version.Program, err)
		return 1
	}
	return 0
}
