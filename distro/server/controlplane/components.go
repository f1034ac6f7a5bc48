package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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
			healthz(securePort(cmArgs, ControllerManagerPort))),
		hosted.New("kube-scheduler", func() *cobra.Command { return scheduler.NewSchedulerCommand() }, schedArgs,
			healthz(securePort(schedArgs, SchedulerPort))),
	}, nil
}

// securePort is the port a component serves on after extra arguments had their say, so
// --extra-controller-manager-arg=secure-port=N moves the health check along with it.
func securePort(args []string, fallback int) int {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--secure-port="); ok {
			if p, err := strconv.Atoi(v); err == nil {
				return p
			}
		}
	}
	return fallback
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

// healthz asks a loopback health endpoint; these serve a self-signed certificate and
// need no credentials for /healthz.
func healthz(port int) func(context.Context) error {
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
		}
		return nil
	}
}
