package nodebench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 30; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Second)
	}
	for q, want := range map[float64]time.Duration{0.9: 27 * time.Second, 0.5: 15 * time.Second, 1: 30 * time.Second, 0: time.Second} {
		if got := percentile(ds, q); got != want {
			t.Errorf("percentile(%v) = %s, want %s", q, got, want)
		}
	}
	if ds[0] != 30*time.Second {
		t.Error("percentile sorted its input in place")
	}
	if percentile(nil, 0.9) != 0 {
		t.Error("no values give 0")
	}
}
