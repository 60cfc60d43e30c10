package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// TestClockJumps moves tgsync's clock between runs while AWS's keeps time,
// as a host clock stepped by NTP, or runs on hosts whose clocks disagree,
// do. The answer moves one run before the jump, so the stale targets have
// one miss when it comes.
//
// Rule 2 needs N misses and a duration T. The expected behaviour:
//   - forward: the jump satisfies T at once, and N alone holds the
//     targets: they go at the Nth miss (the 3rd run after the move, where
//     a steady clock takes the 4th). At one run a minute that is still N
//     minutes after the name last held them, no sooner than T = N minutes.
//   - backward: a miss recorded "in the future" restarts its duration at
//     the jump while its count goes on, so removal comes T after the jump
//     (here at run 5 after the move instead of 4), never earlier, never
//     negative, and however far the clock stepped back.
func TestClockJumps(t *testing.T) {
	tests := []struct {
		name string
		jump time.Duration
		// removeAt is the run after the move (the move's being 1) that
		// must remove the stale targets.
		removeAt int
		// extra runs the recovery bound grants for the delay.
		extra int
	}{
		{"tgsync's clock jumps forward 5h", 5 * time.Hour, 3, 0},
		{"tgsync's clock jumps back 10m", -10 * time.Minute, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			e := newEnv(t, setup{skewed: true})
			e.move(nodesBefore)
			e.settled()
			e.move(nodesAfter)
			e.step(nil) // miss 1
			e.recClock.Set(e.recClock.Now().Add(tt.jump))
			f := fault{name: tt.name}
			o := e.step(&f) // the run after the jump
			minMissing := pendingMin(o, 0)
			converged, bound := e.recover(tt.extra)
			state := e.checkState()
			b := e.bindings[0]
			for _, a := range nodesBefore[:1] {
				if e.spurious > 0 {
					break // a run failed on its own: the timing oracle does not apply
				}
				for _, port := range b.ports {
					tg := tgsync.Target{IP: a, Port: port}
					if got := b.removedAt[tg] - e.movedAt + 1; b.removedAt[tg] == 0 || got != tt.removeAt {
						t.Errorf("%s removed at run %d after the move, want %d", tg, got, tt.removeAt)
					}
				}
			}
			if minMissing < 0 {
				// Reported, not required: Plan's Pending shows the
				// duration as it computes it.
				state += fmt.Sprintf("; pending showed missing for %s", minMissing)
			}
			record(t, e, row{area: "Clock", fault: tt.name, world: e.elb.kind(), move: "before",
				runs: 1, converge: converged, bound: bound, state: state, took: time.Since(began)})
		})
	}
}

// pendingMin is the smallest MissingFor among the pending targets.
func pendingMin(o outcome, floor time.Duration) time.Duration {
	m := floor
	for _, r := range o.results {
		for _, b := range r.Bindings {
			for _, p := range b.Plan.Pending {
				m = min(m, p.MissingFor)
			}
		}
	}
	return m
}
