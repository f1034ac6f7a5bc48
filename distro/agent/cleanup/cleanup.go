// Package cleanup takes a node off the host: it stops containerd and every container it started,
// unmounts what the node mounted, removes the pod network's links and iptables rules and the
// pods' cgroups. `distro killall` runs it; the node's state on disk stays, so a later start
// resumes the node (its pods are recreated).
package cleanup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/vishvananda/netlink"
)

// Options say what belongs to the node.
type Options struct {
	// DataDir is the node's data dir; its agent/containerd holds the pid file and the socket.
	DataDir string
	// CgroupRoot is the kubelet's cgroup root ("/" by default); its kubepods tree is removed.
	CgroupRoot string
	// Log receives one line per action.
	Log func(format string, args ...any)
}

// Chains of the node's iptables rules, by prefix: kube-proxy's, flannel's, the CNI plugins'.
var chainPrefixes = []string{"KUBE-", "FLANNEL-", "CNI-"}

// Links the pod network creates.
var links = []string{"cni0", "flannel.1"}

// Run does every step and reports every failure; it goes on after one fails.
func Run(o Options) error {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	var errs []error
	errs = append(errs, killContainers(o))
	errs = append(errs, unmountUnder(o, filepath.Join(o.DataDir, "agent")))
	errs = append(errs, removeLinks(o))
	errs = append(errs, removeRules(o))
	errs = append(errs, removeCgroups(o))
	return errors.Join(errs...)
}

// killContainers kills containerd and every shim serving its socket, with all their
// descendants: the containers.
func killContainers(o Options) error {
	dir := filepath.Join(o.DataDir, "agent", "containerd")
	socket := filepath.Join(dir, "containerd.sock")
	procs, err := processes()
	if err != nil {
		return err
	}
	var roots []int
	if data, err := os.ReadFile(filepath.Join(dir, "containerd.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			if p, ok := procs[pid]; ok && strings.Contains(p.cmdline, "containerd") {
				roots = append(roots, pid)
			}
		}
	}
	for pid, p := range procs {
		if strings.Contains(p.cmdline, "containerd-shim") && strings.Contains(p.cmdline, socket) {
			roots = append(roots, pid)
		}
	}
	victims := descendants(procs, roots)
	for _, pid := range victims {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(victims) > 0 {
		o.Log("killed containerd, %d shims and their containers (%d processes)", len(roots)-1, len(victims))
	}
	// Wait for them to go, so their mounts can be released.
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range victims {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

type process struct {
	ppid    int
	cmdline string
}

func processes() (map[int]process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[int]process{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces: fields start after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[pid] = process{ppid: ppid, cmdline: string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))}
	}
	return out, nil
}

// descendants returns roots and everything below them, children first.
func descendants(procs map[int]process, roots []int) []int {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	var walk func(int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			walk(c)
		}
		out = append(out, pid)
	}
	for _, r := range roots {
		walk(r)
	}
	slices.Reverse(out)
	return out
}

// unmountUnder detaches every mount point below dir, deepest first: the containers' root file
// systems, the kubelet's volumes and the pods' network namespaces (containerd keeps them under
// its state dir).
func unmountUnder(o Options, dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescape(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	// Deepest first.
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
		}
	}
	if len(points) > 0 {
		o.Log("unmounted %d mount points", len(points))
	}
	return errors.Join(errs...)
}

// unescape decodes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func removeLinks(o Options) error {
	var errs []error
	for _, name := range links {
		l, err := netlink.LinkByName(name)
		if err != nil {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting link %s: %w", name, err))
			continue
		}
		o.Log("deleted link %s", name)
	}
	return errors.Join(errs...)
}

// removeRules rewrites the iptables tables without the node's chains and the rules that jump
// to them.
func removeRules(o Options) error {
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		save, err := exec.LookPath(bin + "-save")
		if err != nil {
			continue
		}
		out, err := exec.Command(save).Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s-save: %w", bin, err))
			continue
		}
		kept, removed := filterRules(string(out))
		if removed == 0 {
			continue
		}
		// Without --noflush each table is replaced by exactly what was saved minus the node's.
		cmd := exec.Command(bin + "-restore")
		cmd.Stdin = strings.NewReader(kept)
		if msg, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s-restore: %w: %s", bin, err, msg))
			continue
		}
		o.Log("removed %d %s chains and rules", removed, bin)
	}
	return errors.Join(errs...)
}

// filterRules drops the node's chains and every rule that mentions one from iptables-save
// output, and says how many lines it dropped.
func filterRules(saved string) (string, int) {
	var b strings.Builder
	removed := 0
	ours := func(chain string) bool {
		for _, p := range chainPrefixes {
			if strings.HasPrefix(chain, p) {
				return true
			}
		}
		return false
	}
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			chain := strings.Fields(line[1:])[0]
			if ours(chain) {
				removed++
				continue
			}
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if slices.ContainsFunc(f, ours) {
				removed++
				continue
			}
		}
		if line != "" {
			b.WriteString(line + "\n")
		}
	}
	if removed == 0 {
		return "", 0
	}
	return b.String(), removed
}

// removeCgroups removes the kubepods tree under the kubelet's cgroup root in every hierarchy,
// deepest first; the processes in it are gone by now.
func removeCgroups(o Options) error {
	root := o.CgroupRoot
	if root == "" {
		root = "/"
	}
	var bases []string
	if cgroups.IsCgroup2UnifiedMode() {
		bases = []string{"/sys/fs/cgroup"}
	} else {
		mounts, err := cgroups.GetCgroupMounts(true)
		if err != nil {
			return err
		}
		for _, m := range mounts {
			bases = append(bases, m.Mountpoint)
		}
	}
	var errs []error
	count := 0
	for _, base := range bases {
		top := filepath.Join(base, root, "kubepods")
		var dirs []string
		filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			count++
		}
		if root != "/" {
			os.Remove(filepath.Join(base, root))
		}
	}
	if count > 0 {
		o.Log("removed %d cgroups", count)
	}
	return errors.Join(errs...)
}
