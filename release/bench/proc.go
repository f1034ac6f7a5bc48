package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// ProcMem is the memory of one process, in bytes, from /proc/<pid>/smaps_rollup.
type ProcMem struct {
	PID  int
	Comm string // the kernel's short name of the process
	// Pss charges each shared page to its sharers in equal parts, so it sums across processes.
	Pss uint64
	// Rss counts every resident page; pages of a binary run by several processes count in
	// each, so a sum overstates a multi-process layout.
	Rss uint64
	// Anon is private memory the program allocated (heap, stacks).
	Anon uint64
}

// TreeMem is the memory of a set of processes and its sums.
type TreeMem struct {
	Procs          []ProcMem // by pid
	Pss, Rss, Anon uint64
}

// ReadProcMem reads the memory of one process.
func ReadProcMem(pid int) (ProcMem, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return ProcMem{}, err
	}
	m := ProcMem{PID: pid}
	fields := map[string]*uint64{"Pss:": &m.Pss, "Rss:": &m.Rss, "Anonymous:": &m.Anon}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), " ")
		dst := fields[name]
		if !ok || dst == nil {
			continue
		}
		if *dst, err = parseKB(rest); err != nil {
			return ProcMem{}, fmt.Errorf("/proc/%d/smaps_rollup %s %w", pid, name, err)
		}
		found++
	}
	if found != len(fields) {
		return ProcMem{}, fmt.Errorf("/proc/%d/smaps_rollup lacks one of Pss, Rss, Anonymous", pid)
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		m.Comm = strings.TrimSpace(string(comm))
	}
	return m, nil
}

// Descendants returns root and every process below it, in pid order, from the parent pids
// in /proc/*/stat. A process that forks while this runs may be missed; sample after the
// tree has settled.
func Descendants(root int) ([]int, error) {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", root)); err != nil {
		return nil, fmt.Errorf("process %d: %w", root, err)
	}
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, err := parentOf(pid)
		if err != nil {
			continue // exited since the listing
		}
		children[ppid] = append(children[ppid], pid)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	slices.Sort(tree)
	return tree, nil
}

// parentOf reads the ppid from /proc/<pid>/stat. The command name in parentheses may hold
// spaces and parentheses itself, so the fields are counted from the last ')'.
func parentOf(pid int) (int, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:])) // state ppid ...
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	return strconv.Atoi(f[1])
}

// SampleTree reads the memory of root, its descendants and extra (processes of the
// distribution that are not below root, such as a datastore started beside it). A process
// that exits during the sample is left out; root itself must be readable.
func SampleTree(root int, extra ...int) (TreeMem, error) {
	pids, err := Descendants(root)
	if err != nil {
		return TreeMem{}, err
	}
	for _, p := range extra {
		if !slices.Contains(pids, p) {
			pids = append(pids, p)
		}
	}
	slices.Sort(pids)
	var t TreeMem
	for _, pid := range pids {
		m, err := ReadProcMem(pid)
		if err != nil {
			if pid != root && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)) {
				continue
			}
			return TreeMem{}, err
		}
		t.Procs = append(t.Procs, m)
		t.Pss += m.Pss
		t.Rss += m.Rss
		t.Anon += m.Anon
	}
	return t, nil
}

// Lookup returns the sample of pid.
func (t TreeMem) Lookup(pid int) (ProcMem, bool) {
	for _, p := range t.Procs {
		if p.PID == pid {
			return p, true
		}
	}
	return ProcMem{}, false
}

// String prints one line per process and the total.
func (t TreeMem) String() string {
	var b strings.Builder
	for _, p := range t.Procs {
		fmt.Fprintf(&b, "%7d %-16s PSS %10s  RSS %10s  anon %10s\n", p.PID, p.Comm, FormatBytes(p.Pss), FormatBytes(p.Rss), FormatBytes(p.Anon))
	}
	fmt.Fprintf(&b, "%7s %-16s PSS %10s  RSS %10s  anon %10s\n", "", fmt.Sprintf("total (%d)", len(t.Procs)), FormatBytes(t.Pss), FormatBytes(t.Rss), FormatBytes(t.Anon))
	return b.String()
}

// GOGCNote says which GOGC the measured processes ran with, as their memory depends on it.
func GOGCNote() string {
	if v, ok := os.LookupEnv("GOGC"); ok {
		return fmt.Sprintf("GOGC=%s from the environment", v)
	}
	return "GOGC unset: distro server and agent ran with their own default (README, The server)"
}

// StartupPagesNote says when the measured processes give back their start-up code pages, as
// the file-backed part of their memory depends on it.
func StartupPagesNote() string {
	return "distro server and agent unmap the start-up-only pages of their executable 30 s after they are ready, containerd 60 s after it starts (README, The server); samples taken later show what the idle processes map again"
}
