package containerd

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// sandboxOOMScoreAdj is the lowest oom_score_adj the kubelet gives a pod (its sandbox); runc
// writes it into every sandbox it starts.
const sandboxOOMScoreAdj = -998

// capSysResource is CAP_SYS_RESOURCE's bit in the capability masks of /proc/<pid>/status.
const capSysResource = 24

// DetectOOMScoreAdj reports whether containerd must be told to restrict oom_score_adj, and why.
// Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE in the host's user namespace;
// without it, every sandbox fails to start unless containerd clamps the value to its own.
//
// It asks the kernel: a child that is stopped before it runs a single instruction gets the
// sandbox's value written to its oom_score_adj by distro, exactly the write runc will make, and
// is killed. When the child cannot be made (ptrace forbidden), the capability sets decide.
func DetectOOMScoreAdj() (restrict bool, reason string) {
	err := tryLowerOOMScoreAdj(sandboxOOMScoreAdj)
	if err == nil {
		return false, fmt.Sprintf("lowering a process's oom_score_adj to %d is allowed", sandboxOOMScoreAdj)
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return true, fmt.Sprintf("lowering a process's oom_score_adj to %d is refused (%v): distro lacks CAP_SYS_RESOURCE", sandboxOOMScoreAdj, err)
	}
	ok, why := hasSysResource()
	return !ok, fmt.Sprintf("could not try an oom_score_adj write (%v); %s", err, why)
}

// tryLowerOOMScoreAdj writes adj to the oom_score_adj of a short-lived child. The child is
// traced, so it stops right after exec, before running anything; only distro's own privilege
// decides the write.
func tryLowerOOMScoreAdj(adj int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The tracer is the thread that forked; keep it until the child is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec(exe, []string{"oom-score-adj-probe"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return fmt.Errorf("starting a probe process: %w", err)
	}
	werr := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.Itoa(adj)), 0)
	syscall.Kill(pid, syscall.SIGKILL)
	for {
		// A traced child also reports its stops; wait until it is gone.
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || ws.Exited() || ws.Signaled() {
			break
		}
	}
	return werr
}

// hasSysResource reads CAP_SYS_RESOURCE from distro's effective set. It counts only in the
// initial user namespace, where the kernel checks it.
func hasSysResource() (bool, string) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false, err.Error()
	}
	for _, line := range strings.Split(string(status), "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return false, fmt.Sprintf("unreadable CapEff %q", hex)
		}
		if caps&(1<<capSysResource) == 0 {
			return false, "CAP_SYS_RESOURCE is not in distro's effective capabilities"
		}
		if uidMap, err := os.ReadFile("/proc/self/uid_map"); err == nil && strings.Join(strings.Fields(string(uidMap)), " ") != "0 0 4294967295" {
			return false, "distro runs in a user namespace, where CAP_SYS_RESOURCE does not reach the host"
		}
		return true, "distro has CAP_SYS_RESOURCE"
	}
	return false, "no CapEff in /proc/self/status"
}
