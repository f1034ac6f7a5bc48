package serverbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/distro-io/distro/release/bench"
)

// Etcd is a one-member etcd on loopback for the comparison.
type Etcd struct {
	Binary    string
	DataDir   string
	LogFile   string
	ClientURL string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartEtcd starts etcd with its data in dataDir and waits until /health says true.
func StartEtcd(ctx context.Context, binary, dataDir, logFile string) (*Etcd, error) {
	client, err := FreePort()
	if err != nil {
		return nil, err
	}
	peer, err := FreePort()
	if err != nil {
		return nil, err
	}
	e := &Etcd{Binary: binary, DataDir: dataDir, LogFile: logFile, ClientURL: fmt.Sprintf("http://127.0.0.1:%d", client)}
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	e.cmd = exec.Command(binary, "--name", "bench", "--data-dir", dataDir,
		"--listen-client-urls", e.ClientURL, "--advertise-client-urls", e.ClientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "bench="+peerURL)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	if err := e.cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	e.done = make(chan struct{})
	go func() {
		e.err = e.cmd.Wait()
		log.Close()
		close(e.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = bench.Until(ctx, time.Now(), 100*time.Millisecond, func(ctx context.Context) error {
		select {
		case <-e.done:
			return bench.Stop(fmt.Errorf("etcd exited (%v); see %s", e.err, logFile))
		default:
		}
		return etcdHealthy(ctx, e.ClientURL)
	})
	if err != nil {
		e.Stop(10 * time.Second)
		return nil, err
	}
	return e, nil
}

func etcdHealthy(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	if err != nil {
		return bench.Stop(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"true"`) {
		return fmt.Errorf("etcd /health: %s %s", resp.Status, body)
	}
	return nil
}

// Pid is etcd's process id.
func (e *Etcd) Pid() int { return e.cmd.Process.Pid }

// Stop sends SIGTERM and waits, killing etcd after timeout.
func (e *Etcd) Stop(timeout time.Duration) error {
	_, err := stopProcess(e.cmd, e.done, func() error { return e.err }, timeout)
	return err
}
