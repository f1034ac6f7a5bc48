package multicall

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestDaemonGCPercentAppliesWhenGOGCIsUnset(t *testing.T) {
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	applyDaemonGCPercent()
	if got := debug.SetGCPercent(100); got != daemonGCPercent {
		t.Errorf("GC percent = %d, want %d", got, daemonGCPercent)
	}
	if got := os.Getenv("GOGC"); got != "50" {
		t.Errorf("GOGC for children = %q, want 50", got)
	}
}

func TestDaemonGCPercentLeavesAnExplicitGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "200")
	defer debug.SetGCPercent(debug.SetGCPercent(200))

	applyDaemonGCPercent()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Errorf("GC percent = %d, want the 200 GOGC set", got)
	}
	if got := os.Getenv("GOGC"); got != "200" {
		t.Errorf("GOGC = %q, want 200 kept", got)
	}
}
