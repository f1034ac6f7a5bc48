package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// The test binary doubles as the processes the tests measure: BENCH_TEST_HELPER names
// what it does instead of running tests.
func TestMain(m *testing.M) {
	switch os.Getenv("BENCH_TEST_HELPER") {
	case "":
		os.Exit(m.Run())
	case "alloc":
		allocOnRequest()
	case "parent":
		parentOfAllocator()
	}
	os.Exit(0)
}

const allocSize = 64 << 20

// allocOnRequest says "idle", allocates and touches allocSize bytes once a line arrives on
// stdin, says "ready", and holds the memory until stdin closes.
func allocOnRequest() {
	in := bufio.NewReader(os.Stdin)
	fmt.Println("idle")
	if _, err := in.ReadString('\n'); err != nil {
		return
	}
	buf := make([]byte, allocSize)
	for i := 0; i < len(buf); i += os.Getpagesize() {
		buf[i] = 1 // a page counts only once written
	}
	fmt.Println("ready")
	in.ReadString('\n')
	runtime.KeepAlive(buf)
}

// parentOfAllocator starts an allocating child, prints its pid once the child holds its
// memory, and waits for stdin to close.
func parentOfAllocator() {
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), "BENCH_TEST_HELPER=alloc")
	w, _ := child.StdinPipe()
	r, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		fmt.Println("error", err)
		return
	}
	out := bufio.NewReader(r)
	out.ReadString('\n') // idle
	fmt.Fprintln(w)
	out.ReadString('\n') // ready
	fmt.Println(child.Process.Pid)
	bufio.NewReader(os.Stdin).ReadString('\n')
	w.Close()
	child.Wait()
}

// helper is a running helper process and its line-based conversation.
type helper struct {
	cmd *exec.Cmd
	in  *os.File
	out *bufio.Reader
}

func startHelper(t *testing.T, mode string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "BENCH_TEST_HELPER="+mode)
	cmd.Stderr = os.Stderr
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = stdinR
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	h := &helper{cmd: cmd, in: stdinW, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		h.in.Close()
		cmd.Wait()
	})
	return h
}

func (h *helper) line(t *testing.T) string {
	t.Helper()
	s, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper %d: %v", h.cmd.Process.Pid, err)
	}
	return strings.TrimSpace(s)
}

func (h *helper) send(t *testing.T) {
	t.Helper()
	if _, err := fmt.Fprintln(h.in); err != nil {
		t.Fatal(err)
	}
}
