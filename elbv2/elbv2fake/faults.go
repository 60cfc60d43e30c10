package elbv2fake

import (
	"fmt"
	"time"
)

// FaultKind is what an injected fault does to a call.
type FaultKind int

// The faults a World can inject. Each failing kind returns the error
// aws-sdk-go-v2 would hand back for it, so the code under test sees the
// same shapes as with AWS.
const (
	// FaultThrottle fails calls with Throttling "Rate exceeded" (HTTP 400),
	// what AWS returns when the account's token bucket is empty.
	FaultThrottle FaultKind = iota + 1
	// FaultInternalError fails calls with InternalFailure (HTTP 500).
	FaultInternalError
	// FaultUnavailable fails calls with ServiceUnavailable (HTTP 503).
	FaultUnavailable
	// FaultLatency delays calls by Latency on the wall clock, honouring the
	// caller's context; it adds to the other faults instead of replacing
	// them. Benchmarks use it to model AWS's round trip.
	FaultLatency
	// FaultHang blocks calls until the caller's context ends, then returns
	// the SDK's canceled error wrapping ctx.Err(): a call slower than the
	// caller's timeout. A caller without a deadline blocks for good.
	FaultHang
	// FaultConnReset fails calls with a connection reset (ECONNRESET inside
	// a net.OpError, as the SDK's transport reports it).
	FaultConnReset
	// FaultPartialBatch lets Batch-1 RegisterTargets or DeregisterTargets
	// calls through and fails the next with InternalFailure, then counts
	// again: the adapter sends a change of more than 200 targets in calls
	// of 200, so a large change fails partway, after its first batches
	// were applied. Times counts the failures.
	FaultPartialBatch
	// FaultNotFound fails calls with TargetGroupNotFound, as if the group
	// had been deleted behind tgsync's back.
	FaultNotFound
)

var faultNames = map[FaultKind]string{
	FaultThrottle:      "throttle",
	FaultInternalError: "internal-error",
	FaultUnavailable:   "unavailable",
	FaultLatency:       "latency",
	FaultHang:          "hang",
	FaultConnReset:     "conn-reset",
	FaultPartialBatch:  "partial-batch",
	FaultNotFound:      "not-found",
}

func (k FaultKind) String() string {
	if n, ok := faultNames[k]; ok {
		return n
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is one scripted misbehaviour. Faults are consulted in the order
// they were injected; for each call every matching latency fault applies
// and then the first matching failing fault, so a script is deterministic.
type Fault struct {
	Kind FaultKind
	// Action limits the fault to ActionDescribe, ActionDescribeGroups,
	// ActionRegister or ActionDeregister; empty means every action (the
	// adapter calls DescribeTargetGroups once per group and process, for
	// the group's port and type, before its first DescribeTargetHealth).
	Action string
	// ARN limits the fault to one target group; empty means every group.
	ARN string
	// Times is how many matching calls the fault affects; 0 means every
	// matching call until ClearFaults.
	Times int
	// Latency is the delay of a FaultLatency.
	Latency time.Duration
	// Batch is the failing call of a FaultPartialBatch, from 1.
	Batch int
}

type activeFault struct {
	Fault
	left int // calls left; -1 means unlimited
	seen int // change calls a partial-batch fault saw since it last failed one
}

// Inject adds a fault. It rejects a fault that could never fire or is
// ambiguous.
func (w *World) Inject(f Fault) error {
	if _, ok := faultNames[f.Kind]; !ok {
		return fmt.Errorf("inject fault: unknown kind %d", int(f.Kind))
	}
	switch f.Action {
	case "", ActionDescribe, ActionDescribeGroups, ActionRegister, ActionDeregister:
	default:
		return fmt.Errorf("inject %s fault: unknown action %q: want %s, %s, %s, %s or empty for all",
			f.Kind, f.Action, ActionDescribe, ActionDescribeGroups, ActionRegister, ActionDeregister)
	}
	switch {
	case f.Times < 0:
		return fmt.Errorf("inject %s fault: times must not be negative, got %d", f.Kind, f.Times)
	case f.Kind == FaultLatency && f.Latency <= 0:
		return fmt.Errorf("inject latency fault: latency must be positive, got %s", f.Latency)
	case f.Kind != FaultLatency && f.Latency != 0:
		return fmt.Errorf("inject %s fault: latency is only for latency faults", f.Kind)
	case f.Kind == FaultPartialBatch && f.Batch < 1:
		return fmt.Errorf("inject partial-batch fault: batch must be at least 1, got %d", f.Batch)
	case f.Kind == FaultPartialBatch && !isChange(f.Action) && f.Action != "":
		return fmt.Errorf("inject partial-batch fault: %s has no batches", f.Action)
	case f.Kind != FaultPartialBatch && f.Batch != 0:
		return fmt.Errorf("inject %s fault: batch is only for partial-batch faults", f.Kind)
	}
	left := f.Times
	if left == 0 {
		left = -1
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults = append(w.faults, &activeFault{Fault: f, left: left})
	return nil
}

// ClearFaults removes every injected fault. Calls already hanging keep
// waiting for their context.
func (w *World) ClearFaults() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults = nil
}

func (f *activeFault) matches(action, arn string) bool {
	return (f.Action == "" || f.Action == action) && (f.ARN == "" || f.ARN == arn)
}

// use spends one of the fault's calls.
func (f *activeFault) use() {
	if f.left > 0 {
		f.left--
	}
}

// isChange reports whether action changes targets: what a partial-batch
// fault counts.
func isChange(action string) bool { return action == ActionRegister || action == ActionDeregister }

// pickFaults returns the total latency and the failing fault for one API
// call, spending their uses. A partial-batch fault whose turn it is is
// spent even when an earlier fault decides how the call fails. w.mu must
// be held.
func (w *World) pickFaults(action, arn string) (time.Duration, FaultKind) {
	var latency time.Duration
	var kind FaultKind
	for _, f := range w.faults {
		if !f.matches(action, arn) {
			continue
		}
		switch {
		case f.Kind == FaultLatency:
			latency += f.Latency
			f.use()
		case f.Kind == FaultPartialBatch:
			if !isChange(action) {
				continue
			}
			if f.seen++; f.seen < f.Batch {
				continue
			}
			f.seen = 0
			f.use()
			if kind == 0 {
				kind = f.Kind
			}
		case kind == 0:
			kind = f.Kind
			f.use()
		}
	}
	w.dropSpent()
	return latency, kind
}

func (w *World) dropSpent() {
	kept := w.faults[:0]
	for _, f := range w.faults {
		if f.left != 0 {
			kept = append(kept, f)
		}
	}
	clear(w.faults[len(kept):])
	w.faults = kept
}
