package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distro-io/distro/distro/localcluster"
)

// server is a `distro server` process with its own data dir and ports, running the control
// plane only (--disable-agent) unless it was made by newNodeServer.
type server struct {
	node       bool
	t          *testing.T
	bin        string
	env        []string
	dataDir    string
	kubeconfig string
	port       int
	cmd        *exec.Cmd
	log        *bytes.Buffer
	exited     chan struct{} // closed once the process is gone
	waitErr    error
}

func newServer(t *testing.T) *server {
	bin, env, dataDir := binaryWithDataDir(t)
	return &server{t: t, bin: bin, env: env, dataDir: dataDir,
		kubeconfig: filepath.Join(t.TempDir(), "admin.yaml"), port: freePort(t)}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *server) start(extra ...string) {
	s.t.Helper()
	args := []string{"server", "--data-dir", s.dataDir, "--write-kubeconfig", s.kubeconfig, "--https-listen-port", fmt.Sprint(s.port)}
	if !s.node {
		args = append(args, "--disable-agent")
	} else {
		// Absolute disk thresholds: the host's disk may be mostly used by other things.
		args = append(args, localcluster.EvictionArg)
	}
	args = append(args, extra...)
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Env = s.env
	s.log = &bytes.Buffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func() {
		s.waitErr = s.cmd.Wait()
		close(exited)
	}()
	s.t.Cleanup(func() {
		if !s.hasExited() {
			s.cmd.Process.Kill()
			s.wait()
		}
	})
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := s.kubectlErr("get", "--raw", "/readyz"); err == nil {
			// The apiserver answers before the components after it have started.
			s.waitStarted()
			return
		}
		if s.hasExited() {
			s.t.Fatalf("server exited (%v) before it was ready; its log:\n%s", s.waitErr, tail(s.log.String(), 60))
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Fatalf("server not ready within 3 minutes; its log:\n%s", tail(s.log.String(), 60))
}

// wait waits for the process to exit and returns how it ended.
func (s *server) wait() error {
	<-s.exited
	return s.waitErr
}

func (s *server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and requires a clean exit within the bound.
func (s *server) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if err := s.waitErr; err != nil {
			s.t.Fatalf("server exited with %v after SIGTERM; its log:\n%s", err, tail(s.log.String(), 40))
		}
	case <-time.After(2 * time.Minute):
		s.cmd.Process.Kill()
		s.t.Fatalf("server did not exit within 2 minutes of SIGTERM; its log:\n%s", tail(s.log.String(), 40))
	}
}

func (s *server) kubectlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"kubectl", "--kubeconfig", s.kubeconfig}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *server) kubectl(args ...string) string {
	s.t.Helper()
	out, err := s.kubectlErr(args...)
	if err != nil {
		s.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestServerOnSQLiteServesKeepsObjectsAndEncryptsSecrets(t *testing.T) {
	s := newServer(t)
	s.start()

	if out := s.kubectl("get", "ns", "-o", "name"); !strings.Contains(out, "namespace/kube-system") {
		t.Errorf("get ns: %s", out)
	}
	s.kubectl("create", "configmap", "kept", "--from-literal=answer=42")
	const plaintext = "a-secret-value-that-must-not-be-stored-in-clear"
	s.kubectl("create", "secret", "generic", "hidden", "--from-literal=value="+plaintext)

	// The controller-manager and the scheduler run too: the default service account appears.
	deadline := time.Now().Add(time.Minute)
	for {
		if out, err := s.kubectlErr("get", "serviceaccount", "default", "-o", "name"); err == nil && strings.Contains(out, "default") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no default service account after a minute: the controller-manager is not working\n%s", tail(s.log.String(), 40))
		}
		time.Sleep(time.Second)
	}

	s.stop()

	db := filepath.Join(s.dataDir, "server", "db")
	var stored []byte
	filepath.Walk(db, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(path)
			stored = append(stored, data...)
		}
		return nil
	})
	if len(stored) == 0 {
		t.Fatalf("no database files under %s", db)
	}
	if !bytes.Contains(stored, []byte("kept")) {
		t.Errorf("the ConfigMap's name is not in the sqlite files: the test does not look at the right data")
	}
	if bytes.Contains(stored, []byte(plaintext)) {
		t.Errorf("the Secret's value is stored in plaintext in %s", db)
	}

	certBefore, _ := os.ReadFile(filepath.Join(s.dataDir, "server", "tls", "server-ca.crt"))
	s.start()
	if out := s.kubectl("get", "configmap", "kept", "-o", "jsonpath={.data.answer}"); out != "42" {
		t.Errorf("after a restart the ConfigMap holds %q, want 42", out)
	}
	if out := s.kubectl("get", "secret", "hidden", "-o", "jsonpath={.data.value}"); out == "" {
		t.Errorf("after a restart the Secret is gone")
	}
	if certAfter, _ := os.ReadFile(filepath.Join(s.dataDir, "server", "tls", "server-ca.crt")); !bytes.Equal(certBefore, certAfter) {
		t.Errorf("the cluster CA changed across a restart")
	}
	s.stop()
}

func TestServerRefusesBadConfiguration(t *testing.T) {
	bin, env, dataDir := binaryWithDataDir(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfg, []byte("disable-agent: true\ncluster-cidrs: 10.0.0.0/8\n"), 0o600)
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--config", cfg)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("server started with an unknown config key:\n%s", out)
	}
	for _, want := range []string{cfg, "cluster-cidrs", "cluster-cidr"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "server")); err == nil {
		t.Errorf("a refused start created %s/server", dataDir)
	}
}
