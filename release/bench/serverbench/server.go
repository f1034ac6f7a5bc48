// Package serverbench measures `distro server`: start → /readyz on a fresh data dir and on
// restart, memory of its processes after an idle time, SIGTERM → exit, and ConfigMap
// create throughput on kine/sqlite and, when an etcd binary is at hand, on etcd.
package serverbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/distro-io/distro/release/bench"
)

// Server is one `distro server --disable-agent` process on loopback.
type Server struct {
	Binary     string
	Env        []string // added to this process's environment
	DataDir    string
	Kubeconfig string
	Port       int
	Datastore  string // --datastore-endpoint; empty for the default kine/sqlite
	LogFile    string // the server's output

	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit, once done is closed
}

// Args are the command line arguments of the server.
func (s *Server) Args() []string {
	args := []string{"server", "--disable-agent", "--data-dir", s.DataDir,
		"--write-kubeconfig", s.Kubeconfig, "--https-listen-port", fmt.Sprint(s.Port),
		// Loopback only, while the host address is advertised (the apiserver refuses a loopback one).
		"--bind-address", "127.0.0.1"}
	if s.Datastore != "" {
		args = append(args, "--datastore-endpoint", s.Datastore)
	}
	return args
}

// Start launches the server and returns the moment it was started.
func (s *Server) Start() (time.Time, error) {
	log, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return time.Time{}, err
	}
	s.cmd = exec.Command(s.Binary, s.Args()...)
	s.cmd.Env = append(os.Environ(), s.Env...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		log.Close()
		return start, err
	}
	s.done = make(chan struct{})
	go func() {
		s.err = s.cmd.Wait()
		log.Close()
		close(s.done)
	}()
	return start, nil
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process ended, and how.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.err
	default:
		return false, nil
	}
}

// Ready polls /readyz with the admin kubeconfig's client certificate every interval until
// it answers ok, and returns the time since start. The kubeconfig is read at every attempt:
// a restart may rewrite it. It gives up at once when the server exits.
func (s *Server) Ready(ctx context.Context, start time.Time, interval time.Duration) (time.Duration, error) {
	return bench.Until(ctx, start, interval, func(ctx context.Context) error {
		if exited, err := s.Exited(); exited {
			return bench.Stop(fmt.Errorf("server exited before /readyz was ok (%v); its log ends:\n%s", err, s.LogTail(30)))
		}
		cfg, err := s.RESTConfig()
		if err != nil {
			return err // not written yet
		}
		client, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return err
		}
		return readyz(ctx, client, strings.TrimSuffix(cfg.Host, "/"))
	})
}

func readyz(ctx context.Context, client *http.Client, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+"/readyz", nil)
	if err != nil {
		return bench.Stop(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("/readyz: %s %q", resp.Status, body)
	}
	return nil
}

// RESTConfig reads the admin kubeconfig the server wrote.
func (s *Server) RESTConfig() (*rest.Config, error) {
	if _, err := os.Stat(s.Kubeconfig); err != nil {
		return nil, err
	}
	return clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
}

// Stop sends SIGTERM and returns the time until the process exited. A process still there
// after timeout is killed and reported as an error, as is an exit other than 0.
func (s *Server) Stop(timeout time.Duration) (time.Duration, error) {
	return stopProcess(s.cmd, s.done, func() error { return s.err }, timeout)
}

func stopProcess(cmd *exec.Cmd, done chan struct{}, exitErr func() error, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, err
	}
	select {
	case <-done:
		d := time.Since(start)
		if err := exitErr(); err != nil {
			return d, fmt.Errorf("%s exited after SIGTERM with %v", filepath.Base(cmd.Path), err)
		}
		return d, nil
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return time.Since(start), fmt.Errorf("%s did not exit within %s of SIGTERM: killed", filepath.Base(cmd.Path), timeout)
	}
}

// LogTail returns the last n lines of the server's output.
func (s *Server) LogTail(n int) string {
	data, _ := os.ReadFile(s.LogFile)
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
