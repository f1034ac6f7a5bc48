package cluster

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The nodes' logs and their containerd logs are copied out of the cluster dir before it is
// removed, flattened into one dir.
func TestCopyNodeLogs(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"server-0.log": "s",
		"agent-1.log":  "a",
		"server-0/agent/containerd/containerd.log": "c",
		"server-0/agent/images/x.tar":              "not a log",
		"kubeconfig.yaml":                          "secret",
	} {
		p := filepath.Join(dir, "cluster", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o600)
	}
	dst := filepath.Join(dir, "results", "nodes")
	if err := copyNodeLogs(filepath.Join(dir, "cluster"), dst); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dst)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"agent-1.log", "server-0.log", "server-0_agent_containerd_containerd.log"}; !slices.Equal(names, want) {
		t.Errorf("copied %q, want %q", names, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "server-0_agent_containerd_containerd.log")); string(b) != "c" {
		t.Errorf("containerd log = %q", b)
	}
	// Nothing to copy is not an error.
	if err := copyNodeLogs(filepath.Join(dir, "missing"), dst); err != nil {
		t.Error(err)
	}
}
