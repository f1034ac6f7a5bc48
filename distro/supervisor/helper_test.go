package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// The test binary doubles as the supervised child: run with helperEnv set, it behaves as the
// mode named there instead of running tests.
const (
	helperEnv     = "SUPERVISOR_TEST_HELPER"
	helperRunsEnv = "SUPERVISOR_TEST_RUNS" // a file each run appends a line to
	helperLogEnv  = "SUPERVISOR_TEST_LOG"
	helperKeepEnv = "SUPERVISOR_TEST_KEEP"
)

// logs collects everything logged through klog while the tests run.
var logs = &syncBuffer{}

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		runHelper(mode)
		return
	}
	klog.LogToStderr(false)
	klog.SetOutput(logs)
	os.Exit(m.Run())
}

func runHelper(mode string) {
	switch mode {
	case "talk":
		fmt.Println("out line 1")
		fmt.Fprintln(os.Stderr, "err line 2")
		serveUntilTerm()
	case "serve":
		serveUntilTerm()
	case "crash":
		countRun()
		fmt.Println("crashing")
		os.Exit(3)
	case "crash-twice":
		if countRun() <= 2 {
			os.Exit(3)
		}
		serveUntilTerm()
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		// Sleep rather than block forever: with no goroutine left the runtime would
		// report a deadlock and exit.
		for {
			time.Sleep(time.Hour)
		}
	case "parent":
		runParent()
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		os.Exit(2)
	}
}

// serveUntilTerm announces it is ready once SIGTERM is handled, then exits cleanly on SIGTERM.
func serveUntilTerm() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Println("ready")
	<-term
	fmt.Println("got SIGTERM")
	os.Exit(0)
}

// countRun appends a line to the runs file and returns how many runs it now records.
func countRun() int {
	path := os.Getenv(helperRunsEnv)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		panic(err)
	}
	fmt.Fprintln(f, "run")
	f.Close()
	return countLines(path)
}

// runParent plays distro: it supervises a "serve" child, prints the child's pid and waits to
// be killed.
func runParent() {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	s := New(Config{
		Name:        "child",
		Path:        exe,
		Env:         append(helperEnviron(), helperEnv+"=serve"),
		LogFile:     os.Getenv(helperLogEnv),
		KeepRunning: os.Getenv(helperKeepEnv) == "1",
	})
	if err := s.Start(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(s.Pid())
	select {}
}

// helperEnviron is the environment of a helper child. The race detector otherwise holds every
// exiting helper for a second.
func helperEnviron() []string {
	return append(os.Environ(), "GORACE=atexit_sleep_ms=0")
}

func countLines(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// names keeps the names of children unique across repeated runs of a test, since they all log
// into one buffer.
var names atomic.Int64

// helper returns a config that runs the test binary in the given helper mode, named after name.
func helper(t *testing.T, name, mode string, extraEnv ...string) Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append(helperEnviron(), helperEnv+"="+mode)
	name = fmt.Sprintf("%s-%d", name, names.Add(1))
	return Config{Name: name, Path: exe, Env: append(env, extraEnv...), StopTimeout: 30 * time.Second}
}

// eventually waits until cond holds. The deadline only keeps a broken test from hanging; no
// test depends on how fast anything happens.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged reports whether the child named name has logged line.
func logged(name, line string) func() bool {
	return func() bool { return strings.Contains(logs.String(), name+": "+line+"\n") }
}

func fileHas(path, text string) func() bool {
	return func() bool {
		data, _ := os.ReadFile(path)
		return strings.Contains(string(data), text)
	}
}

// alive reports whether pid names a process that has not been reaped.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func readPidLine(t *testing.T, sc *bufio.Scanner) int {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("no pid line: %v", sc.Err())
	}
	pid, err := strconv.Atoi(sc.Text())
	if err != nil || pid <= 0 {
		t.Fatalf("bad pid line %q", sc.Text())
	}
	return pid
}
