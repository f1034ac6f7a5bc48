package multicall

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/distro-io/distro/distro/agent/cleanup"
	"github.com/distro-io/distro/distro/version"
)

func init() {
	Register(Program{Name: "killall", Usage: "stop the node's containers and containerd, and remove its mounts, links, iptables rules and cgroups", Run: runKillall})
}

func runKillall(args []string) int {
	fs := pflag.NewFlagSet(version.Program+" killall", pflag.ContinueOnError)
	dataDir := fs.StringP("data-dir", "d", version.DataDir, "the node's data dir")
	cgroupRoot := fs.String("cgroup-root", "/", "the kubelet's cgroup root, when --kubelet-arg=cgroup-root=… was given")
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s killall: %v\n", version.Program, err)
		return 2
	}
	if !filepath.IsAbs(*dataDir) {
		fmt.Fprintf(os.Stderr, "%s killall: data-dir %q: must be an absolute path\n", version.Program, *dataDir)
		return 2
	}
	err := cleanup.Run(cleanup.Options{DataDir: *dataDir, CgroupRoot: *cgroupRoot, Log: func(f string, a ...any) {
		fmt.Printf(f+"\n", a...)
	}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s killall: %v\n", version.Program, err)
		return 1
	}
	return 0
}
