package supervisor

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// outsider is a process started by the test itself, standing for a child an earlier distro left.
type outsider struct {
	cmd    *exec.Cmd
	pidfd  int
	output chan string // everything it printed, once it has exited
	exited chan error
}

func startOutsider(t *testing.T, arg0 string) *outsider {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: exe, Args: []string{arg0}, Env: append(helperEnviron(), helperEnv+"=serve")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := &outsider{cmd: cmd, output: make(chan string, 1), exited: make(chan error, 1)}
	if o.pidfd, err = unix.PidfdOpen(cmd.Process.Pid, 0); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		var out strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if sc.Text() == "ready" {
				close(ready)
			}
		}
		o.output <- out.String()
		o.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		unix.Close(o.pidfd)
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("outsider never got ready")
	}
	return o
}

// hasExited reports, without waiting, whether the process behind pidfd has exited.
func hasExited(t *testing.T, pidfd int) bool {
	t.Helper()
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestStartReplacesChildLeftRunningByEarlierRun(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "containerd.pid")
	old := startOutsider(t, "takeover-child")
	if err := writePidFile(pidFile, old.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	cfg := helper(t, "takeover", "serve")
	cfg.Arg0 = "takeover-child"
	cfg.PidFile = pidFile
	s := start(t, cfg)

	if !hasExited(t, old.pidfd) {
		t.Fatal("the old child still runs after Start")
	}
	if out := <-old.output; !strings.Contains(out, "got SIGTERM") {
		t.Errorf("old child was not stopped gracefully; its output: %q", out)
	}
	if err := <-old.exited; err != nil {
		t.Errorf("old child exited with %v, want a clean exit", err)
	}
	pid := s.Pid()
	if pid == 0 || pid == old.cmd.Process.Pid {
		t.Fatalf("new child pid = %d", pid)
	}
	if got, err := readPidFile(pidFile); err != nil || got != pid {
		t.Errorf("pid file = %d, %v; want %d", got, err, pid)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after Stop: %v", err)
	}
}

func TestPidFileNamingAnotherProcessIsLeftAlone(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "containerd.pid")
	other := startOutsider(t, "someone-else") // same executable, another argv[0]
	if err := writePidFile(pidFile, other.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	cfg := helper(t, "not-mine", "serve")
	cfg.Arg0 = "takeover-child"
	cfg.PidFile = pidFile
	s := start(t, cfg)

	// Start waits for a process it stops, so one still running now was never signalled.
	if hasExited(t, other.pidfd) {
		t.Error("Start stopped a process that was not its child")
	}
	if got, _ := readPidFile(pidFile); got != s.Pid() {
		t.Errorf("pid file = %d, want the new child %d", got, s.Pid())
	}
}

func TestUnreadablePidFileIsReplaced(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "containerd.pid")
	if err := os.WriteFile(pidFile, []byte("not a pid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := helper(t, "garbled", "serve")
	cfg.PidFile = pidFile
	s := start(t, cfg)
	if got, err := readPidFile(pidFile); err != nil || got != s.Pid() {
		t.Errorf("pid file = %d, %v; want %d", got, err, s.Pid())
	}
}

// startParent runs the test binary as a distro supervising one child, and returns the parent
// and a pidfd of the child.
func startParent(t *testing.T, keepRunning bool, logFile string) (*exec.Cmd, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(exe)
	parent.Env = append(helperEnviron(), helperEnv+"=parent", helperLogEnv+"="+logFile)
	if keepRunning {
		parent.Env = append(parent.Env, helperKeepEnv+"=1")
	}
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Process.Kill(); parent.Wait() })
	pid := readPidLine(t, bufio.NewScanner(stdout))
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		unix.Close(pidfd)
	})
	return parent, pidfd
}

func TestChildDiesWithDistro(t *testing.T) {
	// A log file rather than a pipe: the child must not die of SIGPIPE when the parent goes.
	logFile := filepath.Join(t.TempDir(), "child.log")
	parent, child := startParent(t, false, logFile)
	eventually(t, "child ready", fileHas(logFile, "ready\n"))
	parent.Process.Kill()
	parent.Wait()
	if !waitPidfd(t.Context(), child, 30*time.Second) {
		t.Fatal("child outlived the distro that started it")
	}
}

func TestKeepRunningChildOutlivesDistro(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "child.log")
	parent, child := startParent(t, true, logFile)
	eventually(t, "child ready", fileHas(logFile, "ready\n"))
	parent.Process.Kill()
	parent.Wait()

	// Had the child been sent SIGKILL when its parent died, it could not answer SIGTERM.
	if err := unix.PidfdSendSignal(child, unix.SIGTERM, nil, 0); err != nil {
		t.Fatalf("child gone after its distro died: %v", err)
	}
	if !waitPidfd(t.Context(), child, 30*time.Second) {
		t.Fatal("child did not exit on SIGTERM")
	}
	if data, _ := os.ReadFile(logFile); !strings.Contains(string(data), "got SIGTERM") {
		t.Errorf("child did not survive its distro to handle SIGTERM; log: %q", data)
	}
}

func TestStopDetachesChildThatKeepsRunning(t *testing.T) {
	dir := t.TempDir()
	cfg := helper(t, "detached", "serve")
	cfg.KeepRunning = true
	cfg.LogFile = filepath.Join(dir, "detached.log")
	cfg.PidFile = filepath.Join(dir, "detached.pid")
	s := start(t, cfg)
	eventually(t, "child ready", fileHas(cfg.LogFile, "ready\n"))
	pid := s.Pid()

	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Stopping would have reaped the child before returning.
	if !alive(pid) {
		t.Fatal("Stop ended a child configured to keep running")
	}
	if got, err := readPidFile(cfg.PidFile); err != nil || got != pid {
		t.Errorf("pid file = %d, %v; want it kept with %d", got, err, pid)
	}

	if err := s.Terminate(context.Background()); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if alive(pid) {
		t.Error("child still there after Terminate")
	}
	if !fileHas(cfg.LogFile, "got SIGTERM")() {
		t.Error("child was not stopped gracefully")
	}
	if _, err := os.Stat(cfg.PidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after Terminate: %v", err)
	}
}
