package supervisor

import (
	"strings"
	"testing"
	"time"
)

func TestBackoffDoublesUpToCapAndResetsAfterStableRun(t *testing.T) {
	r := newRestarts(RestartPolicy{
		BackoffBase: time.Second, BackoffCap: 5 * time.Second,
		StableAfter: time.Minute, MaxRestarts: 100, Window: time.Hour,
	})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		ranFor time.Duration
		want   time.Duration
	}{
		{time.Second, 1 * time.Second},
		{time.Second, 2 * time.Second},
		{time.Second, 4 * time.Second},
		{time.Second, 5 * time.Second},
		{time.Second, 5 * time.Second},
		{2 * time.Minute, 1 * time.Second}, // ran stably: a fresh problem
		{time.Second, 2 * time.Second},
	}
	for i, step := range steps {
		started := now
		now = now.Add(step.ranFor)
		got, err := r.afterExit(started, now)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != step.want {
			t.Errorf("step %d: wait %s, want %s", i, got, step.want)
		}
		now = now.Add(got)
	}
}

func TestRestartsGiveUpBeyondMaxWithinWindow(t *testing.T) {
	policy := RestartPolicy{BackoffBase: time.Second, MaxRestarts: 2, Window: time.Minute}
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	r := newRestarts(policy)
	for i := range 2 {
		at := start.Add(time.Duration(i) * time.Second)
		if _, err := r.afterExit(at, at); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
	}
	at := start.Add(3 * time.Second)
	_, err := r.afterExit(at, at)
	if err == nil || !strings.Contains(err.Error(), "exited 3 times within 1m0s") {
		t.Fatalf("third exit within the window = %v, want giving up", err)
	}

	// The same exits spread wider than the window never give up.
	r = newRestarts(policy)
	for i := range 10 {
		at := start.Add(time.Duration(i) * 31 * time.Second)
		if _, err := r.afterExit(at, at); err != nil {
			t.Fatalf("exit %d, 31s apart: %v", i+1, err)
		}
	}
}

func TestRestartPolicyDefaultsAndValidation(t *testing.T) {
	p := RestartPolicy{}.withDefaults()
	if p.BackoffBase != DefaultBackoffBase || p.MaxRestarts != DefaultMaxRestarts || p.Window != DefaultWindow {
		t.Errorf("defaults = %+v", p)
	}
	err := RestartPolicy{BackoffBase: time.Minute, BackoffCap: time.Second, MaxRestarts: -1}.validate()
	if err == nil || !strings.Contains(err.Error(), "below backoff base") || !strings.Contains(err.Error(), "max restarts is negative") {
		t.Errorf("validate = %v, want both problems", err)
	}
}
