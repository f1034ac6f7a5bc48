package suite

import (
	"strings"
	"testing"
)

func TestOutcome(t *testing.T) {
	if err := Outcome(&Result{Passed: []string{"a", "b"}}, 2); err != nil {
		t.Errorf("all passed: %v", err)
	}
	err := Outcome(&Result{Passed: []string{"a"}, Failed: []string{"[sig-x] b"}}, 2)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 tests failed") || !strings.Contains(err.Error(), "[sig-x] b") {
		t.Errorf("a failure: %v", err)
	}
	err = Outcome(&Result{Passed: []string{"a"}, Log: "/r/e2e.log"}, 2)
	if err == nil || !strings.Contains(err.Error(), "1 of the 2 tests did not pass nor fail") || !strings.Contains(err.Error(), "/r/e2e.log") {
		t.Errorf("a test that never ran: %v", err)
	}
}
