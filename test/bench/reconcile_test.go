package bench

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/store/memstore"
)

// actions are the API actions a run may call, in the order the table
// shows them.
var actions = []string{"DescribeTargetHealth", "RegisterTargets", "DeregisterTargets", "DescribeTargetGroups", "GetObject", "PutObject"}

// groupSize is the target group of the call benchmarks: large enough that
// 100 changed addresses stay within the default removal budget (50%).
const groupSize = 200

// BenchmarkAPICalls counts the API calls of one run, by action, with the
// real SDK clients against moto and the S3 state store, one binding of
// groupSize addresses on a one-minute schedule (a manual clock):
//
//   - steady: nothing changed; the adapter is warm, as in a Lambda that
//     ran before. steady-new-process is the first run of a process
//     (a Lambda cold start): the group's type and port come from the
//     state, so it costs the same.
//   - N-changed: N addresses of the answer were replaced. first-run sees
//     it and registers the new ones; grace-runs are the runs that count
//     misses of the old ones (3 misses and 3 minutes by default), per run;
//     removal-run deregisters them.
//
// The goals are the design's: a steady run is one DescribeTargetHealth
// and one GetObject and writes nothing; changes go in batches of 200;
// nothing is deregistered before its grace ran out.
func BenchmarkAPICalls(b *testing.B) {
	b.Run("steady", func(b *testing.B) {
		s := newScenario(b)
		total, runs := map[string]int{}, 0
		for b.Loop() {
			add(total, s.run(b).calls)
			runs++
		}
		reportCalls(b, total, runs, map[string]float64{
			"DescribeTargetHealth": 1, "RegisterTargets": 0, "DeregisterTargets": 0,
			"DescribeTargetGroups": 0, "GetObject": 1, "PutObject": 0,
		})
	})
	b.Run("steady-new-process", func(b *testing.B) {
		s := newScenario(b)
		total, runs := map[string]int{}, 0
		for b.Loop() {
			s.r.Groups = elbv2.NewFromConfig(s.w.config(s.calls), unlimited)
			add(total, s.run(b).calls)
			runs++
		}
		reportCalls(b, total, runs, map[string]float64{
			"DescribeTargetHealth": 1, "RegisterTargets": 0, "DeregisterTargets": 0,
			"DescribeTargetGroups": 0, "GetObject": 1, "PutObject": 0,
		})
	})
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("%d-changed", n), func(b *testing.B) {
			s := newScenario(b) // shared by the phases, which replay episodes
			batches := float64((n + elbv2.MaxBatchSize - 1) / elbv2.MaxBatchSize)
			for _, ph := range []struct {
				name string
				pick func(e episode) []map[string]int
				want map[string]float64
			}{
				{"first-run", func(e episode) []map[string]int { return []map[string]int{e.first} },
					map[string]float64{"DescribeTargetHealth": 1, "RegisterTargets": batches, "DeregisterTargets": 0, "DescribeTargetGroups": 0, "GetObject": 1}},
				{"grace-runs", func(e episode) []map[string]int { return e.grace },
					map[string]float64{"DescribeTargetHealth": 1, "RegisterTargets": 0, "DeregisterTargets": 0, "DescribeTargetGroups": 0, "GetObject": 1}},
				{"removal-run", func(e episode) []map[string]int { return []map[string]int{e.removal} },
					map[string]float64{"DescribeTargetHealth": 1, "RegisterTargets": 0, "DeregisterTargets": batches, "DescribeTargetGroups": 0, "GetObject": 1}},
			} {
				b.Run(ph.name, func(b *testing.B) {
					total, runs, episodeRuns := map[string]int{}, 0, 0
					for b.Loop() {
						e := s.episode(b, n)
						for _, c := range ph.pick(e) {
							add(total, c)
							runs++
						}
						episodeRuns += 2 + len(e.grace)
					}
					if ph.name == "removal-run" {
						b.ReportMetric(perRun(episodeRuns, b.N), "runs-until-removed")
					}
					reportCalls(b, total, runs, ph.want)
					if p := perRun(total["PutObject"], runs); p != 1 {
						b.Fatalf("PutObject/run = %g, want 1: a run that changed state writes it once", p)
					}
				})
			}
		})
	}
}

// scenario is one binding of groupSize addresses on moto, settled.
type scenario struct {
	w     *world
	name  string
	addrs []netip.Addr
	pool  addrPool
	clock *elbv2fake.ManualClock
	calls *elbv2.Calls
	r     *tgsync.Reconciler
}

type runCalls struct {
	res   tgsync.RunResult
	calls map[string]int
}

func newScenario(b testing.TB) *scenario {
	b.Helper()
	s := &scenario{w: newWorld(b), clock: elbv2fake.NewManualClock(t0), calls: &elbv2.Calls{}}
	s.addrs = s.pool.take(groupSize)
	s.name = s.w.name("calls", s.addrs)
	src := s.w.resolver(b, 0).Source(s.name, dns.Families{dns.IPv4})
	s.r = s.w.reconciler([]tgsync.Binding{binding("calls", src, s.w.targetGroup(b))}, s.calls, s.clock.Now)
	if got := s.run(b).res.Bindings[0].Registered; len(got) != groupSize {
		b.Fatalf("first run registered %d targets, want %d", len(got), groupSize)
	}
	s.run(b) // settle: the answer is stored, nothing pending
	return s
}

// run advances the clock by the schedule's minute and runs once.
func (s *scenario) run(b testing.TB) runCalls {
	b.Helper()
	s.clock.Advance(time.Minute)
	s.calls.Take()
	res := run(b, s.r)
	return runCalls{res, s.calls.Take()}
}

// episode is one change of n addresses, from the run that sees it to the
// run that removes the old ones.
type episode struct {
	first, removal map[string]int
	grace          []map[string]int
}

func (s *scenario) episode(b *testing.B, n int) episode {
	b.Helper()
	s.addrs = slices.Concat(s.pool.take(n), s.addrs[n:])
	s.w.DNS.SetA(s.name, 60, s.addrs...)
	var e episode
	first := s.run(b)
	if br := first.res.Bindings[0]; len(br.Registered) != n || len(br.Deregistered) != 0 {
		b.Fatalf("run that saw %d new addresses registered %d and deregistered %d; want %d and 0", n, len(br.Registered), len(br.Deregistered), n)
	}
	e.first = first.calls
	for len(e.grace) < 10 {
		r := s.run(b)
		if gone := len(r.res.Bindings[0].Deregistered); gone > 0 {
			if gone != n {
				b.Fatalf("removal run deregistered %d targets, want %d", gone, n)
			}
			e.removal = r.calls
			return e
		}
		e.grace = append(e.grace, r.calls)
	}
	b.Fatalf("%d stale targets still registered after %d runs", n, len(e.grace)+1)
	return e
}

func add(total, c map[string]int) {
	for k, v := range c {
		total[k] += v
	}
}

// reportCalls reports calls per run of every action, and fails when an
// action in want was called a different number of times per run.
func reportCalls(b *testing.B, total map[string]int, runs int, want map[string]float64) {
	b.Helper()
	noTiming(b)
	for _, a := range actions {
		b.ReportMetric(perRun(total[a], runs), a+"/run")
	}
	for k := range total {
		if !slices.Contains(actions, k) {
			b.Fatalf("unexpected action %s called %d times in %d runs", k, total[k], runs)
		}
	}
	for _, a := range actions {
		if w, ok := want[a]; ok && perRun(total[a], runs) != w {
			b.Fatalf("%s/run = %g, want %g (calls in %d runs:%s)", a, perRun(total[a], runs), w, runs, fmtCounts(total))
		}
	}
}

// TestNewProcessSteadyRunIsOneDescribe: a steady run of a new process (a
// Lambda cold start, or `tgsync once`) costs one DescribeTargetHealth and
// one GetObject, as a warm one does: the group's type and port come from
// the state, not from DescribeTargetGroups. The real SDK against moto.
func TestNewProcessSteadyRunIsOneDescribe(t *testing.T) {
	s := newScenario(t)
	for i := range 3 {
		s.r.Groups = elbv2.NewFromConfig(s.w.config(s.calls), unlimited)
		got := s.run(t).calls
		want := map[string]int{"DescribeTargetHealth": 1, "GetObject": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("new process %d: calls %v, want %v", i+1, got, want)
		}
	}
}

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
