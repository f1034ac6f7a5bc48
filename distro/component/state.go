package component

import "fmt"

// State is where a component is in its lifecycle. The manager keeps one per component and
// refuses any call the transitions below do not allow:
//
//	New ──Init──► Initialized ──Start──► Started ──Stop──► Stopped
//	                                  └─► StartFailed ──Stop──┘
//
// A failed Init leaves the component New. A failed Start still leaves something that may need
// cleaning up, hence StartFailed, from which Stop is allowed. Stopped is final: a component is
// not restarted, a new one is built instead.
type State int

const (
	StateNew State = iota
	StateInitialized
	StateStarted
	StateStartFailed
	StateStopped
)

func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateInitialized:
		return "initialized"
	case StateStarted:
		return "started"
	case StateStartFailed:
		return "start failed"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// transitions lists, for each state, the states a component may move to from it.
var transitions = map[State][]State{
	StateNew:         {StateInitialized},
	StateInitialized: {StateStarted, StateStartFailed},
	StateStarted:     {StateStopped},
	StateStartFailed: {StateStopped},
}

// CanMoveTo reports whether a component in state s may move to next.
func (s State) CanMoveTo(next State) bool {
	for _, allowed := range transitions[s] {
		if allowed == next {
			return true
		}
	}
	return false
}

// needsStop reports whether a component in state s holds anything Stop must release.
func (s State) needsStop() bool {
	return s == StateStarted || s == StateStartFailed
}

// TransitionError is returned when the manager is asked to move a component to a state its
// current state does not allow, for example starting it twice.
type TransitionError struct {
	Component string
	From, To  State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s: cannot go from %s to %s", e.Component, e.From, e.To)
}
