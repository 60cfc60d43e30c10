package faults

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
)

// TestELBFaults runs each Elastic Load Balancing fault on the elbv2fake
// world, which stands in for AWS where moto cannot misbehave: moto never
// throttles, fails with 5xx, hangs, resets a connection or fails a batch
// partway. The world fails each call the way aws-sdk-go-v2 reports it after
// its retries ran out, and the real adapter on it has no retryer of its own
// (retries live in the SDK client), so the reconciler sees what it would
// see from AWS.
// hangFault is the fault of calls that hang until the run's deadline.
const hangFault = "calls slower than the run's timeout"

func TestELBFaults(t *testing.T) {
	// big moves need more than one batch of 200 targets per call.
	bigBefore := ips(1, 1, 20)                               // 40 targets
	bigAfter := slices.Concat(ips(1, 6, 15), ips(2, 1, 110)) // 220 new, 10 stale
	wideBefore := ips(3, 1, 110)                             // 220 targets
	wideAfter := ips(4, 1, 110)                              // 220 new, 220 stale

	tests := []struct {
		f             fault
		moves         []movement
		before, after []netip.Addr
	}{
		{f: elbFault("throttling burst (Throttling, every call)", elbv2fake.FaultThrottle, "", 3, true, apiCode(elbv2fake.CodeThrottling)),
			moves: []movement{moveDuring, moveAfter}},
		{f: elbFault("throttling of RegisterTargets", elbv2fake.FaultThrottle, elbv2fake.ActionRegister, 3, true, apiCode(elbv2fake.CodeThrottling)),
			moves: []movement{moveDuring}},
		{f: elbFault("500 InternalFailure, every call", elbv2fake.FaultInternalError, "", 3, true, apiCode(elbv2fake.CodeInternalFailure)),
			moves: []movement{moveDuring, moveAfter}},
		{f: elbFault("503 ServiceUnavailable, every call", elbv2fake.FaultUnavailable, "", 3, true, apiCode(elbv2fake.CodeServiceUnavailable)),
			moves: []movement{moveDuring, moveAfter}},
		// Removal is due at the fourth run after the move: the fault
		// shows from then on.
		{f: elbFault("503 ServiceUnavailable on DeregisterTargets", elbv2fake.FaultUnavailable, elbv2fake.ActionDeregister, 5, false, apiCode(elbv2fake.CodeServiceUnavailable)),
			moves: []movement{moveDuring}},
		{f: elbFault(hangFault, elbv2fake.FaultHang, "", 3, true, isDeadline),
			moves: []movement{moveDuring, moveAfter}},
		{f: elbFault("connection reset, every call", elbv2fake.FaultConnReset, "", 3, true, isConnReset),
			moves: []movement{moveDuring, moveAfter}},
		{f: batchFault("batch 2 of RegisterTargets fails (220 new targets)", elbv2fake.ActionRegister, 3),
			moves: []movement{moveDuring}, before: bigBefore, after: bigAfter},
		// 220 stale targets are due together at the fourth run: with 440
		// registered, half may go, in two batches; the second fails.
		{f: batchFault("batch 2 of DeregisterTargets fails (220 stale targets)", elbv2fake.ActionDeregister, 5),
			moves: []movement{moveDuring}, before: wideBefore, after: wideAfter},
	}
	for _, tt := range tests {
		for _, mv := range tt.moves {
			t.Run(fmt.Sprintf("%s/move %s", tt.f.name, mv), func(t *testing.T) {
				t.Parallel()
				p := play{before: nodesBefore, after: nodesAfter, move: mv}
				if tt.f.name == hangFault {
					p.setup.runTimeout, p.setup.margin = hangTimeout, hangMargin
				}
				if tt.before != nil {
					p.before, p.after = tt.before, tt.after
				}
				runPlay(t, p, tt.f)
			})
		}
	}
}

// batchFault fails the second RegisterTargets or DeregisterTargets call of
// each of its runs with InternalFailure: the second batch of 200 the
// adapter sends, after the first was applied.
func batchFault(name, action string, runs int) fault {
	f := elbFault(name, elbv2fake.FaultPartialBatch, action, runs, false, apiCode(elbv2fake.CodeInternalFailure))
	// The fault shows as InternalFailure with the first batch's 200
	// targets applied and reported.
	f.fired = func(e *env, o outcome) bool {
		for _, r := range o.of(e.bindings[0].name) {
			done := len(r.Registered)
			if action == elbv2fake.ActionDeregister {
				done = len(r.Deregistered)
			}
			if r.Err != nil && apiCode(elbv2fake.CodeInternalFailure)(r.Err) && done == elbv2.MaxBatchSize {
				return true
			}
		}
		return false
	}
	f.on = func(e *env) {
		if err := e.elb.(*memBackend).world.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultPartialBatch, Action: action, Batch: 2}); err != nil {
			e.t.Fatal(err)
		}
	}
	return f
}
