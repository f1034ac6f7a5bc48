package controlplane

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"

	"github.com/distro-io/distro/distro/component"
	"github.com/distro-io/distro/distro/hosted"
)

// Components returns the apiserver, controller-manager and scheduler, in start order.
// adminKubeconfig is used to ask the apiserver whether it is ready.
func (c *Config) Components(adminKubeconfig string) ([]component.Component, error) {
	apiArgs, err := c.APIServerArgs()
	if err != nil {
		return nil, err
	}
	cmArgs, err := c.ControllerManagerArgs()
	if err != nil {
		return nil, err
	}
	schedArgs, err := c.SchedulerArgs()
	if err != nil {
		return nil, err
	}
	return []component.Component{
		hosted.New("kube-apiserver", apiserver.NewAPIServerCommand, apiArgs, apiserverReady(adminKubeconfig)),
		hosted.New("kube-controller-manager", controllermanager.NewControllerManagerCommand, cmArgs,
			healthz(cmArgs, ControllerManagerPort)),
		hosted.New("kube-scheduler", func() *cobra.Command { return scheduler.NewSchedulerCommand() }, schedArgs,
			healthz(schedArgs, SchedulerPort)),
	}, nil
}

// healthz checks a component's loopback /healthz on its secure port after extra arguments had
// their say, so --extra-controller-manager-arg=secure-port=N moves the check along with it.
func healthz(args []string, fallback int) func(context.Context) error {
	port := hosted.FlagValue(args, "secure-port", strconv.Itoa(fallback))
	return hosted.Healthz("https://127.0.0.1:" + port + "/healthz")
}

// apiserverReady asks /readyz as the admin: ready means every readiness check passed,
// the datastore and the post-start hooks included.
func apiserverReady(kubeconfig string) func(context.Context) error {
	var client rest.Interface
	return func(ctx context.Context) error {
		if client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			cfg.Timeout = 5 * time.Second
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			client = cs.Discovery().RESTClient()
		}
		body, err := client.Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("/readyz: %w: %s", err, body)
		}
		return nil
	}
}
