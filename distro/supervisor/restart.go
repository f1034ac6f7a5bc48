package supervisor

import (
	"errors"
	"fmt"
	"time"
)

// RestartPolicy says how a child that exits on its own is started again. Zero fields take the
// defaults below.
type RestartPolicy struct {
	// BackoffBase is the wait before restarting a child that ran stably; every quick exit after
	// that doubles the wait.
	BackoffBase time.Duration
	// BackoffCap is the longest wait between restarts.
	BackoffCap time.Duration
	// StableAfter is how long a child must run for its exit to count as a fresh problem rather
	// than another crash in a row: the wait goes back to BackoffBase.
	StableAfter time.Duration
	// MaxRestarts is how many restarts Window may hold. The next exit within Window is reported
	// as a failure and the child is left down.
	MaxRestarts int
	Window      time.Duration
}

// Defaults for RestartPolicy.
const (
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffCap  = 30 * time.Second
	DefaultStableAfter = 2 * time.Minute
	DefaultMaxRestarts = 5
	DefaultWindow      = 5 * time.Minute
)

func (p RestartPolicy) withDefaults() RestartPolicy {
	if p.BackoffBase == 0 {
		p.BackoffBase = DefaultBackoffBase
	}
	if p.BackoffCap == 0 {
		p.BackoffCap = max(DefaultBackoffCap, p.BackoffBase)
	}
	if p.StableAfter == 0 {
		p.StableAfter = DefaultStableAfter
	}
	if p.MaxRestarts == 0 {
		p.MaxRestarts = DefaultMaxRestarts
	}
	if p.Window == 0 {
		p.Window = DefaultWindow
	}
	return p
}

func (p RestartPolicy) validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"backoff base": p.BackoffBase, "backoff cap": p.BackoffCap,
		"stable-after": p.StableAfter, "restart window": p.Window,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s is negative: %s", name, d))
		}
	}
	if p.MaxRestarts < 0 {
		errs = append(errs, fmt.Errorf("max restarts is negative: %d", p.MaxRestarts))
	}
	if p.BackoffCap > 0 && p.BackoffCap < p.BackoffBase {
		errs = append(errs, fmt.Errorf("backoff cap %s is below backoff base %s", p.BackoffCap, p.BackoffBase))
	}
	return errors.Join(errs...)
}

// restarts applies a RestartPolicy to one supervised child's exits. It works on the times it is
// given, so its decisions do not depend on how fast the machine is.
type restarts struct {
	policy   RestartPolicy
	delay    time.Duration // the wait before the last restart; zero before the first
	recently []time.Time   // restarts within the window, oldest first
}

func newRestarts(p RestartPolicy) *restarts {
	return &restarts{policy: p.withDefaults()}
}

// afterExit returns how long to wait before starting a child that ran from started to exited,
// or an error when restarting it would exceed MaxRestarts within Window.
func (r *restarts) afterExit(started, exited time.Time) (time.Duration, error) {
	p := r.policy
	if exited.Sub(started) >= p.StableAfter {
		r.delay = 0
	}
	windowStart := exited.Add(-p.Window)
	for len(r.recently) > 0 && r.recently[0].Before(windowStart) {
		r.recently = r.recently[1:]
	}
	if len(r.recently) >= p.MaxRestarts {
		return 0, fmt.Errorf("exited %d times within %s, giving up", len(r.recently)+1, p.Window)
	}
	r.recently = append(r.recently, exited)
	if r.delay == 0 {
		r.delay = p.BackoffBase
	} else {
		r.delay = min(2*r.delay, p.BackoffCap)
	}
	return r.delay, nil
}
