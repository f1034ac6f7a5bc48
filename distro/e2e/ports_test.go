package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// listeningPorts returns the TCP ports pid listens on, with the address each is bound to,
// read from /proc: the process's socket inodes matched against the listening sockets.
func listeningPorts(t *testing.T, pid int) map[int]string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	ports := map[int]string{}
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// local_address is hex IP:port; state 0A is LISTEN; field 9 is the inode.
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			addr, portHex, _ := strings.Cut(f[1], ":")
			port, _ := strconv.ParseInt(portHex, 16, 32)
			ports[int(port)] = addr
		}
	}
	return ports
}

// Every port the server opens is documented (README.md, "Ports it opens"); any other is a bug.
func TestServerListensOnDocumentedPortsOnly(t *testing.T) {
	s := newServer(t)
	supervisorPort := freePort(t)
	s.start("--supervisor-port", fmt.Sprint(supervisorPort))
	defer s.stop()

	ports := listeningPorts(t, s.cmd.Process.Pid)
	want := map[int]bool{s.port: true, supervisorPort: true, 10257: true, 10259: true}
	var got []int
	for p := range ports {
		got = append(got, p)
		if !want[p] {
			t.Errorf("the server listens on undocumented port %d (%s)", p, ports[p])
		}
	}
	sort.Ints(got)
	for p := range want {
		if _, ok := ports[p]; !ok {
			t.Errorf("the server does not listen on %d; it listens on %v", p, got)
		}
	}
	const loopback = "0100007F" // 127.0.0.1 as /proc/net/tcp writes it
	for _, p := range []int{10257, 10259} {
		if addr, ok := ports[p]; ok && addr != loopback {
			t.Errorf("port %d is bound to %s, want loopback only", p, addr)
		}
	}
}
