//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/distro-io/distro/conformance"
	"github.com/distro-io/distro/conformance/binaries"
	"github.com/distro-io/distro/conformance/cluster"
	"github.com/distro-io/distro/conformance/images"
	"github.com/distro-io/distro/conformance/quick"
	"github.com/distro-io/distro/conformance/suite"
	"github.com/distro-io/distro/release/build"
	stepimages "github.com/distro-io/distro/release/steps/images"
	"github.com/distro-io/distro/release/upstream"
)

// Conformance builds the conformance suite's images and binaries and runs it.
type Conformance mg.Namespace

// quickImageGroups are the image groups the quick set's tests use.
var quickImageGroups = []string{"agnhost", "busybox", "glibc-dns-testing", "nginx"}

func conformanceLog(f string, a ...any) { fmt.Printf(f+"\n", a...) }

// Images builds every image the [Conformance] tests use (DISTRO_CONFORMANCE_IMAGES=a,b limits
// it to those groups) as OCI archives under $HOME/.cache/distro/conformance/images, named as
// conformance/repo-list.yaml says; a group whose inputs did not change is not rebuilt.
func (Conformance) Images(ctx context.Context) error {
	mg.CtxDeps(ctx, Patches.Apply)
	var groups []string
	if s := os.Getenv("DISTRO_CONFORMANCE_IMAGES"); s != "" {
		groups = strings.Split(s, ",")
	}
	_, err := conformanceImages(ctx, groups)
	return err
}

func conformanceImages(ctx context.Context, groups []string) ([]string, error) {
	w, err := conformance.Open(".", conformanceLog)
	if err != nil {
		return nil, err
	}
	opts, err := w.ImageOptions(ctx, groups)
	if err != nil {
		return nil, err
	}
	archives, err := images.Build(ctx, opts)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, a := range archives {
		state := "cached"
		if a.Built {
			state = "built in " + a.Duration.Round(time.Second).String()
		}
		fmt.Printf("%-18s %7.1f MiB  %s  %s\n", a.Group, float64(a.Size)/(1<<20), state, strings.Join(a.Refs, " "))
		paths = append(paths, a.Path)
	}
	return paths, nil
}

// Binaries builds e2e.test, ginkgo and kubectl from the locked, patched upstream into
// $HOME/.cache/distro/conformance/bin, by a hash of their inputs (e2e.test takes about half an
// hour of CPU cold; unchanged inputs are never rebuilt).
func (Conformance) Binaries(ctx context.Context) error {
	mg.CtxDeps(ctx, Patches.Apply)
	w, err := conformance.Open(".", conformanceLog)
	if err != nil {
		return err
	}
	for _, bin := range []binaries.Binary{binaries.E2ETest, binaries.Ginkgo, binaries.Kubectl} {
		p, err := w.Binaries().Build(ctx, bin)
		if err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}

// Quick runs the focused conformance set of conformance/quick.txt: it builds dist/distro, the
// airgap images, the images and binaries the set needs, brings up a server and two agents
// (localcluster "conf", 10.212.0.0/24, /var/lib/distro-conf) unless $KUBECONFIG names a
// cluster (payload compressed fast unless DISTRO_PAYLOAD_COMPRESSION says otherwise), prints progress while e2e.test runs, writes e2e.log, junit_01.xml and the nodes'
// logs under build/conformance/quick (DISTRO_CONFORMANCE_RESULTS overrides it), takes the
// cluster down (DISTRO_CONFORMANCE_KEEP=1 keeps it) and fails listing any failed test.
func (Conformance) Quick(ctx context.Context) error {
	kubeconfig := prepareConformanceCluster(ctx)
	start := time.Now()
	w, err := conformance.Open(".", conformanceLog)
	if err != nil {
		return err
	}
	tests, err := suite.LoadFocus(quick.FocusFile)
	if err != nil {
		return err
	}
	archives, err := conformanceImages(ctx, quickImageGroups)
	if err != nil {
		return err
	}
	e2e, err := w.Binaries().Build(ctx, binaries.E2ETest)
	if err != nil {
		return err
	}
	kubectl, err := w.Binaries().Build(ctx, binaries.Kubectl)
	if err != nil {
		return err
	}
	results := os.Getenv("DISTRO_CONFORMANCE_RESULTS")
	if results == "" {
		results = filepath.Join("build", "conformance", "quick")
	}
	results, _ = filepath.Abs(results)
	os.RemoveAll(results)
	if kubeconfig != "" {
		// Nothing pulls them: the cluster's nodes must have imported them already.
		fmt.Printf("testing the cluster of %s: its nodes must hold the images of %s\n", kubeconfig, strings.Join(archives, " "))
	}
	fmt.Printf("quick conformance: %d tests, results in %s (prepared in %s)\n", len(tests), results, time.Since(start).Round(time.Second))
	res, err := quick.Run(ctx, quick.Options{
		Cluster: conformanceCluster(kubeconfig, archives),
		Suite: suite.Options{
			E2ETest:    e2e,
			Kubectl:    kubectl,
			Tests:      tests,
			RepoList:   w.RepoListPath(),
			ResultsDir: results,
			Timeout:    30 * time.Minute,
			Progress:   func(p suite.Progress) { fmt.Println(p) },
		},
	})
	if res != nil {
		fmt.Printf("%d passed, %d failed, %d skipped of %d in %s (suite %s); e2e.log and junit_01.xml in %s\n",
			len(res.Passed), len(res.Failed), len(res.Skipped), len(tests), time.Since(start).Round(time.Second), res.Duration.Round(time.Second), results)
	}
	return err
}

// Run runs the certified conformance suite with Sonobuoy (also `mage conformance`): it builds
// dist/distro, the airgap images, every conformance image (Sonobuoy's and the conformance
// image among them) and the sonobuoy CLI, brings up a server and two agents (or tests the
// cluster $KUBECONFIG reaches), runs Sonobuoy in certified-conformance mode with the e2e plugin,
// prints progress, and writes conformance/results/<version>/ (PRODUCT.yaml, README.md, e2e.log,
// junit_01.xml). It fails listing any failed test.
//
// DISTRO_CONFORMANCE_FOCUS=<regexp> narrows the run to the [Conformance] tests it matches; such
// a run is no submission, so its results go to build/conformance/sonobuoy instead.
// DISTRO_CONFORMANCE_KEEP=1 leaves the cluster up.
func (Conformance) Run(ctx context.Context) error {
	kubeconfig := prepareConformanceCluster(ctx)
	w, err := conformance.Open(".", conformanceLog)
	if err != nil {
		return err
	}
	archives, err := conformanceImages(ctx, nil)
	if err != nil {
		return err
	}
	lock, err := upstream.Load(upstreamLock)
	if err != nil {
		return err
	}
	stamp, err := build.StampFor(ctx, ".", lock, os.Getenv("DISTRO_RELEASE_VERSION"))
	if err != nil {
		return err
	}
	work, err := filepath.Abs(filepath.Join("build", "conformance", "sonobuoy"))
	if err != nil {
		return err
	}
	_, err = w.Certify(ctx, conformance.CertifyOptions{
		Cluster:     conformanceCluster(kubeconfig, archives),
		Focus:       os.Getenv("DISTRO_CONFORMANCE_FOCUS"),
		WorkDir:     work,
		ResultsRoot: filepath.Join("conformance", "results"),
		Version:     stamp.Version,
		Progress:    func(p suite.Progress) { fmt.Println(p) },
	})
	return err
}

// prepareConformanceCluster applies the patches and returns $KUBECONFIG; without one it also
// builds dist/distro and the airgap images for the cluster a run brings up (the payload
// compressed fast: the cluster is this machine's, no release).
func prepareConformanceCluster(ctx context.Context) string {
	mg.CtxDeps(ctx, Patches.Apply)
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		if os.Getenv("DISTRO_PAYLOAD_COMPRESSION") == "" {
			os.Setenv("DISTRO_PAYLOAD_COMPRESSION", "fast")
		}
		mg.CtxDeps(ctx, Build, Images.Build)
	}
	return kubeconfig
}

// conformanceCluster is the cluster a run tests: kubeconfig's, or one of dist/distro whose
// nodes import the airgap archive and the conformance archives (DISTRO_CONFORMANCE_KEEP=1
// leaves it up).
func conformanceCluster(kubeconfig string, archives []string) cluster.Options {
	return cluster.Options{
		Binary:     distPath,
		Images:     append([]string{filepath.Join(filepath.Dir(distPath), stepimages.Archive)}, archives...),
		Kubeconfig: kubeconfig,
		Keep:       os.Getenv("DISTRO_CONFORMANCE_KEEP") == "1",
		Log:        conformanceLog,
	}
}
