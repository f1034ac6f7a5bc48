// Package quick runs a focused set of conformance tests (conformance/quick.txt) against the
// conformance cluster (see conformance/cluster): one brought up on this machine and taken down
// afterwards, or the one $KUBECONFIG reaches. `mage conformance:quick` drives it.
package quick

import (
	"context"
	"path/filepath"

	"github.com/distro-io/distro/conformance/cluster"
	"github.com/distro-io/distro/conformance/suite"
)

// FocusFile is the quick set's focus list, relative to the module root.
const FocusFile = "conformance/quick.txt"

// Options are the inputs of Run.
type Options struct {
	// Cluster is the cluster to test; its logs go to the results dir's nodes/.
	Cluster cluster.Options
	// Suite is what to run; its Kubeconfig is filled in here.
	Suite suite.Options
}

// Run runs the suite on the cluster. It returns an error listing the failed tests when any
// failed.
func Run(ctx context.Context, o Options) (res *suite.Result, err error) {
	if o.Cluster.LogsDir == "" {
		o.Cluster.LogsDir = filepath.Join(o.Suite.ResultsDir, "nodes")
	}
	err = cluster.With(ctx, o.Cluster, func(kubeconfig string) error {
		o.Suite.Kubeconfig = kubeconfig
		var err error
		res, err = suite.Run(ctx, o.Suite)
		if err != nil {
			return err
		}
		return suite.Outcome(res, len(o.Suite.Tests))
	})
	return res, err
}
