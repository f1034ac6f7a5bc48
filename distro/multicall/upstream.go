package multicall

import (
	"context"
	"fmt"
	"os"
	"time"

	containerd "github.com/containerd/containerd/v2/cmd/containerd/command"
	ctr "github.com/containerd/containerd/v2/cmd/ctr/app"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	"github.com/distro-io/distro/distro/codepages"

	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins" // containerd's plugins, CRI included
	_ "k8s.io/client-go/plugin/pkg/client/auth/oidc"                // the one client auth plugin kept: no cloud ones
	_ "k8s.io/component-base/logs/json/register"                    // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo"           // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"            // build info metric
	_ "time/tzdata"                                                 // CronJob time zones on hosts without zoneinfo
)

func init() {
	Register(Program{Name: "kubectl", Usage: "run kubectl against the cluster", Run: runKubectl})
	Register(Program{Name: "ctr", Usage: "run containerd's ctr client", Run: runCtr})
	Register(Program{Name: "containerd", Usage: "run containerd", Hidden: true, Run: runContainerd})

	// The upstream components, each as its own process with upstream's flags: the
	// reference layout that the in-process server is measured against.
	for name, newCommand := range map[string]func() *cobra.Command{
		"kube-apiserver":          apiserver.NewAPIServerCommand,
		"kube-controller-manager": controllermanager.NewControllerManagerCommand,
		"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
		"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
		"kube-proxy":              proxy.NewProxyCommand,
	} {
		Register(Program{Name: name, Hidden: true, Run: runCobra(newCommand)})
	}
}

func runCobra(newCommand func() *cobra.Command) func(args []string) int {
	return func(args []string) int {
		cmd := newCommand()
		cmd.SetArgs(args[1:])
		return cli.Run(cmd)
	}
}

func runKubectl(args []string) int {
	useAdminKubeconfig(args)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := kubectl.NewDefaultKubectlCommandWithArgs(kubectl.KubectlOptions{
		PluginHandler: kubectl.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
		Arguments:     args,
		ConfigFlags:   kubectlConfigFlags(streams),
		IOStreams:     streams,
	})
	cmd.SetArgs(args[1:])
	if err := cli.RunNoErrOutput(cmd); err != nil {
		kubectlutil.CheckErr(err)
	}
	return 0
}

func runCtr(args []string) int {
	if err := ctr.New().Run(context.Background(), args); err != nil {
		fmt.Fprintln(os.Stderr, "ctr:", err)
		return 1
	}
	return 0
}

// containerdStartup is how long containerd takes to start and import the airgap images, after
// which its start-up pages are dropped (see codepages).
const containerdStartup = time.Minute

func runContainerd(args []string) int {
	go codepages.DropAfter(context.Background(), containerdStartup, codepages.Log)
	if err := containerd.App().Run(context.Background(), args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		return 1
	}
	return 0
}
