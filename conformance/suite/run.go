package suite

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
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
	Total, Passed, Failed, Skipped int
	// Current is the test running now, when the log has said which.
	Current string
	// Last is the last finished test's line (PASSED name or FAILED name).
	Last    string
	Elapsed time.Duration
}

// Remaining is how many tests have not finished.
func (p Progress) Remaining() int { return max(0, p.Total-p.Passed-p.Failed-p.Skipped) }

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

	tr := NewTracker(o.Tests, o.Progress)
	args := Args(o)
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
			tr.Line(line)
		}
		io.Copy(logFile, pr)
	}()
	start := time.Now()
	runErr := cmd.Run()
	pw.Close()
	<-scanned
	res.Duration = time.Since(start)
	tr.Stop()

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

// Args is e2e.test's command line. Progress is read from the verbose log: the suite's
// --progress-report-url reporter posts the start and end of the suite but no test outcomes in
// this release (its per-test counts stay at zero), so it is not used.
func Args(o Options) []string {
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

// Tracker turns the suite's log lines into Progress calls: the e2e.test run here, or one whose
// log is followed from elsewhere (a Sonobuoy plugin pod).
type Tracker struct {
	mu    sync.Mutex
	p     Progress
	start time.Time
	out   func(Progress)
	done  chan struct{}
	// names are the focused tests' names, to recognise a test's start in the log.
	names []string
}

func NewTracker(tests []Test, out func(Progress)) *Tracker {
	t := &Tracker{p: Progress{Total: len(tests)}, start: time.Now(), out: out, done: make(chan struct{})}
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

// Stop ends the heartbeat.
func (t *Tracker) Stop() { close(t.done) }

// Progress is the state now.
func (t *Tracker) Progress() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.p
	p.Elapsed = time.Since(t.start)
	return p
}

func (t *Tracker) emit() {
	if t.out == nil {
		return
	}
	t.mu.Lock()
	t.p.Elapsed = time.Since(t.start)
	p := t.p
	t.mu.Unlock()
	t.out(p)
}

// Lines of ginkgo's verbose reporter: a spec ends with "• [<seconds> seconds]" when it passed,
// "• [FAILED] [...]" (PANICKED, TIMEDOUT, INTERRUPTED, ABORTED) when it did not, "S [SKIPPED]"
// when it skipped itself; it starts with its full text (the name, then its labels).
var (
	specPassed = regexp.MustCompile(`^• \[[0-9.]+ seconds\]`)
	specFailed = regexp.MustCompile(`^• \[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\]`)
	specSkip   = regexp.MustCompile(`^S \[SKIPPED\]`)
)

// Line follows the log: which test runs, and how each ended.
func (t *Tracker) Line(line string) {
	t.mu.Lock()
	changed := true
	switch {
	case specPassed.MatchString(line):
		t.p.Passed++
		t.p.Last, t.p.Current = "PASSED "+t.p.Current, ""
	case specFailed.MatchString(line):
		t.p.Failed++
		t.p.Last, t.p.Current = "FAILED "+t.p.Current, ""
	case specSkip.MatchString(line):
		t.p.Skipped++
		t.p.Last, t.p.Current = "SKIPPED "+t.p.Current, ""
	default:
		changed = false
		for _, n := range t.names {
			if strings.HasPrefix(line, n) && t.p.Current != n {
				t.p.Current, changed = n, true
				break
			}
		}
	}
	t.mu.Unlock()
	if changed {
		t.emit()
	}
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

// ReadJUnit reads a junit report of a run of tests (see readJUnit).
func ReadJUnit(path string, tests []Test) (*Result, error) {
	res := &Result{JUnit: path}
	if err := readJUnit(res, tests); err != nil {
		return nil, err
	}
	return res, nil
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

// Outcome is the error of a finished run of total tests: the failed ones listed, or how many
// never ran.
func Outcome(res *Result, total int) error {
	if len(res.Failed) > 0 {
		return fmt.Errorf("%d of %d tests failed:\n  %s", len(res.Failed), total, strings.Join(res.Failed, "\n  "))
	}
	if missing := total - len(res.Passed); missing > 0 {
		return fmt.Errorf("%d of the %d tests did not pass nor fail (see %s)", missing, total, res.Log)
	}
	return nil
}
