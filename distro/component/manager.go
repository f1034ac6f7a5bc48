package component

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

const (
	// DefaultReadyTimeout bounds how long Start waits for one component to become ready.
	DefaultReadyTimeout = 2 * time.Minute
	// DefaultStopTimeout bounds how long Stop waits for one component to stop.
	DefaultStopTimeout = time.Minute

	// Readiness is polled quickly at first, since most components are ready within moments,
	// then less often so a slow one is not hammered.
	firstReadyPoll = 10 * time.Millisecond
	maxReadyPoll   = time.Second
)

// Manager runs components in dependency order and enforces their lifecycle (see State).
// Its methods may be called from any goroutine; Init, Start and Stop run one at a time.
type Manager struct {
	readyTimeout time.Duration
	stopTimeout  time.Duration

	mu      sync.Mutex // serialises Init, Start and Stop
	entries []*entry

	failOnce sync.Once
	failed   chan error    // holds the first reported failure for the owner
	failure  error         // the first reported failure, set before failedC is closed
	failedC  chan struct{} // closed on the first reported failure, to abort a running Start
}

type entry struct {
	c     Component
	state State
}

// Option changes a Manager's defaults.
type Option func(*Manager)

// WithReadyTimeout bounds the wait for each component's readiness during Start.
func WithReadyTimeout(d time.Duration) Option {
	return func(m *Manager) { m.readyTimeout = d }
}

// WithStopTimeout bounds the wait for each component's Stop.
func WithStopTimeout(d time.Duration) Option {
	return func(m *Manager) { m.stopTimeout = d }
}

// NewManager returns a manager with no components.
func NewManager(opts ...Option) *Manager {
	m := &Manager{
		readyTimeout: DefaultReadyTimeout,
		stopTimeout:  DefaultStopTimeout,
		failed:       make(chan error, 1),
		failedC:      make(chan struct{}),
	}
	for _, opt := range opts {
		opt(m)
	}
	return m
}

// Add appends components in dependency order: each may rely on every component added before it.
// Components added after Init are refused by Start, since they were never initialised.
func (m *Manager) Add(components ...Component) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range components {
		m.entries = append(m.entries, &entry{c: c})
	}
}

// Failed delivers the first failure a component reports after it started (see FailureReporter),
// prefixed with the component's name. The owner is expected to Stop the manager when it arrives.
// Later failures are logged, since the first already means shutting down.
func (m *Manager) Failed() <-chan error {
	return m.failed
}

func (m *Manager) reporter(name string) func(error) {
	return func(cause error) {
		err := fmt.Errorf("%s: %w", name, cause)
		first := false
		m.failOnce.Do(func() {
			first = true
			m.failure = err
			m.failed <- err
			close(m.failedC)
		})
		if !first {
			klog.ErrorS(err, "Component failed after an earlier failure was reported", "component", name)
		}
	}
}

// Init runs every component's Init at once and returns all their errors joined, each prefixed
// with the component's name. It refuses to run anything unless every component is new and
// names are unique.
func (m *Manager) Init(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	if err := m.check(StateInitialized); err != nil {
		return err
	}
	if err := m.checkNames(); err != nil {
		return err
	}

	errs := make([]error, len(m.entries))
	var wg sync.WaitGroup
	for i, e := range m.entries {
		name := e.c.Name()
		if r, ok := e.c.(FailureReporter); ok {
			r.ReportFailuresTo(m.reporter(name))
		}
		wg.Go(func() {
			if err := e.c.Init(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
				return
			}
			e.state = StateInitialized
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Start starts the components in the order they were added. After each start it waits for the
// component to be ready, for at most the ready timeout, before starting the next. If a start
// fails, a component is not ready in time, a started component reports a failure or ctx is
// done, Start stops in reverse order what it already started and returns why it gave up,
// naming the component.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	if err := m.check(StateStarted); err != nil {
		return err
	}
	for i, e := range m.entries {
		name := e.c.Name()
		err := m.startOne(ctx, e)
		if err == nil {
			continue
		}
		// Unwinding must happen even when ctx is what ended the start.
		stopErr := m.stopReverse(context.WithoutCancel(ctx), m.entries[:i+1])
		if stopErr != nil {
			return errors.Join(err, fmt.Errorf("stopping what started before %s: %w", name, stopErr))
		}
		return err
	}
	return nil
}

func (m *Manager) startOne(ctx context.Context, e *entry) error {
	name := e.c.Name()
	if err := m.abandoned(ctx); err != nil {
		return fmt.Errorf("not starting %s: %w", name, err)
	}
	klog.InfoS("Starting component", "component", name)
	if err := e.c.Start(ctx); err != nil {
		e.state = StateStartFailed
		return fmt.Errorf("starting %s: %w", name, err)
	}
	e.state = StateStarted
	if err := m.waitReady(ctx, e.c); err != nil {
		return err
	}
	klog.InfoS("Component started", "component", name)
	return nil
}

// abandoned reports why a start in progress must not go on, if it must not.
func (m *Manager) abandoned(ctx context.Context) error {
	select {
	case <-m.failedC:
		return fmt.Errorf("a component failed: %w", m.failure)
	default:
	}
	return context.Cause(ctx)
}

func (m *Manager) waitReady(parent context.Context, c Component) error {
	r, ok := c.(Readier)
	if !ok {
		return nil
	}
	name := c.Name()
	ctx, cancel := context.WithTimeout(parent, m.readyTimeout)
	defer cancel()

	var last error
	poll := firstReadyPoll
	for {
		err := r.Ready(ctx)
		if err == nil {
			return nil
		}
		// An error caused by our own deadline says less than the one before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		timer := time.NewTimer(poll)
		select {
		case <-timer.C:
		case <-m.failedC:
			timer.Stop()
			return fmt.Errorf("waiting for %s to become ready: a component failed: %w", name, m.failure)
		case <-ctx.Done():
			timer.Stop()
			if cause := context.Cause(parent); cause != nil {
				return fmt.Errorf("waiting for %s to become ready: %w (last readiness error: %v)", name, cause, last)
			}
			return fmt.Errorf("%s not ready within %s: %w", name, m.readyTimeout, last)
		}
		poll = min(2*poll, maxReadyPoll)
	}
}

// Stop stops, in reverse order, every component that was started (including those whose start
// failed), each within the stop timeout. It goes on after a component fails or overruns its
// bound and returns all errors joined. ctx is handed to each Stop: once it is done components
// should stop as fast as they can, but they are still stopped. Calling Stop again stops nothing.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopReverse(ctx, m.entries)
}

func (m *Manager) stopReverse(ctx context.Context, entries []*entry) error {
	var errs []error
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if !e.state.needsStop() {
			continue
		}
		if err := m.stopOne(ctx, e.c); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", e.c.Name(), err))
		}
		e.state = StateStopped
	}
	return errors.Join(errs...)
}

func (m *Manager) stopOne(ctx context.Context, c Component) error {
	klog.InfoS("Stopping component", "component", c.Name())
	ctx, cancel := context.WithTimeout(ctx, m.stopTimeout)
	defer cancel()

	// Stop runs aside so a component that ignores its context cannot hold up the others.
	done := make(chan error, 1)
	go func() { done <- c.Stop(ctx) }()

	bound := time.NewTimer(m.stopTimeout)
	defer bound.Stop()
	select {
	case err := <-done:
		return err
	case <-bound.C:
		return fmt.Errorf("still stopping after %s, left behind", m.stopTimeout)
	}
}

// check returns a TransitionError for every component that may not move to next.
func (m *Manager) check(next State) error {
	var errs []error
	for _, e := range m.entries {
		if !e.state.CanMoveTo(next) {
			errs = append(errs, &TransitionError{Component: e.c.Name(), From: e.state, To: next})
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) checkNames() error {
	var errs []error
	seen := make(map[string]bool, len(m.entries))
	for _, e := range m.entries {
		name := e.c.Name()
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("a component of type %T has no name", e.c))
		case seen[name]:
			errs = append(errs, fmt.Errorf("two components are named %q", name))
		}
		seen[name] = true
	}
	return errors.Join(errs...)
}
