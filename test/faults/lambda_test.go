package faults

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
)

// TestLambdaDeadline lets the deadline of a run arrive mid-run, as Lambda's
// does: the Lambda handler gives the reconciler a context that ends half a
// margin before the invocation's deadline and a DeadlineMargin within which
// it starts no AWS work, and saves state on a context detached from the
// deadline. Here the run's context is that context. Work in flight when it
// ends fails; what was done must be in the saved state, nothing may be
// removed wrongly, and the next run finishes the job.
func TestLambdaDeadline(t *testing.T) {
	t.Run("during a RegisterTargets batch", func(t *testing.T) {
		t.Parallel()
		// 260 new targets are two batches; each call takes 1.2s of the
		// run's 2s, so the deadline arrives while the second is in
		// flight: the second starts 400ms before the margin, and the
		// cut leaves 200ms to save, however loaded the machine. A shared binding must own what was registered and what
		// was about to be: the batch cut off may have reached AWS, and
		// its targets stay owned as intents (see tgsync.IntentGrace).
		after := slices.Concat(ips(0, 12, 2), ips(5, 1, 130))
		var owned map[tgsync.Target]bool
		var cut string
		f := fault{area: "Lambda", name: "deadline while a RegisterTargets batch is in flight (260 new targets)", runs: 1,
			on: func(e *env) {
				mustInject(e, elbv2fake.Fault{Kind: elbv2fake.FaultLatency, Action: elbv2fake.ActionRegister, Latency: 1200 * time.Millisecond})
				owned = map[tgsync.Target]bool{}
				for _, o := range e.elb.view(e.t, e.bindings[0].arn) {
					owned[o.Target] = !e.bindings[0].foreign[o.Target]
				}
			},
			off: func(e *env) { e.elb.(*memBackend).world.ClearFaults() },
			fired: func(e *env, o outcome) bool {
				r := o.of(e.bindings[0].name)[0]
				return isDeadline(r.Err) && len(r.Registered) > 0 && len(r.Registered) < len(r.Plan.Register)
			},
			check: func(e *env, o outcome) {
				b := e.bindings[0]
				r := o.of(b.name)[0]
				for _, tg := range r.Plan.Register {
					owned[tg.Target] = true
				}
				cut = fmt.Sprintf("deadline cut after %d of %d registrations, all %d owned", len(r.Registered), len(r.Plan.Register), len(r.Plan.Register))
				st := e.stored()
				got := st.Bindings[b.name].Owned
				for tg, own := range owned {
					if _, ok := got[tg]; ok != own {
						e.t.Errorf("after the deadline: owned(%s) = %t in the saved state, want %t", tg, ok, own)
					}
				}
				if len(got) != countTrue(owned) {
					e.t.Errorf("after the deadline: the saved state owns %d targets, want %d", len(got), countTrue(owned))
				}
			},
		}
		f.notes = func() string { return cut }
		runPlay(t, play{setup: setup{shared: true, runTimeout: 2 * time.Second, margin: 400 * time.Millisecond}, before: nodesBefore, after: after, move: moveDuring}, f)
	})

	t.Run("between bindings", func(t *testing.T) {
		t.Parallel()
		// The first group's describe takes 1.4s of a 2s run: by the time
		// the second binding starts, less than the 800ms margin is left,
		// and it must not start at all.
		f := fault{area: "Lambda", name: "deadline between two bindings", runs: 2,
			on: func(e *env) {
				mustInject(e, elbv2fake.Fault{Kind: elbv2fake.FaultLatency, Action: elbv2fake.ActionDescribe, ARN: e.bindings[0].arn, Latency: 1400 * time.Millisecond})
			},
			off: func(e *env) { e.elb.(*memBackend).world.ClearFaults() },
			fired: func(e *env, o outcome) bool {
				first, second := o.of(e.bindings[0].name)[0], o.of(e.bindings[1].name)[0]
				return first.Err == nil && second.Unfinished && strings.Contains(second.Err.Error(), "deadline near")
			},
		}
		s := setup{bindings: 2, concurrency: 1, runTimeout: 2 * time.Second, margin: 800 * time.Millisecond}
		runPlay(t, play{setup: s, before: nodesBefore, after: nodesAfter, move: moveDuring, moving: []int{1}}, f)
	})

	t.Run("during DeregisterTargets", func(t *testing.T) {
		t.Parallel()
		// The answer moved two runs before: removal is due at the fault's
		// second run, and that call hangs until the deadline. The misses
		// must go on counting in the saved state.
		f := fault{area: "Lambda", name: "deadline while DeregisterTargets is in flight", runs: 3,
			on: func(e *env) {
				mustInject(e, elbv2fake.Fault{Kind: elbv2fake.FaultHang, Action: elbv2fake.ActionDeregister})
			},
			off: func(e *env) { e.elb.(*memBackend).world.ClearFaults() },
			fired: func(e *env, o outcome) bool {
				r := o.of(e.bindings[0].name)[0]
				return isDeadline(r.Err) && len(r.Plan.Deregister) > 0 && len(r.Deregistered) == 0
			},
			check: func(e *env, o outcome) {
				if e.spurious > 0 {
					return // a run failed on its own: the count lags
				}
				b := e.bindings[0]
				want := e.runs - e.movedAt + 1 // one miss a run since the move
				for tg, m := range e.stored().Bindings[b.name].Misses {
					if m.Count != want {
						e.t.Errorf("after run %d: %s has %d misses saved, want %d", e.runs, tg, m.Count, want)
					}
				}
			},
		}
		runPlay(t, play{before: nodesBefore, after: nodesAfter, move: moveBefore}, f)
	})
}

func mustInject(e *env, f elbv2fake.Fault) {
	if err := e.elb.(*memBackend).world.Inject(f); err != nil {
		e.t.Fatal(err)
	}
}

func countTrue(m map[tgsync.Target]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
