// Package cluster is the cluster a conformance run tests: one it brings up on this machine with
// localcluster (a server and two agents, each in its own network namespace, importing the
// airgap archive and the conformance image archives) and takes down afterwards, or the one
// $KUBECONFIG reaches.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distro-io/distro/distro/localcluster"
	"github.com/distro-io/distro/distro/version"
)

// The cluster brought up: its own name, subnet and dir, apart from cluster:up's and the e2e
// tests', so they can run side by side.
const (
	Name   = "conf"
	Subnet = "10.212.0.0/24"
	Dir    = "/var/lib/" + version.Program + "-conf"
	// Agents: the suite needs two schedulable, untainted nodes besides the server.
	Agents = 2
)

// Options say which cluster to test.
type Options struct {
	// Binary is dist/distro; Images are the archives every node imports.
	Binary string
	Images []string
	// Kubeconfig, when set, is an existing cluster to test: nothing is brought up or down.
	Kubeconfig string
	// Dir holds the cluster brought up; empty means Dir.
	Dir string
	// Keep leaves the cluster up afterwards.
	Keep bool
	// LogsDir receives the nodes' logs (and their containerd's) before the cluster goes.
	LogsDir string
	// Log receives progress lines.
	Log func(format string, args ...any)
}

// Nodes is how many nodes the cluster brought up has.
const Nodes = Agents + 1

// With brings the cluster up (unless Kubeconfig is given), calls run with its admin
// kubeconfig, copies the nodes' logs out and takes the cluster down.
func With(ctx context.Context, o Options, run func(kubeconfig string) error) (err error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Kubeconfig != "" {
		return run(o.Kubeconfig)
	}
	if o.Dir == "" {
		o.Dir = Dir
	}
	start := time.Now()
	o.Log("bringing up %d nodes in %s (%s)", Nodes, o.Dir, Subnet)
	c, err := localcluster.Up(ctx, localcluster.Options{
		Name:   Name,
		Binary: o.Binary,
		Dir:    o.Dir,
		Agents: Agents,
		Subnet: Subnet,
		Images: o.Images,
		Log:    o.Log,
	})
	if err != nil {
		return fmt.Errorf("bringing the cluster up: %w", err)
	}
	o.Log("cluster up in %s", time.Since(start).Round(time.Second))
	defer func() {
		if o.LogsDir != "" {
			if cerr := copyNodeLogs(o.Dir, o.LogsDir); cerr != nil {
				o.Log("copying the node logs: %v", cerr)
			}
		}
		if o.Keep {
			o.Log("cluster left up: export KUBECONFIG=%s", c.Kubeconfig)
			return
		}
		if derr := localcluster.Down(o.Dir, o.Log); derr != nil {
			err = errors.Join(err, fmt.Errorf("taking the cluster down: %w", derr))
		}
	}()
	return run(c.Kubeconfig)
}

// copyNodeLogs copies each node's log and its containerd's log out of the cluster dir (which
// Down removes), flattened into dst.
func copyNodeLogs(clusterDir, dst string) error {
	logs, _ := filepath.Glob(filepath.Join(clusterDir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(clusterDir, "*", "agent", "containerd", "containerd.log"))
	logs = append(logs, more...)
	slices.Sort(logs)
	if len(logs) == 0 {
		return nil
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, l := range logs {
		rel, _ := filepath.Rel(clusterDir, l)
		data, err := os.ReadFile(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, strings.ReplaceAll(rel, string(filepath.Separator), "_")), data, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
