package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// Check is one attempt; nil means success.
type Check func(ctx context.Context) error

// errStop marks an error after which polling is pointless (the server exited).
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }
func (e errStop) Unwrap() error { return e.err }

// Stop wraps err so that Until returns it at once instead of trying again.
func Stop(err error) error { return errStop{err} }

// Until runs check every interval until it succeeds and returns the time from start to the
// end of the successful attempt. start is passed in so the clock can begin before the
// thing being waited for was launched. The resolution is interval plus one attempt.
func Until(ctx context.Context, start time.Time, interval time.Duration, check Check) (time.Duration, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for attempts := 1; ; attempts++ {
		last = check(ctx)
		if last == nil {
			return time.Since(start), nil
		}
		var stop errStop
		if errors.As(last, &stop) {
			return 0, stop.err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no success after %d attempts (%w); last: %v", attempts, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// Command is a Check that runs a program and succeeds when it exits 0.
func Command(name string, args ...string) Check {
	return func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", name, err, out)
		}
		return nil
	}
}
