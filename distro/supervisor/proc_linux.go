package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

func sysProcAttr(keepRunning bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if !keepRunning {
		attr.Pdeathsig = syscall.SIGKILL
	}
	return attr
}

// replaceLeftover stops the child named by the pid file, if it is still running and is ours.
// A pid file that names nothing, or a process that is not this child, is left alone: pids are
// reused, and distro must never signal a process it did not start.
func (s *Supervisor) replaceLeftover(ctx context.Context) error {
	pid, err := readPidFile(s.cfg.PidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		klog.ErrorS(err, "Ignoring pid file", "component", s.cfg.Name)
		return nil
	}
	// The pidfd pins the process: if the pid is reused after this point, signals through the
	// pidfd fail instead of reaching the newcomer.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening pid %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	if ok, why := s.isOurs(pid); !ok {
		klog.InfoS("Pid file names another process, leaving it alone", "component", s.cfg.Name, "pid", pid, "reason", why)
		return nil
	}

	klog.InfoS("Stopping child process left running by an earlier run", "component", s.cfg.Name, "pid", pid)
	if err := signalPidfd(pidfd, unix.SIGTERM); err != nil {
		return err
	}
	timeout := s.stopTimeout()
	if waitPidfd(ctx, pidfd, timeout) {
		return nil
	}
	klog.InfoS("Killing child process left running by an earlier run", "component", s.cfg.Name, "pid", pid, "after", timeout)
	if err := signalPidfd(pidfd, unix.SIGKILL); err != nil {
		return err
	}
	// SIGKILL cannot be ignored, so this only waits for the kernel; the bound guards against a
	// process stuck in the kernel.
	if waitPidfd(context.WithoutCancel(ctx), pidfd, timeout) {
		return nil
	}
	return fmt.Errorf("pid %d still running after SIGKILL", pid)
}

func signalPidfd(pidfd int, sig unix.Signal) error {
	err := unix.PidfdSendSignal(pidfd, sig, nil, 0)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("sending %s: %w", unix.SignalName(sig), err)
	}
	return nil
}

// waitPidfd reports whether the process exited within timeout and before ctx was done. A pidfd
// turns readable when its process exits, which works for a process that is not our child.
func waitPidfd(ctx context.Context, pidfd int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100) // short slices, so ctx is looked at often
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
	}
}

// isOurs reports whether pid runs this supervisor's executable under its argv[0], and why not.
func (s *Supervisor) isOurs(pid int) (bool, string) {
	proc := "/proc/" + strconv.Itoa(pid)
	exe, err := os.Readlink(proc + "/exe")
	if err != nil {
		return false, err.Error()
	}
	// An upgrade replaces the binary under a running child; the kernel then marks the old one.
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe != s.path {
		return false, "it runs " + exe
	}
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return false, err.Error()
	}
	arg0, _, _ := strings.Cut(string(cmdline), "\x00")
	if arg0 != s.arg0() {
		return false, "its argv[0] is " + strconv.Quote(arg0)
	}
	return true, ""
}
