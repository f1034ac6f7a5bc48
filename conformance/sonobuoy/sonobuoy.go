// Package sonobuoy drives a certified conformance run through the Sonobuoy CLI (built from its
// locked module, see conformance/binaries): it starts the run with the e2e plugin only and the
// images built here, follows the plugin's log for progress, retrieves the results tarball,
// takes e2e.log and junit_01.xml out of it, and deletes the run.
package sonobuoy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/distro-io/distro/conformance/suite"
)

// Mode is Sonobuoy's e2e mode for a certified run: every [Conformance] test, serially.
const Mode = "certified-conformance"

// The files of the e2e plugin's results in Sonobuoy's tarball.
const (
	tarballLog   = "plugins/e2e/results/global/e2e.log"
	tarballJUnit = "plugins/e2e/results/global/junit_01.xml"
)

// Options say what to run and where the results go.
type Options struct {
	// Binary is the sonobuoy CLI; Kubeconfig reaches the cluster as its admin.
	Binary, Kubeconfig string
	// SonobuoyImage runs the aggregator and the workers; ConformanceImage runs the suite. The
	// nodes must hold both: nothing is pulled (IfNotPresent).
	SonobuoyImage, ConformanceImage string
	// RepoList is the KUBE_TEST_REPO_LIST file naming the test images.
	RepoList string
	// Tests are the tests the run selects, for progress; Focus, when set, narrows the run to a
	// regexp of test names instead of the mode's [Conformance].
	Tests []suite.Test
	Focus string
	// Namespace is Sonobuoy's; "sonobuoy" when empty.
	Namespace string
	// ResultsDir receives the tarball, e2e.log and junit_01.xml.
	ResultsDir string
	// Timeout bounds the whole run (Sonobuoy's aggregator timeout); 0 means 4 hours.
	Timeout time.Duration
	// Poll is how often the run's status is read; 0 means 15 s.
	Poll time.Duration
	// Progress receives the run's progress as the plugin's log tells it; nil ignores it.
	Progress func(suite.Progress)
	// Log receives lines about the run's phases.
	Log func(format string, args ...any)
}

// Result is a finished run: the tests' outcomes from the junit report and the files written.
type Result struct {
	*suite.Result
	Tarball string
	// Status is Sonobuoy's last status of the run (complete, failed).
	Status string
}

// Run runs the suite through Sonobuoy and waits for it. err is set when the run could not be
// made or its results not read, not for failed tests (those are in Result.Failed).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Binary == "" || o.Kubeconfig == "" || o.SonobuoyImage == "" || o.ConformanceImage == "" || o.ResultsDir == "" {
		return nil, errors.New("sonobuoy: the binary, kubeconfig, both images and a results dir are all needed")
	}
	if o.Namespace == "" {
		o.Namespace = "sonobuoy"
	}
	if o.Timeout == 0 {
		o.Timeout = 4 * time.Hour
	}
	if o.Poll == 0 {
		o.Poll = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if err := os.MkdirAll(o.ResultsDir, 0o755); err != nil {
		return nil, err
	}
	// A run left behind (an interrupted one) would make `sonobuoy run` refuse.
	if out, err := o.cli(ctx, "delete", "--all", "--wait=10"); err != nil {
		return nil, fmt.Errorf("clearing an earlier run: %w\n%s", err, out)
	}
	start := time.Now()
	o.Log("sonobuoy %s: starting the e2e plugin (%s)", Mode, o.ConformanceImage)
	if out, err := o.cli(ctx, RunArgs(o)...); err != nil {
		return nil, fmt.Errorf("sonobuoy run: %w\n%s", err, out)
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Timeout+10*time.Minute)
	defer cancel()

	tr := suite.NewTracker(o.Tests, o.Progress)
	defer tr.Stop()
	follow := make(chan error, 1)
	go func() { follow <- o.followLog(runCtx, tr) }()

	status, err := o.wait(runCtx)
	if err != nil {
		return nil, err
	}
	o.Log("sonobuoy: the run is %s after %s; retrieving the results", status, time.Since(start).Round(time.Second))
	res := &Result{Status: status}
	res.Tarball, err = o.retrieve(ctx)
	if err != nil {
		return nil, err
	}
	res.Result, err = extract(res.Tarball, o.ResultsDir, o.Tests)
	if err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	cancel()
	<-follow
	if out, err := o.cli(ctx, "delete", "--all", "--wait=10"); err != nil {
		o.Log("sonobuoy delete: %v\n%s", err, out)
	}
	return res, nil
}

// RunArgs is `sonobuoy run`'s command line: the e2e plugin alone in certified-conformance
// mode, the images built here never pulled, the test images named by the repo list.
func RunArgs(o Options) []string {
	args := []string{"run"}
	if o.Focus == "" {
		args = append(args, "--mode="+Mode)
	} else {
		// Sonobuoy refuses a mode with a focus: the focus alone, the mode's serial run kept.
		args = append(args, "--e2e-focus="+o.Focus, "--e2e-parallel=false")
	}
	args = append(args,
		"--plugin=e2e",
		"--sonobuoy-image="+o.SonobuoyImage,
		"--kube-conformance-image="+o.ConformanceImage,
		"--image-pull-policy=IfNotPresent",
		"--timeout="+strconv.Itoa(int(o.Timeout/time.Second)),
		// Sonobuoy's own default for the suite's progress reports to the worker beside it.
		"--plugin-env=e2e.E2E_EXTRA_ARGS=--progress-report-url=http://localhost:8099/progress",
		// Verbose ginkgo output names each test as it starts: the progress here is read from it.
		"--plugin-env=e2e.E2E_EXTRA_GINKGO_ARGS=-v",
	)
	if o.RepoList != "" {
		args = append(args, "--e2e-repo-config="+o.RepoList)
	}
	return args
}

// cli runs the sonobuoy CLI against the cluster.
func (o Options) cli(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--kubeconfig="+o.Kubeconfig, "--namespace="+o.Namespace)
	cmd := exec.CommandContext(ctx, o.Binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// status is the part of `sonobuoy status --json` read here.
type status struct {
	Status  string `json:"status"`
	Plugins []struct {
		Plugin       string `json:"plugin"`
		Status       string `json:"status"`
		ResultStatus string `json:"result-status"`
	} `json:"plugins"`
}

// wait polls the run's status until it is complete or failed. A status that cannot be read
// (the aggregator starting, a moment of apiserver load) is retried for up to ten minutes.
func (o Options) wait(ctx context.Context) (string, error) {
	var lastErr error
	var since time.Time
	last := ""
	for {
		out, err := o.cli(ctx, "status", "--json")
		var st status
		if err == nil {
			err = json.Unmarshal(bytes.TrimSpace(lastLine(out)), &st)
		}
		if err != nil {
			if since.IsZero() {
				since = time.Now()
			}
			lastErr = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
			if time.Since(since) > 10*time.Minute {
				return "", fmt.Errorf("sonobuoy status: %w", lastErr)
			}
		} else {
			since = time.Time{}
			if st.Status != last {
				o.Log("sonobuoy: %s", st.Status)
				last = st.Status
			}
			switch st.Status {
			case "complete", "failed":
				return st.Status, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("sonobuoy: the run did not finish in time (last status %q): %w", last, ctx.Err())
		case <-time.After(o.Poll):
		}
	}
}

// lastLine is the last non-empty line: sonobuoy may log warnings before its JSON.
func lastLine(out []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	return lines[len(lines)-1]
}

// followLog feeds the e2e container's log to the tracker until ctx ends, reconnecting when
// the stream breaks (the pod not started yet, an apiserver restart).
func (o Options) followLog(ctx context.Context, tr *suite.Tracker) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var sinceTime *metav1.Time
	for ctx.Err() == nil {
		pods, err := cs.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "sonobuoy-plugin=e2e"})
		if err == nil && len(pods.Items) > 0 && pods.Items[0].Status.Phase != corev1.PodPending {
			req := cs.CoreV1().Pods(o.Namespace).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{Container: "e2e", Follow: true, SinceTime: sinceTime})
			if stream, err := req.Stream(ctx); err == nil {
				sc := bufio.NewScanner(stream)
				sc.Buffer(make([]byte, 1<<20), 16<<20)
				for sc.Scan() {
					tr.Line(sc.Text())
				}
				stream.Close()
				now := metav1.Now()
				sinceTime = &now
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	return nil
}

// retrieve copies the results tarball out of the aggregator into the results dir.
func (o Options) retrieve(ctx context.Context) (string, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		out, err := o.cli(ctx, "retrieve", o.ResultsDir)
		if err == nil {
			p := strings.TrimSpace(string(lastLine(out)))
			if !filepath.IsAbs(p) {
				p = filepath.Join(o.ResultsDir, filepath.Base(p))
			}
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			lastErr = fmt.Errorf("sonobuoy retrieve said %q, which is not a file", p)
		} else {
			lastErr = fmt.Errorf("sonobuoy retrieve: %w\n%s", err, out)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
	return "", lastErr
}

// extract writes the e2e plugin's log and junit report out of the tarball into dir and reads
// the tests' outcomes from the report.
func extract(tarball, dir string, tests []suite.Test) (*suite.Result, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tarball, err)
	}
	want := map[string]string{tarballLog: "e2e.log", tarballJUnit: "junit_01.xml"}
	found := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tarball, err)
		}
		name, ok := want[strings.TrimPrefix(h.Name, "./")]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		out := filepath.Join(dir, name)
		w, err := os.Create(out)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(w, tr)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		found[name] = out
	}
	for _, name := range want {
		if found[name] == "" {
			return nil, fmt.Errorf("%s holds no %s: the e2e plugin left no results (see the tarball's plugins/e2e)", tarball, name)
		}
	}
	res, err := suite.ReadJUnit(found["junit_01.xml"], tests)
	if err != nil {
		return nil, err
	}
	res.Log = found["e2e.log"]
	return res, nil
}
