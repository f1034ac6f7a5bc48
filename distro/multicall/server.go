package multicall

import (
	"context"

	"github.com/distro-io/distro/distro/server"
	"github.com/distro-io/distro/distro/version"
)

func init() {
	Register(Program{Name: "server", Usage: "run the control plane (kine, apiserver, controller-manager, scheduler) and a node", Run: func(args []string) int {
		return serverDaemon().run(args)
	}})
}

func serverDaemon() daemon {
	opts := server.NewOptions()
	return daemon{
		name: "server", use: version.Program + " server", short: "Run the control plane and a node in one process",
		addFlags: opts.AddFlags,
		prepare: func() (func(context.Context) error, error) {
			if err := opts.Validate(); err != nil {
				return nil, err
			}
			cfg, err := opts.Complete()
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { return server.Run(ctx, cfg) }, nil
		},
	}
}
