package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options say what to run and where to put the results.
type Options struct {
	// E2ETest is the compiled suite; Kubectl is the kubectl its sig-cli tests run.
	E2ETest, Kubectl string
	// Kubeconfig reaches the cluster as its admin.
	Kubeconfig string
	// Tests are the tests to run (a focus list).
	Tests []Test
	// RepoList is the KUBE_TEST_REPO_LIST file naming where the test images are.
	RepoList string
	// ResultsDir receives e2e.log (the suite's output) and junit_01.xml.
	ResultsDir string
	// Timeout bounds the whole suite (ginkgo's own timeout); 0 means an hour.
	Timeout time.Duration
	// ExtraArgs are added to e2e.test's command line.
	ExtraArgs []string
	// Progress is called on every change of the run's state; nil ignores them.
	Progress func(Progress)
}

// Progress is the state of a run.
type Progress struct {
	Total, Passed, Failed int
	// Current is the test running now, when the log has said which.
	Current string
	// Last is the last finished test's line (PASSED name or FAILED name).
	Last    string
	Elapsed time.Duration
}

// Remaining is how many tests have not finished.
func (p Progress) Remaining() int { return max(0, p.Total-p.Passed-p.Failed) }

// String is the progress line printed while the suite runs.
func (p Progress) String() string {
	s := fmt.Sprintf("[%s] %d passed, %d failed, %d remaining", p.Elapsed.Round(time.Second), p.Passed, p.Failed, p.Remaining())
	if p.Current != "" {
		s += "; running: " + p.Current
	} else if p.Last != "" {
		s += "; " + p.Last
	}
	return s
}

// Result is the outcome of a run.
type Result struct {
	Passed, Failed, Skipped []string
	// Failures holds each failed test's failure message, by name.
	Failures map[string]string
	Duration time.Duration
	// Log and JUnit are the files written under ResultsDir.
	Log, JUnit string
}

// Run runs e2e.test with the focus and waits for it. It returns the result read from the junit
// report; err is set when the suite could not run or did not finish, not for failed tests
// (those are in Result.Failed).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.E2ETest == "" || o.Kubeconfig == "" || len(o.Tests) == 0 || o.ResultsDir == "" {
		return nil, errors.New("suite: e2e.test, kubeconfig, tests and results dir are all needed")
	}
	if o.Timeout == 0 {
		o.Timeout = time.Hour
	}
	if err := os.MkdirAll(o.ResultsDir, 0o755); err != nil {
		return nil, err
	}
	res := &Result{Log: filepath.Join(o.ResultsDir, "e2e.log"), JUnit: filepath.Join(o.ResultsDir, "junit_01.xml")}
	os.Remove(res.JUnit)

	tr := newTracker(o.Tests, o.Progress)
	srv, url, err := progressServer(tr)
	if err != nil {
		return nil, err
	}
	defer srv.Close()

	args := Args(o, url)
	cmd := exec.CommandContext(ctx, o.E2ETest, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+o.Kubeconfig)
	if o.RepoList != "" {
		cmd.Env = append(cmd.Env, "KUBE_TEST_REPO_LIST="+o.RepoList)
	}
	logFile, err := os.Create(res.Log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	scanned := make(chan struct{})
	var willRun int
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if n, ok := parseWillRun(line); ok {
				willRun = n
			}
			tr.logLine(line)
		}
		io.Copy(logFile, pr)
	}()
	start := time.Now()
	runErr := cmd.Run()
	pw.Close()
	<-scanned
	res.Duration = time.Since(start)
	tr.stop()

	if willRun != 0 && willRun != len(o.Tests) {
		return res, fmt.Errorf("e2e.test selected %d tests, the focus list names %d: a name in the list no longer matches a test exactly (see %s)", willRun, len(o.Tests), res.Log)
	}
	if err := readJUnit(res, o.Tests); err != nil {
		if runErr != nil {
			return res, fmt.Errorf("e2e.test: %w; no junit report (%v); the log %s ends:\n%s", runErr, err, res.Log, tailFile(res.Log, 30))
		}
		return res, err
	}
	if runErr != nil && len(res.Failed) == 0 {
		// Failed tests make e2e.test exit non-zero; an exit with none failed is the suite's own.
		return res, fmt.Errorf("e2e.test: %w; the log %s ends:\n%s", runErr, res.Log, tailFile(res.Log, 30))
	}
	if missing := len(o.Tests) - len(res.Passed) - len(res.Failed) - len(res.Skipped); missing > 0 {
		return res, fmt.Errorf("%d of the %d tests did not run (see %s)", missing, len(o.Tests), res.Log)
	}
	return res, nil
}

// Args is e2e.test's command line.
func Args(o Options, progressURL string) []string {
	args := []string{
		"--kubeconfig=" + o.Kubeconfig,
		"--provider=local",
		"--report-dir=" + o.ResultsDir,
		"--ginkgo.focus=" + FocusRegexp(o.Tests),
		"--ginkgo.timeout=" + o.Timeout.String(),
		"--ginkgo.v",
		"--ginkgo.no-color",
	}
	if o.Kubectl != "" {
		args = append(args, "--kubectl-path="+o.Kubectl)
	}
	if progressURL != "" {
		args = append(args, "--progress-report-url="+progressURL)
	}
	return append(args, o.ExtraArgs...)
}

var willRunLine = regexp.MustCompile(`Will run (\d+) of (\d+) specs`)

func parseWillRun(line string) (int, bool) {
	m := willRunLine.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// report is what e2e.test posts to --progress-report-url after each test.
type report struct {
	Msg       string   `json:"msg"`
	Total     int      `json:"total"`
	Completed int      `json:"completed"`
	Skipped   int      `json:"skipped"`
	Failed    int      `json:"failed"`
	Failures  []string `json:"failures"`
}

// tracker turns progress reports and log lines into Progress calls.
type tracker struct {
	mu    sync.Mutex
	p     Progress
	start time.Time
	out   func(Progress)
	done  chan struct{}
	// names are the focused tests' names, to recognise a test's start in the log.
	names []string
}

func newTracker(tests []Test, out func(Progress)) *tracker {
	t := &tracker{p: Progress{Total: len(tests)}, start: time.Now(), out: out, done: make(chan struct{})}
	for _, test := range tests {
		t.names = append(t.names, test.Name)
	}
	if out != nil {
		// A heartbeat: a long test still shows that the run is alive.
		go func() {
			tick := time.NewTicker(30 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-t.done:
					return
				case <-tick.C:
					t.emit()
				}
			}
		}()
	}
	return t
}

func (t *tracker) stop() { close(t.done) }

func (t *tracker) emit() {
	if t.out == nil {
		return
	}
	t.mu.Lock()
	t.p.Elapsed = time.Since(t.start)
	p := t.p
	t.mu.Unlock()
	t.out(p)
}

func (t *tracker) report(r report) {
	t.mu.Lock()
	changed := r.Completed != t.p.Passed || r.Failed != t.p.Failed
	t.p.Passed, t.p.Failed = r.Completed, r.Failed
	if r.Total > 0 {
		t.p.Total = r.Total
	}
	if strings.HasPrefix(r.Msg, "PASSED ") || strings.HasPrefix(r.Msg, "FAILED ") {
		t.p.Last = r.Msg
		t.p.Current = ""
	}
	t.mu.Unlock()
	if changed {
		t.emit()
	}
}

// logLine notes the test that starts when ginkgo's verbose reporter prints its full text (the
// name, then its labels) at the start of a line.
func (t *tracker) logLine(line string) {
	name := ""
	for _, n := range t.names {
		if strings.HasPrefix(line, n) {
			name = n
			break
		}
	}
	if name == "" {
		return
	}
	t.mu.Lock()
	changed := t.p.Current != name
	t.p.Current = name
	t.mu.Unlock()
	if changed {
		t.emit()
	}
}

// progressServer serves the URL e2e.test posts its progress to.
func progressServer(t *tracker) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		t.report(rep)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String() + "/progress", nil
}

// junit is the part of ginkgo's junit report read here.
type junit struct {
	Suites []struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Status  string `xml:"status,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// readJUnit fills the result from the junit report. Only the focused tests count as passed or
// skipped (the report lists the tests the focus left out as skipped too); any failure counts,
// the suite's own setup nodes included, as a failed setup fails every test.
func readJUnit(res *Result, tests []Test) error {
	data, err := os.ReadFile(res.JUnit)
	if err != nil {
		return err
	}
	return parseJUnit(data, tests, res)
}

func parseJUnit(data []byte, tests []Test, res *Result) error {
	var j junit
	if err := xml.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	wanted := map[string]bool{}
	for _, t := range tests {
		wanted[t.Name] = true
	}
	res.Passed, res.Failed, res.Skipped = nil, nil, nil
	res.Failures = map[string]string{}
	for _, s := range j.Suites {
		for _, c := range s.Cases {
			name := strings.TrimSpace(strings.TrimPrefix(c.Name, "[It] "))
			switch {
			case c.Failure != nil || c.Error != nil || slices.Contains([]string{"failed", "panicked", "timedout", "interrupted", "aborted"}, c.Status):
				res.Failed = append(res.Failed, name)
				msg := c.Status
				if c.Failure != nil {
					msg = strings.TrimSpace(c.Failure.Message + "\n" + c.Failure.Text)
				} else if c.Error != nil {
					msg = strings.TrimSpace(c.Error.Message + "\n" + c.Error.Text)
				}
				res.Failures[name] = msg
			case !wanted[name]:
			case c.Status == "passed":
				res.Passed = append(res.Passed, name)
			default:
				res.Skipped = append(res.Skipped, name)
			}
		}
	}
	return nil
}

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
