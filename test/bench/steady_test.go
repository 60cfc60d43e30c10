package bench

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/store/memstore"
)

// instantSource answers at once with fixed addresses. It stands in for the
// DNS source so that the benchmark measures the reconciler, the API calls
// and the store; the resolver has its own benchmarks in dns/bench_test.go.
type instantSource struct {
	name  string
	addrs []netip.Addr
}

func (s instantSource) Resolve(context.Context) (tgsync.Answer, error) {
	return tgsync.Answer{Addrs: s.addrs, TTL: time.Minute, Queries: 1}, nil
}

func (s instantSource) String() string { return s.name }

// BenchmarkSteadyStateRun is one scheduled run when nothing changed: N
// bindings, each with its own converged target group in the elbv2fake world
// (which stands in for ELB's API and health checks), reached through the
// real elbv2 adapter. A steady run must cost exactly one
// DescribeTargetHealth per group, no RegisterTargets or DeregisterTargets
// and no state write but the daily one that dates what the state remembers
// of the groups (tgsync.GroupInfoMaxAge); the benchmark fails when it does
// more. The api=20ms variants add AWS-like latency to every call, so that
// ns/op is the wall time of a run with the default concurrency.
func BenchmarkSteadyStateRun(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		for _, n := range []int{1, 10, 100} {
			api := "instant"
			if latency > 0 {
				api = latency.String()
			}
			b.Run(fmt.Sprintf("bindings=%d/api=%s", n, api), func(b *testing.B) {
				benchmarkSteadyState(b, n, latency)
			})
		}
	}
}

func benchmarkSteadyState(b *testing.B, n int, latency time.Duration) {
	clock := elbv2fake.NewManualClock(t0)
	world := elbv2fake.New(clock, elbv2fake.Options{})
	var bindings []tgsync.Binding
	for i := range n {
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/bench-%03d/%016x", i, i)
		if err := world.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: 443}); err != nil {
			b.Fatal(err)
		}
		src := instantSource{name: fmt.Sprintf("bench-%03d.internal.example", i)}
		for j := range 4 {
			src.addrs = append(src.addrs, netip.AddrFrom4([4]byte{10, 1, byte(i), byte(j + 1)}))
		}
		bindings = append(bindings, tgsync.Binding{Name: fmt.Sprintf("bench-%03d", i), Source: src,
			TargetGroupARN: arn, Ports: []uint16{443, 8443}, Policy: tgsync.DefaultPolicy()})
	}
	store := memstore.New()
	r := &tgsync.Reconciler{Bindings: bindings, Groups: elbv2.New(world, unlimited), Store: store, Now: clock.Now}
	ctx := context.Background()
	// Converge: the first run registers, the second sees the targets
	// healthy.
	for range 2 {
		if res, err := r.Run(ctx, tgsync.RunOptions{}); err != nil || len(res.Failed()) > 0 {
			b.Fatalf("converging run: %v, failed %v", err, res.Failed())
		}
		clock.Advance(time.Minute)
	}
	for _, bd := range bindings {
		obs := world.Targets(bd.TargetGroupARN)
		healthy := 0
		for _, o := range obs {
			if o.State == tgsync.HealthHealthy {
				healthy++
			}
		}
		if len(obs) != 8 || healthy != 8 {
			b.Fatalf("%s did not converge: %d targets, %d healthy; want 8 healthy", bd.TargetGroupARN, len(obs), healthy)
		}
	}
	if latency > 0 {
		if err := world.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultLatency, Latency: latency}); err != nil {
			b.Fatal(err)
		}
	}
	world.ResetCalls()
	rev := revision(b, store)
	runs := 0
	b.ReportAllocs()
	for b.Loop() {
		clock.Advance(time.Minute) // one scheduled run a minute
		res, err := r.Run(ctx, tgsync.RunOptions{})
		if err != nil || len(res.Failed()) > 0 {
			b.Fatalf("run: %v, failed %v", err, res.Failed())
		}
		runs++
	}
	calls := world.Calls()
	describes := calls[elbv2fake.ActionDescribe]
	changes := calls[elbv2fake.ActionRegister] + calls[elbv2fake.ActionDeregister]
	writes := revision(b, store) - rev
	// Each iteration is a simulated minute: a long benchmark crosses days,
	// and the group info the first run stored is dated again each day.
	daily := int(clock.Now().Sub(t0) / tgsync.GroupInfoMaxAge)
	b.ReportMetric(float64(describes)/float64(runs*n), "describes/group/run")
	b.ReportMetric(float64(changes)/float64(runs), "changes/run")
	b.ReportMetric(float64(writes)/float64(runs), "writes/run")
	if latency > 0 {
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(runs), "wall-ms/run")
	}
	if describes != runs*n || changes != 0 || writes != daily {
		b.Fatalf("%d steady runs of %d bindings made %d DescribeTargetHealth calls (want %d), %d register/deregister calls and %d state writes (want 0, and %d daily)",
			runs, n, describes, runs*n, changes, writes, daily)
	}
}

// revision reads memstore's counter revision; "" is 0.
func revision(b *testing.B, s *memstore.Store) int {
	rev := s.Revision()
	if rev == "" {
		return 0
	}
	n, err := strconv.Atoi(rev)
	if err != nil {
		b.Fatalf("memstore revision %q: %v", rev, err)
	}
	return n
}
