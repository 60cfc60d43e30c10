package tgsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/mock"
)

// TestOverlappingRunsCountOneMiss: runs that observe the same moment (two
// invocations at once, a replan after a conflict) count a target's miss
// once, so that overlapping runs cannot halve afterMisses.
func TestOverlappingRunsCountOneMiss(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1", "10.0.0.2")
	w.run(t)
	w.src.Set("10.0.0.1")
	for overlap := range 3 {
		for range 3 { // three runs within seconds of each other
			if _, err := w.r.Run(context.Background(), RunOptions{}); err != nil {
				t.Fatal(err)
			}
			w.now = w.now.Add(2 * time.Second)
		}
		m := mustLoad(t, w.store).Bindings["db"].Misses[mock.Target("10.0.0.2:443")]
		if m.Count != overlap+1 {
			t.Fatalf("after %d minutes of overlapping runs: %d misses counted, want %d", overlap+1, m.Count, overlap+1)
		}
		w.now = w.now.Add(time.Minute)
	}
}

// TestMakeBeforeBreakOnSlowHealthChecks runs the reconciler, the real
// adapter and the in-memory ELB world (which stands in for what moto does
// not show: a new target that stays initial for minutes, as an NLB's does)
// once a minute while the answer moves from X to Y. X leaves only once Y
// has left initial, or once the 5-minute hold ran out; until then the
// group keeps the healthy targets it had before the move. Z stays in the
// answer, so rule 5 (the last healthy target) is not what holds X.
func TestMakeBeforeBreakOnSlowHealthChecks(t *testing.T) {
	tests := []struct {
		name         string
		healthyAfter time.Duration
		removedAt    int // the run that removes X
		reason       string
	}{
		{"Y passes its first check after 4 minutes", 4 * time.Minute, 5, "missed by"},
		{"Y is still initial when the hold runs out", 10 * time.Minute, 6, "did not pass its first health check within 5m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := elbv2fake.NewManualClock(t0)
			world := elbv2fake.New(clock, elbv2fake.Options{})
			if err := world.CreateTargetGroup(arnA, elbv2fake.GroupSpec{Port: 443, HealthyAfter: tc.healthyAfter, DrainDelay: -1}); err != nil {
				t.Fatal(err)
			}
			src := mock.NewAnswers("nlb.example.internal")
			rec := &Reconciler{Bindings: []Binding{{Name: "b", Source: src, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: DefaultPolicy()}},
				Groups: elbv2.New(world, elbv2.Options{DescribeRate: rate.Inf, ChangeRate: rate.Inf}), Store: mock.NewMemStore(), Now: clock.Now}
			run := func() RunResult {
				t.Helper()
				res, err := rec.Run(context.Background(), RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			src.Set("10.0.0.1", "10.0.0.3")
			run()
			clock.Advance(10 * time.Minute) // X is healthy
			run()
			src.Set("10.0.0.2", "10.0.0.3")
			var held string
			for k := 1; k <= 8; k++ {
				clock.Advance(time.Minute)
				res := run()
				b := res.Bindings[0]
				for _, f := range b.Plan.Refused {
					if f.Rule == RuleMakeBefore {
						held = f.Reason
					}
				}
				healthy := 0
				for _, o := range world.Targets(arnA) {
					if o.State == HealthHealthy {
						healthy++
					}
				}
				if healthy < 2 && len(b.Deregistered) == 0 {
					t.Fatalf("run %d: %d healthy targets while X waits, want the 2 of before the move", k, healthy)
				}
				if len(b.Deregistered) > 0 {
					if k != tc.removedAt {
						t.Fatalf("X removed at run %d, want run %d", k, tc.removedAt)
					}
					if !strings.Contains(b.Deregistered[0].Reason, tc.reason) {
						t.Errorf("reason %q does not say %q", b.Deregistered[0].Reason, tc.reason)
					}
					if !strings.Contains(held, "10.0.0.2:443") {
						t.Errorf("the runs before did not say what X waited for: %q", held)
					}
					return
				}
			}
			t.Fatalf("X was never removed")
		})
	}
}

// TestRemovedBindingIsKeptForItsRetention: a binding taken out of the
// config is marked, kept for BindingRetention with what it owned (which
// nobody removes), then dropped; put back in time, it is whole again.
func TestRemovedBindingIsKeptForItsRetention(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	keep := w.r.Bindings
	w.src.Set("10.0.0.1")
	w.run(t)
	w.r.Bindings = nil
	w.run(t)
	bs := mustLoad(t, w.store).Bindings["db"]
	if bs == nil || bs.RemovedAt.IsZero() || len(bs.Owned) != 1 || bs.TargetGroupARN != arnA {
		t.Fatalf("after its removal from the config: %+v", bs)
	}
	w.r.Bindings = keep // put back within the retention
	w.run(t)
	if bs := mustLoad(t, w.store).Bindings["db"]; !bs.RemovedAt.IsZero() || len(bs.Owned) != 1 {
		t.Fatalf("put back: %+v", bs)
	}
	w.r.Bindings = nil
	w.run(t)
	w.now = w.now.Add(BindingRetention)
	w.run(t)
	if bs := mustLoad(t, w.store).Bindings["db"]; bs != nil {
		t.Fatalf("kept past its retention: %+v", bs)
	}
	if got := w.groups.Members(arnA); len(got) != 1 {
		t.Errorf("what the removed binding owned was removed: %v", got)
	}
}
