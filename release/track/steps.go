package track

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Step is one check of an updated branch, run in the work clone. The expensive ones (build,
// unit tests, quick conformance) are commands, so tests give small real commands instead.
type Step struct {
	Name    string
	Command []string
	// Target, when set, is the mage target Command runs; the step is skipped as not
	// available when the work clone's mage does not list it.
	Target string
}

// MageSteps are the checks of a real update: build, unit tests and quick conformance,
// each through the work clone's own magefiles.
func MageSteps() []Step {
	mage := func(target string) []string { return []string{"go", "tool", "mage", target} }
	return []Step{
		{Name: "build", Command: mage("build"), Target: "build"},
		{Name: "unit tests", Command: mage("test"), Target: "test"},
		{Name: "conformance:quick", Command: mage("conformance:quick"), Target: "conformance:quick"},
	}
}

// MageList lists the work clone's mage targets.
var MageList = []string{"go", "tool", "mage", "-l"}

// Status is how a step ended.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// StepResult is one step's outcome. Skipping always carries its reason.
type StepResult struct {
	Name   string
	Status Status
	// Reason says why a step was skipped or failed, in a few words.
	Reason  string
	Tail    string // the last lines of the step's output
	Elapsed time.Duration
}

// tailLines is how much of a step's output the pull request shows.
const tailLines = 20

func runStep(ctx context.Context, dir string, env []string, s Step) StepResult {
	res := StepResult{Name: s.Name}
	if len(s.Command) == 0 {
		res.Status, res.Reason = Skipped, "no command configured"
		return res
	}
	start := time.Now()
	out, err := run(ctx, dir, env, s.Command)
	res.Elapsed = time.Since(start).Round(time.Millisecond)
	res.Tail = tail(out, tailLines)
	if err != nil {
		res.Status, res.Reason = Failed, err.Error()
		res.Tail = failures(out, failureLines) + res.Tail
		return res
	}
	res.Status = Passed
	return res
}

func run(ctx context.Context, dir string, env, argv []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return out.Bytes(), err
}

// mageTargets reads the target names out of `mage -l`: the first word of each indented
// line below "Targets:". A trailing "*" marks the default target.
func mageTargets(out []byte) map[string]bool {
	targets := map[string]bool{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Targets:"):
			in = true
		case in && strings.HasPrefix(line, " "):
			if f := strings.Fields(line); len(f) > 0 {
				targets[strings.ToLower(strings.TrimSuffix(f[0], "*"))] = true
			}
		case in && strings.TrimSpace(line) != "":
			in = false
		}
	}
	return targets
}

// failureLines bounds how many failures a failed step's summary names.
const failureLines = 40

// failureLogLines bounds how much of each failed test's own log (the indented lines go test
// prints under its "--- FAIL" line) the summary keeps: the last lines, where the error is.
const failureLogLines = 8

// failures picks out of a failed step's output the lines that name what failed, which go
// test prints long before its last lines: "--- FAIL: TestX" with the end of that test's log,
// "FAIL\tpackage", panics and build errors of test packages ("[build failed]", "[setup
// failed]"). It returns them with a separator line, or "" when there are none.
func failures(out []byte, n int) string {
	var picked []string
	var testLog []string // indented lines under the last "--- FAIL"
	inFailedTest := false
	endTestLog := func() {
		if len(testLog) > failureLogLines {
			cut := len(testLog) - failureLogLines
			testLog = append([]string{fmt.Sprintf("    … %d earlier lines", cut)}, testLog[cut:]...)
		}
		if len(testLog) > 0 {
			picked[len(picked)-1] += "\n" + strings.Join(testLog, "\n")
		}
		testLog, inFailedTest = nil, false
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		indented := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		if inFailedTest && indented && !strings.HasPrefix(trimmed, "--- ") {
			testLog = append(testLog, line)
			continue
		}
		if inFailedTest {
			endTestLog()
		}
		if strings.HasPrefix(trimmed, "--- FAIL") {
			picked = append(picked, line)
			inFailedTest = true
			continue
		}
		if strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "panic: ") ||
			strings.HasSuffix(line, "[build failed]") || strings.HasSuffix(line, "[setup failed]") {
			picked = append(picked, line)
		}
	}
	if inFailedTest {
		endTestLog()
	}
	if len(picked) == 0 {
		return ""
	}
	if len(picked) > n {
		picked = append(picked[:n], fmt.Sprintf("… and %d more", len(picked)-n))
	}
	return strings.Join(picked, "\n") + "\n… (failures above; the last lines of output below)\n"
}

func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
