package multicall

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/distro-io/distro/distro/agent"
	"github.com/distro-io/distro/distro/config"
	"github.com/distro-io/distro/distro/version"
)

func init() {
	Register(Program{Name: "agent", Usage: "run a node that joins a server with a token", Run: runAgent})
}

func runAgent(args []string) int {
	opts := agent.NewOptions()
	cmd := &cobra.Command{
		Use:           version.Program + " agent --server https://HOST:6443 --token TOKEN",
		Short:         "Run a node: containerd, the kubelet, the pod network and kube-proxy",
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
			return agent.Run(ctx, cfg)
		},
	}
	opts.AddFlags(cmd.Flags())
	config.AddConfigFlag(cmd.Flags())
	cmd.SetArgs(args[1:])
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s agent: %v\n", version.Program, err)
		return 1
	}
	return 0
}
