package supervisor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/component"
)

func start(t *testing.T, cfg Config) *Supervisor {
	t.Helper()
	s := New(cfg)
	if err := s.Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Terminate(context.Background()) })
	return s
}

func TestOutputLinesAreLoggedWithName(t *testing.T) {
	s := start(t, helper(t, "talker", "talk"))
	for _, line := range []string{"out line 1", "err line 2", "ready"} {
		eventually(t, "log holds "+line, logged(s.Name(), line))
	}
}

func TestOutputGoesToLogFileWhenGiven(t *testing.T) {
	cfg := helper(t, "filer", "talk")
	cfg.LogFile = filepath.Join(t.TempDir(), "logs", "filer.log") // Init creates the directory
	start(t, cfg)
	eventually(t, "log file holds stdout", fileHas(cfg.LogFile, "out line 1\n"))
	eventually(t, "log file holds stderr", fileHas(cfg.LogFile, "err line 2\n"))
	if logged(cfg.Name, "out line 1")() {
		t.Error("output went to klog as well as the log file")
	}
}

func TestStopIsGraceful(t *testing.T) {
	s := start(t, helper(t, "graceful", "serve"))
	eventually(t, "child ready", logged(s.Name(), "ready"))
	pid := s.Pid()

	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	eventually(t, "child saw SIGTERM", logged(s.Name(), "got SIGTERM"))
	if alive(pid) || s.Pid() != 0 {
		t.Errorf("child %d still there after Stop", pid)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestChildIgnoringSIGTERMIsKilledAfterTimeout(t *testing.T) {
	cfg := helper(t, "stubborn", "ignore-term")
	cfg.StopTimeout = 50 * time.Millisecond
	s := start(t, cfg)
	eventually(t, "child ignores SIGTERM", logged(s.Name(), "ignoring SIGTERM"))
	pid := s.Pid()
	c := s.current

	err := s.Stop(t.Context())
	if err == nil || !strings.Contains(err.Error(), "did not exit within 50ms of SIGTERM; killed") {
		t.Fatalf("Stop = %v, want it to say the child was killed", err)
	}
	if alive(pid) {
		t.Errorf("child %d still there after Stop", pid)
	}
	var exit *exec.ExitError
	if !errors.As(c.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v, want SIGKILL", c.err)
	}
}

func TestDoneContextKillsWithoutWaitingForTimeout(t *testing.T) {
	cfg := helper(t, "hurried", "ignore-term")
	cfg.StopTimeout = time.Hour // only the context can end the wait
	s := start(t, cfg)
	eventually(t, "child ignores SIGTERM", logged(s.Name(), "ignoring SIGTERM"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(ctx) }()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Stop = %v, want a kill caused by the cancelled context", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Stop waited for the stop timeout although its context was done")
	}
}

func TestCrashedChildIsRestarted(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	cfg := helper(t, "restarter", "crash-twice", helperRunsEnv+"="+runs)
	cfg.Restart = RestartPolicy{BackoffBase: time.Millisecond, BackoffCap: 10 * time.Millisecond, MaxRestarts: 10, Window: time.Hour}
	failures := make(chan error, 1)
	s := New(cfg)
	s.ReportFailuresTo(func(err error) { failures <- err })
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Terminate(context.Background())

	eventually(t, "third run ready", logged(s.Name(), "ready"))
	if n := countLines(runs); n != 3 {
		t.Errorf("child ran %d times, want 3 (two crashes, two restarts)", n)
	}
	if s.Pid() == 0 {
		t.Error("no child running after the restarts")
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case err := <-failures:
		t.Errorf("failure reported: %v", err)
	default:
	}
}

func TestTooManyCrashesAreReportedThroughTheManager(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	cfg := helper(t, "crasher", "crash", helperRunsEnv+"="+runs)
	cfg.PidFile = filepath.Join(dir, "crasher.pid")
	cfg.Restart = RestartPolicy{BackoffBase: time.Millisecond, BackoffCap: 10 * time.Millisecond, MaxRestarts: 3, Window: time.Hour}
	s := New(cfg)
	m := component.NewManager()
	m.Add(s)
	ctx := t.Context()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}

	var failure error
	select {
	case failure = <-m.Failed():
	case <-time.After(30 * time.Second):
		t.Fatal("no failure reported")
	}
	want := cfg.Name + ": exited 4 times within 1h0m0s, giving up; last exit: exit status 3"
	if failure.Error() != want {
		t.Errorf("failure = %q, want %q", failure, want)
	}
	if n := countLines(runs); n != 4 {
		t.Errorf("child ran %d times, want 4 (3 restarts)", n)
	}
	if s.Pid() != 0 {
		t.Error("a child runs after the supervisor gave up")
	}
	if _, err := os.Stat(cfg.PidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after giving up: %v", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestInitReportsEveryConfigurationProblem(t *testing.T) {
	s := New(Config{KeepRunning: true, StopTimeout: -time.Second, Restart: RestartPolicy{MaxRestarts: -1}})
	err := s.Init(t.Context())
	for _, want := range []string{"no name", "no executable path", "needs a log file", "stop timeout is negative", "max restarts is negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Init = %v, want it to mention %q", err, want)
		}
	}
	s = New(Config{Name: "missing", Path: "/nonexistent/containerd"})
	if err := s.Start(t.Context()); err == nil {
		t.Error("Start of a missing executable succeeded")
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

func TestStartTwiceIsRefused(t *testing.T) {
	s := start(t, helper(t, "twice", "serve"))
	if err := s.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start = %v", err)
	}
}

func TestRestartThatCannotStartCountsAsAnExit(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := helper(t, "vanishing", "serve")
	cfg.Path = filepath.Join(dir, "vanishing")
	if err := os.WriteFile(cfg.Path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.KeepRunning, cfg.LogFile = true, filepath.Join(dir, "log") // Stop must detach from nothing
	cfg.Restart = RestartPolicy{BackoffBase: time.Millisecond, BackoffCap: time.Millisecond, MaxRestarts: 2, Window: time.Hour}
	failures := make(chan error, 1)
	s := New(cfg)
	s.ReportFailuresTo(func(err error) { failures <- err })
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "child ready", fileHas(cfg.LogFile, "ready\n"))
	os.Remove(cfg.Path)                    // every restart fails from now on
	syscall.Kill(s.Pid(), syscall.SIGTERM) // not through Stop: an exit the supervisor did not ask for

	select {
	case err := <-failures:
		if !strings.Contains(err.Error(), "exited 3 times") || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("failure = %v, want failed starts counted and the last one named", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no failure reported")
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop: %v", err)
	}
}
