package multicall

import (
	"os"
	"path/filepath"
	"strings"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/distro-io/distro/distro/version"
)

// AdminKubeconfig is where the server writes the cluster admin's kubeconfig.
var AdminKubeconfig = filepath.Join(version.ConfigDir, version.Program+".yaml")

// useAdminKubeconfig points kubectl at the admin kubeconfig when neither KUBECONFIG
// nor --kubeconfig chooses another and the file exists, as a user of the server expects.
func useAdminKubeconfig(args []string) {
	if os.Getenv("KUBECONFIG") != "" {
		return
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return
		}
	}
	if _, err := os.Stat(AdminKubeconfig); err == nil {
		os.Setenv("KUBECONFIG", AdminKubeconfig)
	}
}

func kubectlConfigFlags(streams genericiooptions.IOStreams) *genericclioptions.ConfigFlags {
	return genericclioptions.NewConfigFlags(true).
		WithDeprecatedPasswordFlag().
		WithDiscoveryBurst(300).
		WithDiscoveryQPS(50.0).
		WithWarningPrinter(streams)
}
