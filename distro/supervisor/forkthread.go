package supervisor

import (
	"runtime"
	"sync"
)

// forkThread starts children from one OS thread that lives as long as they may run. Linux sends
// a child its parent-death signal when the thread that forked it exits, not when the process
// does, and the Go runtime ends a thread whose goroutine exits while locked to it. Forking from
// whatever thread a goroutine happens to run on would let an unrelated goroutine kill the child.
type forkThread struct {
	calls     chan func()
	closeOnce sync.Once
}

func newForkThread() *forkThread {
	t := &forkThread{calls: make(chan func())}
	go func() {
		runtime.LockOSThread()
		// Unlocked on return, so the thread goes back to the runtime rather than exiting: by
		// then no child it forked runs.
		defer runtime.UnlockOSThread()
		for call := range t.calls {
			call()
		}
	}()
	return t
}

// do runs f on the thread.
func (t *forkThread) do(f func() error) error {
	errc := make(chan error, 1)
	t.calls <- func() { errc <- f() }
	return <-errc
}

func (t *forkThread) close() {
	t.closeOnce.Do(func() { close(t.calls) })
}
