package multicall

import (
	"context"

	"github.com/distro-io/distro/distro/agent"
	"github.com/distro-io/distro/distro/version"
)

func init() {
	Register(Program{Name: "agent", Usage: "run a node that joins a server with a token", Run: func(args []string) int {
		return agentDaemon().run(args)
	}})
}

func agentDaemon() daemon {
	opts := agent.NewOptions()
	return daemon{
		name: "agent", use: version.Program + " agent --server https://HOST:6443 --token TOKEN",
		short:    "Run a node: containerd, the kubelet, the pod network and kube-proxy",
		addFlags: opts.AddFlags,
		prepare: func() (func(context.Context) error, error) {
			if err := opts.Validate(); err != nil {
				return nil, err
			}
			cfg, err := opts.Complete()
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { return agent.Run(ctx, cfg) }, nil
		},
	}
}
