package bench

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestReadProcMemSeesAnAllocation(t *testing.T) {
	h := startHelper(t, "alloc")
	if got := h.line(t); got != "idle" {
		t.Fatalf("helper said %q", got)
	}
	pid := h.cmd.Process.Pid
	before, err := ReadProcMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	h.send(t)
	if got := h.line(t); got != "ready" {
		t.Fatalf("helper said %q", got)
	}
	after, err := ReadProcMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before %+v\nafter  %+v", before, after)
	for name, grew := range map[string]uint64{"Pss": after.Pss - before.Pss, "Rss": after.Rss - before.Rss, "Anonymous": after.Anon - before.Anon} {
		if int64(grew) < allocSize/2 {
			t.Errorf("%s grew by %d bytes after touching %d", name, int64(grew), allocSize)
		}
	}
	if after.Pss > after.Rss {
		t.Errorf("PSS %d above RSS %d", after.Pss, after.Rss)
	}
	if !strings.HasPrefix(after.Comm, "bench.test") {
		t.Errorf("comm %q, want the test binary's name", after.Comm)
	}
}

func TestSampleTreeSumsDescendantsAndExtras(t *testing.T) {
	parent := startHelper(t, "parent")
	grandchild, err := strconv.Atoi(parent.line(t))
	if err != nil {
		t.Fatal(err)
	}
	// A process outside the tree, idle: counted only when named as an extra.
	other := startHelper(t, "alloc")
	other.line(t)
	root := parent.cmd.Process.Pid

	pids, err := Descendants(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, sorted(root, grandchild)) {
		t.Errorf("Descendants(%d) = %v, want the parent and its child %d", root, pids, grandchild)
	}

	tree, err := SampleTree(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", tree)
	g, ok := tree.Lookup(grandchild)
	if !ok {
		t.Fatalf("child %d missing from the sample", grandchild)
	}
	if g.Anon < allocSize/2 {
		t.Errorf("child anonymous memory %d, want at least half of %d", g.Anon, allocSize)
	}
	var pss, rss, anon uint64
	for _, p := range tree.Procs {
		pss, rss, anon = pss+p.Pss, rss+p.Rss, anon+p.Anon
	}
	if tree.Pss != pss || tree.Rss != rss || tree.Anon != anon {
		t.Errorf("totals %d/%d/%d differ from the sums %d/%d/%d", tree.Pss, tree.Rss, tree.Anon, pss, rss, anon)
	}
	if _, ok := tree.Lookup(other.cmd.Process.Pid); ok {
		t.Errorf("unrelated process %d counted without being named", other.cmd.Process.Pid)
	}

	withExtra, err := SampleTree(root, other.cmd.Process.Pid, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(withExtra.Procs) != 3 {
		t.Errorf("with one extra: %d processes, want 3 (a root named again counts once)", len(withExtra.Procs))
	}
	if _, ok := withExtra.Lookup(other.cmd.Process.Pid); !ok {
		t.Errorf("extra process %d not sampled", other.cmd.Process.Pid)
	}
}

func TestSampleTreeOfMissingProcess(t *testing.T) {
	h := startHelper(t, "alloc")
	h.line(t)
	pid := h.cmd.Process.Pid
	h.in.Close()
	h.cmd.Wait()
	if _, err := SampleTree(pid); err == nil {
		t.Errorf("sampling exited process %d succeeded", pid)
	}
}

func TestParentOfSelf(t *testing.T) {
	ppid, err := parentOf(os.Getpid())
	if err != nil || ppid != os.Getppid() {
		t.Errorf("parentOf(self) = %d, %v; want %d", ppid, err, os.Getppid())
	}
}

func sorted(v ...int) []int { slices.Sort(v); return v }

func TestGOGCNoteSaysWhereGOGCCameFrom(t *testing.T) {
	t.Setenv("GOGC", "80")
	if got := GOGCNote(); !strings.Contains(got, "GOGC=80") {
		t.Errorf("GOGCNote() = %q, want the environment's GOGC=80", got)
	}
	os.Unsetenv("GOGC")
	if got := GOGCNote(); !strings.Contains(got, "own default") {
		t.Errorf("GOGCNote() = %q, want distro's default named", got)
	}
}
