package serverbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeOptions(t *testing.T) (Options, string) {
	t.Helper()
	record := filepath.Join(t.TempDir(), "record")
	t.Setenv("BENCH_FAKE", record)
	return Options{Binary: os.Args[0], Runs: 2, Idle: 10 * time.Millisecond, Objects: 40, Clients: 4,
		Scratch: t.TempDir(), StopTimeout: 10 * time.Second, ReadyTimeout: 30 * time.Second}, record
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestRunAlternatesSqliteAndEtcd(t *testing.T) {
	o, record := fakeOptions(t)
	o.EtcdBinary = os.Args[0]
	var out bytes.Buffer
	if err := Run(context.Background(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{"bench:server", "2 run(s)", "start → /readyz, fresh data dir", "restart → /readyz",
		"PSS total after 10ms idle", "anonymous total", "RSS total", "SIGTERM → exit",
		"create 40 ConfigMaps, 4 clients: kine/sqlite", "create 40 ConfigMaps, 4 clients: etcd", "sqlite/etcd throughput"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "SIGTERM:") || strings.Contains(out.String(), "exited after SIGTERM") {
		t.Errorf("a fake stopped uncleanly:\n%s", out.String())
	}

	// Two lifecycle runs of two starts each, then the loads alternating.
	lines := strings.Split(strings.TrimSpace(readFile(t, record)), "\n")
	if len(lines) != 10 {
		t.Fatalf("recorded starts:\n%s", strings.Join(lines, "\n"))
	}
	for i, l := range lines[:4] {
		if l != "server sqlite" {
			t.Errorf("lifecycle start %d: %q, want the default datastore", i, l)
		}
	}
	for i, l := range lines[4:] {
		want := []string{"server sqlite", "etcd", "server http://127.0.0.1:"}[i%3]
		if !strings.HasPrefix(l, want) {
			t.Errorf("load start %d: %q, want %q (sqlite, then etcd and a server on it)", i, l, want)
		}
	}
	for i := range 2 {
		if got := readFile(t, filepath.Join(o.Scratch, fmt.Sprint("run-", i), "data", "starts")); got != "xx" {
			t.Errorf("lifecycle run %d: starts on its data dir %q, want a start and a restart", i, got)
		}
		for _, kind := range []string{"sqlite", "etcd"} {
			if got := readFile(t, filepath.Join(o.Scratch, fmt.Sprint("load-", kind, "-", i), "data", "created")); got != "40" {
				t.Errorf("load %s %d: the server saw %s distinct ConfigMaps, want 40", kind, i, got)
			}
		}
	}
}

func TestRunWithoutEtcdSaysWhy(t *testing.T) {
	o, _ := fakeOptions(t)
	o.Runs = 1
	var out bytes.Buffer
	if err := Run(context.Background(), o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "etcd comparison skipped: ETCD_BINARY is not set") || strings.Contains(out.String(), "sqlite/etcd") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestLifecycleMeasuresTheServerProcess(t *testing.T) {
	o, _ := fakeOptions(t)
	lc, err := RunLifecycle(context.Background(), o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(lc.Memory.Procs) != 1 || lc.Memory.Pss == 0 || lc.Memory.Anon == 0 || lc.Memory.Procs[0].Comm != filepath.Base(os.Args[0])[:min(15, len(filepath.Base(os.Args[0])))] {
		t.Errorf("memory sample %+v", lc.Memory)
	}
	if len(lc.StopErrors) != 0 {
		t.Errorf("the fake exits cleanly on SIGTERM, got %v", lc.StopErrors)
	}
}

func TestReadyGivesUpWhenServerExits(t *testing.T) {
	o, _ := fakeOptions(t)
	t.Setenv("BENCH_FAKE_FAIL", "1")
	start := time.Now()
	_, err := RunLifecycle(context.Background(), o, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "server exited before /readyz") || !strings.Contains(err.Error(), "refusing to start as asked") {
		t.Errorf("got %v, want the exit and the end of the server's log", err)
	}
	if time.Since(start) > o.ReadyTimeout {
		t.Errorf("waited out the timeout instead of noticing the exit")
	}
}
