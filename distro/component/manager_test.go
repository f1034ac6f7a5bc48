package component

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps the lifecycle calls of several fake components in the order they happened.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) record(event string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// only returns the recorded events that start with prefix, such as "start " or "stop ".
func (r *recorder) only(prefix string) []string {
	var out []string
	for _, e := range r.list() {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// fake is a component that records its calls and does what its hooks say.
type fake struct {
	name  string
	rec   *recorder
	init  func(ctx context.Context) error
	start func(ctx context.Context) error
	stop  func(ctx context.Context) error
}

var _ Component = (*fake)(nil)

func (f *fake) Name() string { return f.name }

func (f *fake) Init(ctx context.Context) error {
	f.rec.record("init " + f.name)
	if f.init != nil {
		return f.init(ctx)
	}
	return nil
}

func (f *fake) Start(ctx context.Context) error {
	f.rec.record("start " + f.name)
	if f.start != nil {
		return f.start(ctx)
	}
	return nil
}

func (f *fake) Stop(ctx context.Context) error {
	f.rec.record("stop " + f.name)
	if f.stop != nil {
		return f.stop(ctx)
	}
	return nil
}

// readyFake is a fake that also answers readiness.
type readyFake struct {
	fake
	ready func(ctx context.Context) error
}

var _ Readier = (*readyFake)(nil)

func (f *readyFake) Ready(ctx context.Context) error {
	f.rec.record("ready? " + f.name)
	return f.ready(ctx)
}

// failingFake is a fake that keeps the failure callback the manager hands it.
type failingFake struct {
	fake
	report func(error)
}

var _ FailureReporter = (*failingFake)(nil)

func (f *failingFake) ReportFailuresTo(report func(error)) { f.report = report }

func fakes(rec *recorder, names ...string) []Component {
	var out []Component
	for _, n := range names {
		out = append(out, &fake{name: n, rec: rec})
	}
	return out
}

func TestStartsInOrderAndStopsInReverse(t *testing.T) {
	rec := &recorder{}
	m := NewManager()
	m.Add(fakes(rec, "datastore", "apiserver", "scheduler")...)
	ctx := t.Context()

	if err := m.Init(ctx); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	want := []string{"start datastore", "start apiserver", "start scheduler"}
	if got := rec.only("start "); !slices.Equal(got, want) {
		t.Errorf("starts = %q, want %q", got, want)
	}
	want = []string{"stop scheduler", "stop apiserver", "stop datastore"}
	if got := rec.only("stop "); !slices.Equal(got, want) {
		t.Errorf("stops = %q, want %q (a second Stop must stop nothing)", got, want)
	}
}

func TestInitRunsEveryComponentAtOnce(t *testing.T) {
	const n = 4
	// Each Init waits until all of them have begun: run one after another, the first would
	// wait forever, so the test would end on its deadline with an error.
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rec := &recorder{}
	m := NewManager()
	for i := range n {
		m.Add(&fake{name: fmt.Sprintf("c%d", i), rec: rec, init: func(ctx context.Context) error {
			arrived.Done()
			select {
			case <-all:
				return nil
			case <-ctx.Done():
				return errors.New("other components never began their Init")
			}
		}})
	}
	if err := m.Init(ctx); err != nil {
		t.Fatalf("Init: %v", err)
	}
}

func TestInitJoinsEveryError(t *testing.T) {
	errA, errC := errors.New("bad flag"), errors.New("no disk")
	rec := &recorder{}
	m := NewManager()
	m.Add(
		&fake{name: "a", rec: rec, init: func(context.Context) error { return errA }},
		&fake{name: "b", rec: rec},
		&fake{name: "c", rec: rec, init: func(context.Context) error { return errC }},
	)
	err := m.Init(t.Context())
	if !errors.Is(err, errA) || !errors.Is(err, errC) {
		t.Fatalf("Init = %v, want both errors", err)
	}
	for _, want := range []string{"a: bad flag", "c: no disk"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Init error %q does not contain %q", err, want)
		}
	}
	if len(rec.only("init ")) != 3 {
		t.Errorf("inits = %q, want all three to run", rec.only("init "))
	}
	// Failed components stayed new, so nothing may start.
	var te *TransitionError
	if err := m.Start(t.Context()); !errors.As(err, &te) {
		t.Errorf("Start after failed Init = %v, want a TransitionError", err)
	}
	if got := rec.only("start "); len(got) != 0 {
		t.Errorf("started %q after a failed Init", got)
	}
}

func TestFailedStartStopsWhatStartedInReverse(t *testing.T) {
	errStart := errors.New("port in use")
	rec := &recorder{}
	m := NewManager()
	m.Add(fakes(rec, "a", "b")...)
	m.Add(&fake{name: "c", rec: rec, start: func(context.Context) error { return errStart }})
	m.Add(fakes(rec, "d")...)
	ctx := t.Context()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}

	err := m.Start(ctx)
	if !errors.Is(err, errStart) || !strings.Contains(err.Error(), "starting c") {
		t.Fatalf("Start = %v, want it to name c and wrap its error", err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if got := rec.list()[4:]; !slices.Equal(got, want) {
		t.Errorf("calls after init = %q, want %q", got, want)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.only("stop "); len(got) != 3 {
		t.Errorf("stops = %q, want each unwound component stopped once", got)
	}
}

func TestReadinessTimeoutNamesComponentAndLastError(t *testing.T) {
	errNotYet := errors.New("socket /run/containerd.sock missing")
	rec := &recorder{}
	m := NewManager(WithReadyTimeout(50 * time.Millisecond))
	m.Add(fakes(rec, "a")...)
	m.Add(&readyFake{fake: fake{name: "containerd", rec: rec}, ready: func(context.Context) error { return errNotYet }})
	m.Add(fakes(rec, "kubelet")...)
	ctx := t.Context()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}

	err := m.Start(ctx)
	if !errors.Is(err, errNotYet) {
		t.Fatalf("Start = %v, want the last readiness error wrapped", err)
	}
	if !strings.Contains(err.Error(), "containerd not ready") {
		t.Errorf("Start error %q does not name the component", err)
	}
	want := []string{"stop containerd", "stop a"}
	if got := rec.only("stop "); !slices.Equal(got, want) {
		t.Errorf("stops = %q, want %q", got, want)
	}
	if got := rec.only("start kubelet"); len(got) != 0 {
		t.Errorf("kubelet started although containerd never became ready")
	}
}

func TestStartWaitsForReadinessBeforeNextComponent(t *testing.T) {
	rec := &recorder{}
	polls := 0
	m := NewManager()
	m.Add(&readyFake{fake: fake{name: "datastore", rec: rec}, ready: func(context.Context) error {
		polls++
		if polls < 3 {
			return errors.New("not yet")
		}
		return nil
	}})
	m.Add(fakes(rec, "apiserver")...)
	ctx := t.Context()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := []string{"start datastore", "ready? datastore", "ready? datastore", "ready? datastore", "start apiserver"}
	if got := rec.list()[2:]; !slices.Equal(got, want) {
		t.Errorf("calls after init = %q, want %q", got, want)
	}
}

func TestCancelledContextEndsReadinessWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := &recorder{}
	m := NewManager() // the default bound is minutes: only the cancellation can end the wait
	m.Add(&readyFake{fake: fake{name: "apiserver", rec: rec}, ready: func(context.Context) error {
		cancel()
		return errors.New("healthz: 503")
	}})
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	err := m.Start(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "apiserver") || !strings.Contains(err.Error(), "healthz: 503") {
		t.Errorf("Start error %q should name the component and its last readiness error", err)
	}
	if got := rec.only("stop "); !slices.Equal(got, []string{"stop apiserver"}) {
		t.Errorf("stops = %q, want the started component stopped", got)
	}
}

func TestStopJoinsEveryErrorAndSkipsNoComponent(t *testing.T) {
	errA, errB := errors.New("a stuck"), errors.New("b stuck")
	rec := &recorder{}
	m := NewManager()
	m.Add(
		&fake{name: "a", rec: rec, stop: func(context.Context) error { return errA }},
		&fake{name: "b", rec: rec, stop: func(context.Context) error { return errB }},
		&fake{name: "c", rec: rec},
	)
	ctx := t.Context()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	err := m.Stop(ctx)
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Fatalf("Stop = %v, want both errors", err)
	}
	for _, want := range []string{"stopping a: a stuck", "stopping b: b stuck"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Stop error %q does not contain %q", err, want)
		}
	}
	if got, want := rec.only("stop "), []string{"stop c", "stop b", "stop a"}; !slices.Equal(got, want) {
		t.Errorf("stops = %q, want %q", got, want)
	}
}

func TestStopLeavesBehindComponentThatIgnoresItsBound(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rec := &recorder{}
	m := NewManager(WithStopTimeout(20 * time.Millisecond))
	m.Add(fakes(rec, "a")...)
	m.Add(&fake{name: "stubborn", rec: rec, stop: func(context.Context) error { <-release; return nil }})
	ctx := t.Context()
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	err := m.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "stopping stubborn") {
		t.Fatalf("Stop = %v, want an error naming stubborn", err)
	}
	if got := rec.only("stop a"); len(got) != 1 {
		t.Errorf("a was not stopped after stubborn overran its bound")
	}
}

func TestStopHandsOnCancelledContextButStopsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{}
	sawDone := 0
	stop := func(ctx context.Context) error {
		if ctx.Err() != nil {
			sawDone++
		}
		return nil
	}
	m := NewManager()
	m.Add(&fake{name: "a", rec: rec, stop: stop}, &fake{name: "b", rec: rec, stop: stop})
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if sawDone != 2 {
		t.Errorf("%d components saw the cancelled context, want 2", sawDone)
	}
}

func TestManagerRefusesTransitionsOutOfOrder(t *testing.T) {
	ctx := t.Context()
	var te *TransitionError

	rec := &recorder{}
	m := NewManager()
	m.Add(fakes(rec, "a")...)
	if err := m.Start(ctx); !errors.As(err, &te) || te.From != StateNew || te.To != StateStarted {
		t.Errorf("Start before Init = %v, want new → started refused", err)
	}
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Init(ctx); !errors.As(err, &te) || te.From != StateInitialized {
		t.Errorf("second Init = %v, want initialized → initialized refused", err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); !errors.As(err, &te) || te.Component != "a" || te.From != StateStarted {
		t.Errorf("second Start = %v, want started → started refused for a", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); !errors.As(err, &te) || te.From != StateStopped {
		t.Errorf("Start after Stop = %v, want stopped → started refused", err)
	}
	if got, want := rec.list(), []string{"init a", "start a", "stop a"}; !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestComponentAddedAfterInitIsNeverStarted(t *testing.T) {
	ctx := t.Context()
	rec := &recorder{}
	m := NewManager()
	m.Add(fakes(rec, "a")...)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	m.Add(fakes(rec, "late")...)
	var te *TransitionError
	if err := m.Start(ctx); !errors.As(err, &te) || te.Component != "late" {
		t.Fatalf("Start = %v, want late refused", err)
	}
	if got := rec.only("start "); len(got) != 0 {
		t.Errorf("started %q", got)
	}
}

func TestInitRefusesDuplicateAndEmptyNames(t *testing.T) {
	rec := &recorder{}
	m := NewManager()
	m.Add(fakes(rec, "a", "a", "")...)
	err := m.Init(t.Context())
	if err == nil || !strings.Contains(err.Error(), `two components are named "a"`) || !strings.Contains(err.Error(), "no name") {
		t.Fatalf("Init = %v, want duplicate and empty names reported", err)
	}
	if len(rec.list()) != 0 {
		t.Errorf("calls = %q, want none", rec.list())
	}
}

func TestStateTransitions(t *testing.T) {
	all := []State{StateNew, StateInitialized, StateStarted, StateStartFailed, StateStopped}
	allowed := map[[2]State]bool{
		{StateNew, StateInitialized}:         true,
		{StateInitialized, StateStarted}:     true,
		{StateInitialized, StateStartFailed}: true,
		{StateStarted, StateStopped}:         true,
		{StateStartFailed, StateStopped}:     true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanMoveTo(to); got != allowed[[2]State{from, to}] {
				t.Errorf("%s → %s allowed = %v", from, to, got)
			}
		}
	}
}

func TestReportedFailureReachesOwnerWithName(t *testing.T) {
	ctx := t.Context()
	rec := &recorder{}
	c := &failingFake{fake: fake{name: "containerd", rec: rec}}
	m := NewManager()
	m.Add(c)
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("exited 5 times within 1m")
	c.report(cause)
	c.report(errors.New("a second report must not block")) // from any goroutine, at any time
	err := <-m.Failed()
	if !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "containerd: ") {
		t.Errorf("Failed() = %v, want the cause prefixed with the name", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFailureDuringStartAbortsIt(t *testing.T) {
	ctx := t.Context()
	rec := &recorder{}
	cause := errors.New("crashed right after start")
	early := &failingFake{fake: fake{name: "early", rec: rec}}
	m := NewManager() // default bound: only the failure can end the wait
	m.Add(early, &readyFake{fake: fake{name: "waiting", rec: rec}, ready: func(context.Context) error {
		early.report(cause)
		return errors.New("not yet")
	}})
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	err := m.Start(ctx)
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("Start = %v, want it aborted with early's failure", err)
	}
	if got, want := rec.only("stop "), []string{"stop waiting", "stop early"}; !slices.Equal(got, want) {
		t.Errorf("stops = %q, want %q", got, want)
	}
}
