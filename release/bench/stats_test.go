package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in               []float64
		median, min, max float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		in := append([]float64(nil), tc.in...)
		s := Summarize(Count, tc.in...)
		if s.N != len(in) || s.Median != tc.median || s.Min != tc.min || s.Max != tc.max {
			t.Errorf("Summarize(%v) = %+v", in, s)
		}
		if !equal(tc.in, in) {
			t.Errorf("Summarize reordered its input: %v", tc.in)
		}
	}
	if s := Summarize(Count); s.N != 0 || s.String() != "(no runs)" {
		t.Errorf("empty: %+v %q", s, s)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStatsString(t *testing.T) {
	for _, tc := range []struct {
		s    Stats
		want string
	}{
		{Durations(4*time.Second, 3500*time.Millisecond, 5*time.Second), "4.00 s (3.50–5.00 s, n=3)"},
		{Sizes(512<<20, 256<<20, 1<<30), "512.0 MiB (256.0–1024.0 MiB, n=3)"},
		{Summarize(PerSecond, 812.25), "812.2 /s (n=1)"},
		{Summarize(Ratio, 0.8, 1.2), "1.00× (0.80–1.20×, n=2)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestReportNamesMachineAndRuns(t *testing.T) {
	r, err := NewReport("bench:test", 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Machine.CPUs != runtime.NumCPU() || r.Machine.MemTotal < 64<<20 {
		t.Errorf("machine %+v", r.Machine)
	}
	r.Add("start", Durations(time.Second, 2*time.Second, 3*time.Second))
	r.Value("sha256", "abc")
	r.Note("skipped %s", "etcd")
	var b bytes.Buffer
	r.WriteTo(&b)
	out := b.String()
	for _, want := range []string{"bench:test", r.Machine.String(), "3 run(s)", "start", "2.00 s (1.00–3.00 s, n=3)", "sha256", "note: skipped etcd"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestMeminfoTotal(t *testing.T) {
	got, err := meminfoTotal([]byte("MemFree:  10 kB\nMemTotal:       24684092 kB\n"))
	if err != nil || got != 24684092*1024 {
		t.Errorf("got %d, %v", got, err)
	}
	if _, err := meminfoTotal([]byte("MemFree: 10 kB\n")); err == nil {
		t.Error("no MemTotal line accepted")
	}
	if _, err := meminfoTotal([]byte("MemTotal: 10 MB\n")); err == nil {
		t.Error("a unit other than kB accepted")
	}
}

func TestUntilWaitsForCommand(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "flag")
	attempts := 0
	check := Command("test", "-e", flag)
	counting := func(ctx context.Context) error {
		attempts++
		if attempts == 3 {
			os.WriteFile(flag, nil, 0o644)
		}
		return check(ctx)
	}
	if _, err := Until(context.Background(), time.Now(), time.Millisecond, counting); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 {
		t.Errorf("%d attempts, want success on the third, the first after the file appeared", attempts)
	}
}

func TestUntilGivesUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	_, err := Until(ctx, time.Now(), time.Millisecond, func(context.Context) error {
		if attempts++; attempts == 2 {
			cancel()
		}
		return Command("false")(ctx)
	})
	if err == nil || !strings.Contains(err.Error(), "2 attempts") || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled poll: %v", err)
	}

	stop := errors.New("server exited")
	attempts = 0
	_, err = Until(context.Background(), time.Now(), time.Millisecond, func(context.Context) error {
		attempts++
		return Stop(stop)
	})
	if !errors.Is(err, stop) || attempts != 1 {
		t.Errorf("Stop: %v after %d attempts, want the error after one", err, attempts)
	}
}
