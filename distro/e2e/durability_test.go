package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The server on its default SQLite datastore is killed with SIGKILL at random moments while
// clients create ConfigMaps; every create the API acknowledged (201 Created) must survive.

const (
	killCycles        = 20
	durabilityNS      = "default"
	durabilityWriters = 4 // concurrent clients
	// maxKillDelay bounds the random wait, after a cycle's first acknowledged write, before
	// the kill.
	maxKillDelay = 2 * time.Second
)

// apiClient returns an HTTP client authenticated as the admin kubeconfig says, and the API URL.
func apiClient(t *testing.T, kubeconfig string) (*http.Client, string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 20 * time.Second
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client, cfg.Host
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("SIGKILL: %v", err)
	}
	s.wait()
}

// readyLine is what the server logs once every component has started.
const readyLine = "distro server is ready"

// waitStarted waits until the server has started every component, not only the API that
// start polls: a SIGTERM before that interrupts the start, which the server reports as a
// failure.
func (s *server) waitStarted() {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(s.log.String(), readyLine) {
		if s.hasExited() || time.Now().After(deadline) {
			s.t.Fatalf("the server did not log %q within 3 minutes of its start; its log:\n%s", readyLine, tail(s.log.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ackLog records the names whose create was acknowledged, in order.
type ackLog struct {
	mu       sync.Mutex
	names    []string
	failures int
}

func (a *ackLog) add(name string) {
	a.mu.Lock()
	a.names = append(a.names, name)
	a.mu.Unlock()
}

func (a *ackLog) fail() {
	a.mu.Lock()
	a.failures++
	a.mu.Unlock()
}

func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.names)
}

func createConfigMap(ctx context.Context, client *http.Client, host, name string) (int, error) {
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name},
		"data":     map[string]string{"written": name},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, host+"/api/v1/namespaces/"+durabilityNS+"/configmaps", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func listConfigMaps(t *testing.T, client *http.Client, host string) map[string]bool {
	t.Helper()
	resp, err := client.Get(host + "/api/v1/namespaces/" + durabilityNS + "/configmaps")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
		} `json:"items"`
		Metadata struct{ Continue string } `json:"metadata"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("listing ConfigMaps: %s %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.Metadata.Continue != "" {
		t.Fatal("the ConfigMap list came back in pages; the test expects one")
	}
	names := map[string]bool{}
	for _, item := range list.Items {
		names[item.Metadata.Name] = true
	}
	return names
}

func TestServerKeepsAcknowledgedWritesAcrossSIGKILL(t *testing.T) {
	begin := time.Now()
	s := newServer(t)
	s.start()
	client, host := apiClient(t, s.kubeconfig)

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("random kill moments from seed %d", seed)

	acks := &ackLog{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range durabilityWriters {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				name := fmt.Sprintf("w%d-%07d", w, seq)
				code, err := createConfigMap(ctx, client, host, name)
				if err == nil && code == http.StatusCreated {
					acks.add(name)
					continue
				}
				acks.fail()
				// The server is down or starting: try again soon, under a new name, since the
				// failed create may or may not have been stored.
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()

	// waitForAck waits until a write made after the (re)start is acknowledged.
	waitForAck := func(after int, what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for acks.count() <= after {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no write acknowledged within 2 minutes of the server being ready; its log:\n%s", what, tail(s.log.String(), 40))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	var restarts []time.Duration
	lastKill := 0
	for cycle := 1; cycle <= killCycles; cycle++ {
		waitForAck(acks.count(), fmt.Sprintf("cycle %d", cycle))
		time.Sleep(time.Duration(rng.Int64N(int64(maxKillDelay))))
		s.kill()
		n := acks.count()
		t.Logf("cycle %2d: SIGKILL after %d writes acknowledged since the previous one (%d in all)", cycle, n-lastKill, n)
		lastKill = n
		restart := time.Now()
		s.start()
		restarts = append(restarts, time.Since(restart))
	}
	waitForAck(acks.count(), "after the last restart")
	cancel()
	wg.Wait()

	present := listConfigMaps(t, client, host)
	acks.mu.Lock()
	acked, failures := append([]string(nil), acks.names...), acks.failures
	acks.mu.Unlock()
	var missing []string
	for _, name := range acked {
		if !present[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged ConfigMaps are gone after %d SIGKILLs: %v", len(missing), len(acked), killCycles, missing)
	}
	s.waitStarted()
	s.stop()

	sort.Slice(restarts, func(i, j int) bool { return restarts[i] < restarts[j] })
	t.Logf("%d acknowledged writes, all checked; %d failed or refused attempts while the server was down or starting", len(acked), failures)
	t.Logf("restart after SIGKILL to /readyz: median %s, max %s; whole test %s",
		restarts[len(restarts)/2].Round(10*time.Millisecond), restarts[len(restarts)-1].Round(10*time.Millisecond), time.Since(begin).Round(time.Second))
}
