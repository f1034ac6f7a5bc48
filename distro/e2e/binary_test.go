package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distro-io/distro/release/upstream"
)

// binary returns the distro binary under test and an environment with a data dir of its own.
func binary(t *testing.T) (string, []string) {
	bin, env, _ := binaryWithDataDir(t)
	return bin, env
}

func binaryWithDataDir(t *testing.T) (string, []string, string) {
	t.Helper()
	bin := os.Getenv("DISTRO_BINARY")
	if bin == "" {
		t.Skip("DISTRO_BINARY is not set: `go tool mage test` builds dist/distro and sets it")
	}
	dataDir := t.TempDir()
	env := append(os.Environ(), "DISTRO_DATA_DIR="+dataDir, "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	return bin, env, dataDir
}

func expectedVersion(t *testing.T) string {
	t.Helper()
	// go test runs in the package directory (file names from runtime.Caller are not paths under -trimpath).
	lock, err := upstream.Load(filepath.Join("..", "..", "upstream.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return lock.ReleaseVersion()
}

func run(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestVersionIsStamped(t *testing.T) {
	bin, env := binary(t)
	want := expectedVersion(t)
	if out := run(t, bin, env, "--version"); !strings.Contains(out, want) {
		t.Errorf("distro --version printed %q, want %s", out, want)
	}
}

func TestKubectlClientVersionIsStamped(t *testing.T) {
	bin, env := binary(t)
	want := expectedVersion(t)
	out := run(t, bin, env, "kubectl", "version", "--client", "-o", "yaml")
	if !strings.Contains(out, "gitVersion: "+want) {
		t.Errorf("distro kubectl version --client printed\n%s\nwant gitVersion: %s", out, want)
	}
	if !strings.Contains(out, "gitTreeState: clean") && !strings.Contains(out, "gitTreeState: dirty") {
		t.Errorf("kubectl version lacks the tree state:\n%s", out)
	}
}

func TestContainerdIsLinkedIn(t *testing.T) {
	bin, env := binary(t)
	for _, args := range [][]string{
		{"ctr", "--version"},
		{"containerd", "--version"},
	} {
		if out := run(t, bin, env, args...); !strings.Contains(out, "2.4.2") {
			t.Errorf("distro %s printed %q, want containerd 2.4.2", strings.Join(args, " "), out)
		}
	}
}

func TestUnknownCommandIsRefused(t *testing.T) {
	bin, env := binary(t)
	cmd := exec.Command(bin, "no-such-command")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown command "no-such-command"`) {
		t.Errorf("distro no-such-command: err %v, output %q; want a refusal naming the command", err, out)
	}
}

func TestPayloadUnpacksRuncShimAndCNIPlugins(t *testing.T) {
	bin, env, dataDir := binaryWithDataDir(t)
	run(t, bin, env, "--version") // the first run unpacks the payload
	binDir := filepath.Join(dataDir, "data", "current", "bin")
	if out := run(t, filepath.Join(binDir, "runc"), env, "--version"); !strings.Contains(out, "1.5.3") || !strings.Contains(out, "seccomp") {
		t.Errorf("runc --version printed %q, want 1.5.3 with seccomp", out)
	}
	if out := run(t, filepath.Join(binDir, "containerd-shim-runc-v2"), env, "-v"); !strings.Contains(out, "2.4.2") {
		t.Errorf("containerd-shim-runc-v2 -v printed %q, want 2.4.2", out)
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if st, err := os.Stat(filepath.Join(binDir, plugin)); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("CNI plugin %s not unpacked as an executable: %v", plugin, err)
		}
	}
}
