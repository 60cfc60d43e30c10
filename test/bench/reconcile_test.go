package bench

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/store/memstore"
)

// apiLatency models one round trip to an AWS API from inside the Region.
const apiLatency = 20 * time.Millisecond

// addrsPerBinding is the size of each binding's answer in the reconcile
// benchmarks: a small OpenSearch domain or an internal ALB in four zones.
const addrsPerBinding = 4

// BenchmarkReconcile measures the wall time and allocations of one
// steady-state run (every binding's answer unchanged) over 1, 10 and 100
// bindings, each on its own target group, with the real DNS resolver
// against a dnstest server on loopback:
//
//   - moto: the real elbv2 adapter and S3 store on the SDK against moto.
//     The time is mostly moto's (Python on loopback).
//   - aws-20ms: the in-memory world with 20 ms on every ELB API call and
//     on every state load and save, a model of a run inside an AWS Region.
//     Its 1-binding figure is the billed duration docs/performance.md
//     prices.
//
// The client-side rate limits are lifted (see unlimited); allocs/op
// include the in-process DNS server's share of the queries.
func BenchmarkReconcile(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("moto/bindings=%d", n), func(b *testing.B) {
			w := newWorld(b)
			res := w.resolver(b, 0)
			var pool addrPool
			bindings := make([]tgsync.Binding, n)
			for i := range bindings {
				name := w.name(fmt.Sprintf("b%d", i), pool.take(addrsPerBinding))
				bindings[i] = binding(fmt.Sprintf("b%d", i), res.Source(name, dns.Families{dns.IPv4}), w.targetGroup(b))
			}
			calls := &elbv2.Calls{}
			benchRuns(b, w.reconciler(bindings, calls, nil), func() map[string]int { return calls.Take() })
		})
	}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("aws-20ms/bindings=%d", n), func(b *testing.B) {
			w := newWorld(b) // its DNS server; the AWS side is elbv2fake
			aws := elbv2fake.New(nil, elbv2fake.Options{})
			res := w.resolver(b, 0)
			var pool addrPool
			bindings := make([]tgsync.Binding, n)
			for i := range bindings {
				arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/b%d/%016x", i, i)
				if err := aws.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: port, HealthyAfter: -1, DrainDelay: -1}); err != nil {
					b.Fatal(err)
				}
				name := w.name(fmt.Sprintf("b%d", i), pool.take(addrsPerBinding))
				bindings[i] = binding(fmt.Sprintf("b%d", i), res.Source(name, dns.Families{dns.IPv4}), arn)
			}
			store := &slowStore{Store: memstore.New()}
			r := &tgsync.Reconciler{Bindings: bindings, Groups: elbv2.New(aws, unlimited), Store: store}
			run(b, r) // registers, without latency
			if err := aws.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultLatency, Latency: apiLatency}); err != nil {
				b.Fatal(err)
			}
			store.latency = apiLatency
			aws.ResetCalls()
			elapsed := benchRuns(b, r, func() map[string]int {
				c := aws.Calls()
				aws.ResetCalls()
				c["GetObject"], c["PutObject"] = store.take()
				return c
			})
			b.ReportMetric(math.Ceil(ms(elapsed)/float64(b.N)), "billed-ms/run")
		})
	}
}

// benchRuns times steady-state runs of r after a first run that registers
// everything, and reports the API calls per run. It returns the time the
// timed runs took.
func benchRuns(b *testing.B, r *tgsync.Reconciler, calls func() map[string]int) time.Duration {
	b.Helper()
	run(b, r)
	run(b, r)
	calls()
	total := map[string]int{}
	var elapsed time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res := run(b, r)
		elapsed += time.Since(start)
		for _, br := range res.Bindings {
			if !br.Plan.Empty() || len(br.Answer.Addrs) != addrsPerBinding {
				b.Fatalf("binding %s: steady run planned %d registrations and %d removals over %d addresses",
					br.Binding, len(br.Plan.Register), len(br.Plan.Deregister), len(br.Answer.Addrs))
			}
		}
		add(total, calls())
	}
	b.StopTimer()
	n := 0
	for _, v := range total {
		n += v
	}
	b.ReportMetric(perRun(n, b.N), "api-calls/run")
	return elapsed
}

// slowStore is a memstore whose loads and saves take as long as a round
// trip to S3 would: moto on loopback cannot show that time. It counts them
// as the S3 calls they stand for.
type slowStore struct {
	*memstore.Store
	latency    time.Duration
	loads, put int
}

func (s *slowStore) wait(ctx context.Context) error {
	if s.latency <= 0 {
		return nil
	}
	t := time.NewTimer(s.latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("state store: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

func (s *slowStore) Load(ctx context.Context) (*tgsync.State, string, error) {
	s.loads++
	if err := s.wait(ctx); err != nil {
		return nil, "", err
	}
	return s.Store.Load(ctx)
}

func (s *slowStore) Save(ctx context.Context, st *tgsync.State, rev string) (string, error) {
	s.put++
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.Store.Save(ctx, st, rev)
}

// take returns the loads and saves since the last take.
func (s *slowStore) take() (loads, saves int) {
	loads, saves = s.loads, s.put
	s.loads, s.put = 0, 0
	return loads, saves
}
