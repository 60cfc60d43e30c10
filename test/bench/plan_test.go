package bench

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// BenchmarkPlan measures tgsync.Plan alone for 10, 100 and 1,000 targets
// (1,000 is the quota per target group). As in the root package's
// BenchmarkPlan1000, half the group stays, a quarter is new and a quarter
// is stale past its grace, so that every branch of Plan runs.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			desired, observed, st := planInput(n)
			policy := tgsync.DefaultPolicy()
			now := t0.Add(time.Hour)
			want := tgsync.Plan(desired, observed, st, policy, now)
			if len(want.Register) != n/4 || len(want.Deregister) == 0 {
				b.Fatalf("plan of %d targets: %d registrations, %d removals; want %d and some", n, len(want.Register), len(want.Deregister), n/4)
			}
			b.ReportAllocs()
			for b.Loop() {
				tgsync.Plan(desired, observed, st, policy, now)
			}
		})
	}
}

// planInput builds the input of BenchmarkPlan for n targets.
func planInput(n int) (tgsync.Desired, []tgsync.ObservedTarget, tgsync.BindingState) {
	var answer []netip.Addr
	var observed []tgsync.ObservedTarget
	misses := map[tgsync.Target]tgsync.Miss{}
	for i := range n {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		t := tgsync.Target{IP: a, Port: port}
		switch i % 4 {
		case 0, 1:
			answer = append(answer, a)
			observed = append(observed, tgsync.ObservedTarget{Target: t, State: tgsync.HealthHealthy})
		case 2:
			answer = append(answer, a)
		case 3:
			observed = append(observed, tgsync.ObservedTarget{Target: t, State: tgsync.HealthHealthy})
			misses[t] = tgsync.Miss{Count: 3, Since: t0}
		}
	}
	desired := tgsync.Desired{Source: "bench", Answer: tgsync.Answer{Addrs: answer}, Ports: []uint16{port}}
	return desired, observed, tgsync.BindingState{Misses: misses}
}
