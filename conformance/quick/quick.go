// Package quick runs a focused set of conformance tests (conformance/quick.txt) against a
// cluster of this machine: one it brings up with localcluster (a server and two agents, each
// importing the airgap archive and the conformance image archives) and takes down afterwards,
// or the one $KUBECONFIG reaches. `mage conformance:quick` drives it.
package quick

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/distro-io/distro/conformance/suite"
	"github.com/distro-io/distro/distro/localcluster"
	"github.com/distro-io/distro/distro/version"
)

// The cluster quick brings up: its own name, subnet and dir, apart from cluster:up's and the
// e2e tests', so they can run side by side.
const (
	ClusterName   = "conf"
	ClusterSubnet = "10.212.0.0/24"
	ClusterDir    = "/var/lib/" + version.Program + "-conf"
	// Agents: the suite needs two schedulable, untainted nodes besides the server.
	Agents = 2
)

// FocusFile is the quick set's focus list, relative to the module root.
const FocusFile = "conformance/quick.txt"

// Options are the inputs of Run.
type Options struct {
	// Binary is dist/distro; Images are the archives every node imports (the airgap archive
	// and the conformance images).
	Binary string
	Images []string
	// Kubeconfig, when set, is an existing cluster to test: nothing is brought up or down.
	Kubeconfig string
	// ClusterDir holds the cluster brought up; empty means ClusterDir.
	ClusterDir string
	// Keep leaves the cluster up after the run.
	Keep bool
	// Suite is what to run; its Kubeconfig is filled in here.
	Suite suite.Options
	// Log receives progress lines.
	Log func(format string, args ...any)
}

// Run brings the cluster up (unless Kubeconfig is given), runs the suite, copies the nodes' logs
// into the results dir, and takes the cluster down. It returns an error listing the failed
// tests when any failed.
func Run(ctx context.Context, o Options) (res *suite.Result, err error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.ClusterDir == "" {
		o.ClusterDir = ClusterDir
	}
	kubeconfig := o.Kubeconfig
	if kubeconfig == "" {
		start := time.Now()
		o.Log("bringing up %d nodes in %s (%s)", Agents+1, o.ClusterDir, ClusterSubnet)
		c, err := localcluster.Up(ctx, localcluster.Options{
			Name:   ClusterName,
			Binary: o.Binary,
			Dir:    o.ClusterDir,
			Agents: Agents,
			Subnet: ClusterSubnet,
			Images: o.Images,
			Log:    o.Log,
		})
		if err != nil {
			return nil, fmt.Errorf("bringing the cluster up: %w", err)
		}
		o.Log("cluster up in %s", time.Since(start).Round(time.Second))
		kubeconfig = c.Kubeconfig
		defer func() {
			if cerr := copyNodeLogs(o.ClusterDir, filepath.Join(o.Suite.ResultsDir, "nodes")); cerr != nil {
				o.Log("copying the node logs: %v", cerr)
			}
			if o.Keep {
				o.Log("cluster left up: export KUBECONFIG=%s", kubeconfig)
				return
			}
			if derr := localcluster.Down(o.ClusterDir, o.Log); derr != nil {
				err = errors.Join(err, fmt.Errorf("taking the cluster down: %w", derr))
			}
		}()
	}
	o.Suite.Kubeconfig = kubeconfig
	userProgress := o.Suite.Progress
	o.Suite.Progress = func(p suite.Progress) {
		if userProgress != nil {
			userProgress(p)
		}
	}
	res, err = suite.Run(ctx, o.Suite)
	if err != nil {
		return res, err
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("%d of %d tests failed:\n  %s", len(res.Failed), len(o.Suite.Tests), strings.Join(res.Failed, "\n  "))
	}
	return res, nil
}

// copyNodeLogs copies each node's log (<dir>/<node>.log) and its containerd log into dst, so
// they outlive the cluster.
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
