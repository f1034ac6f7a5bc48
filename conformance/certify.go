package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/distro-io/distro/conformance/binaries"
	"github.com/distro-io/distro/conformance/cluster"
	"github.com/distro-io/distro/conformance/results"
	"github.com/distro-io/distro/conformance/sonobuoy"
	"github.com/distro-io/distro/conformance/suite"
)

// CertifyOptions are the inputs of a certified run.
type CertifyOptions struct {
	// Cluster is the cluster to test (its LogsDir is set to WorkDir/nodes here). Its Images
	// must hold every conformance image archive, Sonobuoy's and the conformance image's too.
	Cluster cluster.Options
	// Focus, when set, narrows the run to the tests it matches (a regexp): no submission.
	Focus string
	// WorkDir receives the Sonobuoy tarball, e2e.log, junit_01.xml and the nodes' logs; it is
	// emptied first.
	WorkDir string
	// ResultsRoot holds the submission folders (conformance/results); Version names the one
	// written (the distro version tested).
	ResultsRoot, Version string
	// Progress receives the run's progress.
	Progress func(suite.Progress)
}

// Certify runs every [Conformance] test of the locked release through Sonobuoy and, for a
// run without a focus, writes the submission folder ResultsRoot/Version. The error lists the
// failed tests when any failed; the result is returned whenever the run produced one.
func (w *Workspace) Certify(ctx context.Context, o CertifyOptions) (*sonobuoy.Result, error) {
	k8sDir, err := w.KubernetesDir(ctx)
	if err != nil {
		return nil, err
	}
	tests, err := suite.LoadConformance(k8sDir)
	if err != nil {
		return nil, err
	}
	if o.Focus != "" {
		if tests, err = suite.Matching(tests, o.Focus); err != nil {
			return nil, err
		}
	}
	bin, err := w.Binaries().Build(ctx, binaries.Sonobuoy)
	if err != nil {
		return nil, err
	}
	product, err := results.LoadProduct(filepath.Join(w.ModuleDir, results.ProductFile))
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(o.WorkDir); err != nil {
		return nil, err
	}
	refs := w.RunnerImages()
	o.Cluster.LogsDir = filepath.Join(o.WorkDir, "nodes")
	w.Log("conformance: %d tests with Sonobuoy %s, work dir %s", len(tests), binaries.SonobuoyVersion, o.WorkDir)
	var res *sonobuoy.Result
	var nodes int
	err = cluster.With(ctx, o.Cluster, func(kubeconfig string) error {
		var err error
		if nodes, err = countNodes(ctx, kubeconfig); err != nil {
			return err
		}
		res, err = sonobuoy.Run(ctx, sonobuoy.Options{
			Binary:           bin,
			Kubeconfig:       kubeconfig,
			SonobuoyImage:    refs.Sonobuoy,
			ConformanceImage: refs.Conformance,
			RepoList:         w.RepoListPath(),
			Tests:            tests,
			Focus:            o.Focus,
			ResultsDir:       o.WorkDir,
			Progress:         o.Progress,
			Log:              w.Log,
		})
		return err
	})
	if res == nil || res.Result == nil {
		return res, err
	}
	w.Log("%d passed, %d failed, %d skipped of %d in %s (Sonobuoy status %s); e2e.log and junit_01.xml in %s",
		len(res.Passed), len(res.Failed), len(res.Skipped), len(tests), res.Duration.Round(time.Second), res.Status, o.WorkDir)
	if o.Focus == "" {
		dir := results.Dir(o.ResultsRoot, o.Version)
		werr := results.Write(dir, results.Run{
			Product: product, Version: o.Version, KubernetesVersion: w.Lock.Kubernetes().Version,
			SonobuoyVersion: binaries.SonobuoyVersion, Log: res.Log, JUnit: res.JUnit, Nodes: nodes,
			Passed: len(res.Passed), Failed: len(res.Failed), Duration: res.Duration.Round(time.Second), Finished: time.Now(),
		})
		if werr != nil {
			return res, errors.Join(err, werr)
		}
		w.Log("submission folder: %s", dir)
	}
	if err != nil {
		return res, err
	}
	return res, suite.Outcome(res.Result, len(tests))
}

// countNodes is how many nodes the cluster has, for the submission's README.
func countNodes(ctx context.Context, kubeconfig string) (int, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return 0, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("listing the cluster's nodes: %w", err)
	}
	return len(nodes.Items), nil
}
