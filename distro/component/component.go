// Package component defines the lifecycle every long-running part of distro implements, and the
// manager that runs a set of them in dependency order.
package component

import "context"

// Component is one long-running part of distro: the datastore, the apiserver, containerd, ...
//
// The manager calls the methods in this order, and only this order (see State):
//
//   - Init prepares everything that can fail before anything runs: validating configuration,
//     creating directories, writing certificates. The manager runs every Init in parallel, so
//     Init must not depend on another component having been initialised. A failed Init must
//     leave nothing behind that needs stopping.
//   - Start launches the component and returns without waiting for it to finish its work. The
//     context bounds the start itself, not the component's life: a component that runs
//     goroutines derives their context from context.WithoutCancel(ctx) and cancels it in Stop.
//   - Stop shuts the component down and releases what Init and Start acquired. It is called
//     after a successful Start and also after a failed one, so it must cope with a partial
//     start. When ctx is done the component should stop as fast as it can.
type Component interface {
	// Name identifies the component in logs and errors; it is unique within a manager.
	Name() string
	Init(ctx context.Context) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Readier is implemented by components that need time after Start before the next component may
// rely on them. The manager polls Ready after Start until it returns nil; each error is kept as
// the reason the component is not ready yet.
type Readier interface {
	Ready(ctx context.Context) error
}

// FailureReporter is implemented by components that can fail on their own after a successful
// start, such as a supervised process that keeps crashing. Rather than exiting the process from
// one of its goroutines, such a component reports the cause through report and the manager's
// owner decides how to shut down (see Manager.Failed).
type FailureReporter interface {
	// ReportFailuresTo is called by the manager once, before Init. report is safe to call from
	// any goroutine and never blocks.
	ReportFailuresTo(report func(cause error))
}
