package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/distro-io/distro/release/images"
	stepimages "github.com/distro-io/distro/release/steps/images"
)

// probeImage is the test image: the probe program (./probe) alone in a scratch image.
const probeImage = "distro.test/probe:1"

var (
	probeOnce    sync.Once
	probeArchive string
	probeErr     error
)

// buildProbeArchive builds the probe image's archive once per test binary.
func buildProbeArchive(t *testing.T) string {
	t.Helper()
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "distro-probe-")
		if err != nil {
			probeErr = err
			return
		}
		bin := filepath.Join(dir, "probe")
		// go test runs in the package directory.
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("building the probe: %v\n%s", err, out)
			return
		}
		content, err := os.ReadFile(bin)
		if err != nil {
			probeErr = err
			return
		}
		img, err := images.SingleFileImage("probe", content, nil, v1.Config{Entrypoint: []string{"/probe"}, Cmd: []string{"sleep"}})
		if err != nil {
			probeErr = err
			return
		}
		probeArchive = filepath.Join(dir, "probe.tar")
		probeErr = images.WriteArchiveFile(probeArchive, []images.Named{{Ref: probeImage, Image: img}})
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probeArchive
}

// newNodeServer is a server that runs its own node, with the airgap images (CoreDNS) and the
// probe image in its images dir. Its node is taken off the host when the test ends.
func newNodeServer(t *testing.T) *server {
	t.Helper()
	s := newServer(t)
	s.node = true
	// containerd's socket lives under the data dir, and a unix socket path has 107 bytes at most:
	// a test's temp dir is too deep.
	short, err := os.MkdirTemp("", "d")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	s.dataDir = short
	imagesDir := filepath.Join(s.dataDir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	airgap := filepath.Join(filepath.Dir(s.bin), stepimages.Archive)
	if _, err := os.Stat(airgap); err != nil {
		t.Fatalf("the airgap images (CoreDNS) are needed beside the binary: %v (`go tool mage images:build`)", err)
	}
	for _, src := range []string{airgap, buildProbeArchive(t)} {
		if err := os.Link(src, filepath.Join(imagesDir, filepath.Base(src))); err != nil {
			copyFile(t, src, filepath.Join(imagesDir, filepath.Base(src)))
		}
	}
	// Registered first, so it runs after the server process is gone.
	t.Cleanup(func() {
		if out, err := exec.Command(s.bin, "killall", "--data-dir", s.dataDir).CombinedOutput(); err != nil {
			t.Errorf("killall: %v\n%s", err, out)
		}
	})
	return s
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls kubectl until its output contains want.
func (s *server) waitFor(what string, timeout time.Duration, want string, args ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var out string
	var err error
	for time.Now().Before(deadline) {
		if out, err = s.kubectlErr(args...); err == nil && strings.Contains(out, want) {
			return out
		}
		time.Sleep(time.Second)
	}
	s.t.Fatalf("%s: no %q after %s; last answer: %v\n%s\nserver log:\n%s", what, want, timeout, err, out, tail(s.log.String(), 40))
	return ""
}

func TestOneNodeServerRunsPodsServicesAndDNSWithoutPulls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a node needs root")
	}
	s := newNodeServer(t)
	s.start()
	s.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=3m")
	if out := s.kubectl("get", "nodes", "-o", "wide"); !strings.Contains(out, expectedVersion(t)) {
		t.Errorf("get nodes -o wide does not show %s:\n%s", expectedVersion(t), out)
	}

	// A Deployment behind a Service, and a client pod that reaches it by its DNS name: pod
	// networking, kube-proxy, CoreDNS, and exec through the kubelet.
	s.kubectl("create", "deployment", "web", "--image="+probeImage, "--replicas=2", "--port=8080", "--", "/probe", "serve", ":8080")
	s.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
	s.kubectl("run", "client", "--image="+probeImage, "--restart=Never")
	s.kubectl("rollout", "status", "deployment/web", "--timeout=3m")
	s.kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=3m")
	s.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=3m")
	out := s.waitFor("the web Service by name", 2*time.Minute, "web-", "exec", "client", "--", "/probe", "get", "http://web.default.svc.cluster.local/")
	if !strings.HasPrefix(out, "web-") {
		t.Errorf("the Service answered %q, want a web pod's name", out)
	}
	if out := s.kubectl("exec", "client", "--", "/probe", "lookup", "kubernetes.default"); !strings.Contains(out, "10.43.0.1") {
		t.Errorf("kubernetes.default resolves to %q, want 10.43.0.1", out)
	}
	if out := s.kubectl("logs", "deployment/web"); !strings.Contains(out, "serving on :8080") {
		t.Errorf("logs of web: %q", out)
	}

	// Every image came from the binary or the images dir.
	if out := s.kubectl("get", "events", "-A", "--field-selector=reason=Pulling", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("images were pulled:\n%s", out)
	}

	// A pod with imagePullPolicy Always pulls its image from the node's registry mirror: the
	// probe image is in the images dir alone, and no registry answers for distro.test.
	s.kubectl("run", "always", "--image="+probeImage, "--image-pull-policy=Always", "--restart=Never")
	s.kubectl("wait", "--for=condition=Ready", "pod/always", "--timeout=3m")
	// ("already present on machine", the other Pulled event, would mean the pull was skipped.)
	s.waitFor("the pull of pod always", 30*time.Second, "Successfully pulled image", "get", "events", "--field-selector=involvedObject.name=always,reason=Pulled", "-o", "jsonpath={.items[*].message}")
	s.kubectl("delete", "pod", "always", "--now")

	// The kubelet serves on loopback only: its port is closed on the node's address.
	nodeIP := strings.TrimSpace(s.kubectl("get", "nodes", "-o", "jsonpath={.items[0].status.addresses[?(@.type==\"InternalIP\")].address}"))
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(nodeIP, "10250"), 2*time.Second); err == nil {
		c.Close()
		t.Errorf("the kubelet port answers on %s", nodeIP)
	}

	// Restarting distro leaves the pods running: same containers, no restarts.
	before := s.kubectl("get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].containerID};{end}")
	s.stop()
	if err := syscall.Kill(pidOf(t, filepath.Join(s.dataDir, "agent", "containerd", "containerd.pid")), 0); err != nil {
		t.Errorf("containerd did not outlive distro: %v", err)
	}
	s.start()
	s.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=3m")
	s.kubectl("wait", "--for=condition=Ready", "pod", "--all", "--timeout=3m")
	if after := s.kubectl("get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].containerID};{end}"); after != before {
		t.Errorf("containers changed across a restart:\nbefore %s\nafter  %s", before, after)
	}
	s.waitFor("the web Service after a restart", 2*time.Minute, "web-", "exec", "client", "--", "/probe", "get", "http://web/")
	s.stop()
}

func pidOf(t *testing.T, pidFile string) int {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(data), &pid); err != nil {
		t.Fatalf("%s: %v", pidFile, err)
	}
	return pid
}
