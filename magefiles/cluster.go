//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/distro/localcluster"
	stepimages "github.com/distro-io/distro/release/steps/images"
)

// Cluster brings a multi-node cluster up on this machine, one network namespace per node.
type Cluster mg.Namespace

// Up builds dist/distro and the airgap images, then starts a server and AGENTS agents
// (`go tool mage cluster:up 2` gives three nodes), each in its own network namespace on the
// bridge distro0 (10.210.0.0/24), with state in /var/lib/distro-cluster (DISTRO_CLUSTER_DIR
// overrides it). DISTRO_CLUSTER_SERVERS=M starts M servers on the external datastore
// DISTRO_CLUSTER_DATASTORE (a --datastore-endpoint). It returns once every node is Ready and
// prints the kubeconfig to use.
func (Cluster) Up(ctx context.Context, agents int) error {
	servers := 1
	if v := os.Getenv("DISTRO_CLUSTER_SERVERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("DISTRO_CLUSTER_SERVERS=%q: expected a number of servers, 1 or more", v)
		}
		servers = n
	}
	mg.CtxDeps(ctx, Build, Images.Build)
	c, err := localcluster.Up(ctx, localcluster.Options{
		Binary:    distPath,
		Dir:       os.Getenv("DISTRO_CLUSTER_DIR"),
		Servers:   servers,
		Datastore: os.Getenv("DISTRO_CLUSTER_DATASTORE"),
		Agents:    agents,
		Images:    []string{filepath.Join(filepath.Dir(distPath), stepimages.Archive)},
		Log:       func(f string, a ...any) { fmt.Printf(f+"\n", a...) },
		KeepLogs:  os.Getenv("DISTRO_CLUSTER_KEEP_LOGS"),
	})
	if err != nil {
		return err
	}
	fmt.Printf("cluster up: %d nodes; export KUBECONFIG=%s\n", len(c.Nodes), c.Kubeconfig)
	return nil
}

// Down stops the cluster cluster:up started and removes its processes, containers, mounts,
// namespaces, links, cgroups and state.
func (Cluster) Down() error {
	return localcluster.Down(os.Getenv("DISTRO_CLUSTER_DIR"), func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
}
