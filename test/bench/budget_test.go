package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/smithy-go"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/store/memstore"
)

// The describe budget: N bindings, each on a target group of its own, on a
// one-minute schedule for an hour, their DNS steady but for 1% of them
// each minute, which replace one of their three addresses. The world is
// elbv2fake behind the real adapter, with AWS's API buckets (describe 40,
// refill 10/s; changes 20, refill 4/s: a call past them fails with
// Throttling, and the in-memory world has no SDK to retry it, so every
// throttle surfaces) and budgetLatency on every ELB call and state load
// and save. The process is warm, as a Lambda that ran before, and its
// runs have the stack's 50-second timeout.
//
// Time is simulated with testing/synctest: the clock stands still while
// code runs and jumps to the next timer when every goroutine waits, so a
// simulated hour takes seconds and the run times are exactly the time a
// run waits on the client-side limiter and on the network, with the
// reconciler's real concurrency. The CPU a run takes is measured apart
// (cpu-ms/run) and adds to it. synctest needs a *testing.T, which a
// benchmark does not have: BenchmarkDescribeBudget runs
// TestBudgetSimulation of this same test binary in a child process and
// reads its figures.

const (
	budgetLatency  = 30 * time.Millisecond
	budgetAddrs    = 3
	budgetTimeout  = 50 * time.Second // the stack's function timeout
	budgetMargin   = 3 * time.Second  // the Lambda's deadline margin at 50 s
	budgetSchedule = time.Minute
)

// budgetSpec is one simulation.
type budgetSpec struct {
	Bindings      int
	DescribeEvery time.Duration
	Minutes       int
	Seed          uint64
}

// budgetResult is what a simulation measured, run by run.
type budgetResult struct {
	Runs []budgetRun
	// Late lists changes not applied in the run that saw them, and stale
	// targets still in their group five runs after they left DNS.
	Late []string
}

type budgetRun struct {
	Describes   int // DescribeTargetHealth and DescribeTargetGroups
	Changes     int // RegisterTargets and DeregisterTargets
	Throttles   int // calls AWS refused with Throttling
	Unfinished  int // bindings the deadline stopped
	Duration    time.Duration
	CPU         time.Duration
	StateWrites int
	// StateBytes is the state as the run left it, stored.
	StateBytes int
}

// BenchmarkDescribeBudget runs the simulation for 100 and 1,000 bindings,
// before (DescribeEvery 0: every group described every run, as tgsync
// did) and after (DescribeEvery 10m, the default). The after runs have
// goals and fail when they miss one: at most 180 describes a minute (30%
// of AWS's refill), no throttling, every run done in 40 s (Lambda's
// minute with margin, counting the CPU it took), and every change applied
// in the run that saw it, and a state within half of MaxStateBytes.
func BenchmarkDescribeBudget(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, mode := range []struct {
			name  string
			every time.Duration
		}{{"before", 0}, {"after", 10 * time.Minute}} {
			b.Run(fmt.Sprintf("bindings=%d/%s", n, mode.name), func(b *testing.B) {
				spec := budgetSpec{Bindings: n, DescribeEvery: mode.every, Minutes: 60, Seed: 1}
				var res budgetResult
				for b.Loop() {
					res = simulateInChild(b, spec)
				}
				reportBudget(b, res, mode.every > 0)
			})
		}
	}
}

func reportBudget(b *testing.B, res budgetResult, goals bool) {
	b.Helper()
	noTiming(b)
	var describes, changes, throttles, unfinished, writes, stateBytes []float64
	var durations, withCPU, cpu []time.Duration
	for _, r := range res.Runs {
		describes = append(describes, float64(r.Describes))
		changes = append(changes, float64(r.Changes))
		throttles = append(throttles, float64(r.Throttles))
		unfinished = append(unfinished, float64(r.Unfinished))
		writes = append(writes, float64(r.StateWrites))
		stateBytes = append(stateBytes, float64(r.StateBytes))
		durations = append(durations, r.Duration)
		cpu = append(cpu, r.CPU)
		withCPU = append(withCPU, r.Duration+r.CPU)
	}
	b.ReportMetric(mean(describes), "describes/min")
	b.ReportMetric(slices.Max(describes), "max-describes/min")
	b.ReportMetric(mean(changes), "changes/min")
	b.ReportMetric(sum(throttles), "throttles")
	b.ReportMetric(sum(unfinished), "unfinished")
	b.ReportMetric(float64(len(res.Late)), "late-changes")
	b.ReportMetric(mean(writes), "writes/run")
	b.ReportMetric(slices.Max(stateBytes), "max-state-bytes")
	b.ReportMetric(quantile(durations, 0.5).Seconds(), "run-p50-s")
	b.ReportMetric(quantile(durations, 0.99).Seconds(), "run-p99-s")
	b.ReportMetric(ms(quantile(cpu, 0.5)), "cpu-ms/run")
	if !goals {
		return
	}
	const maxDescribes = 0.3 * elbv2.AWSDescribeRefill * 60
	switch {
	case slices.Max(describes) > maxDescribes:
		b.Fatalf("%g describes in a minute, more than %g (30%% of AWS's refill)", slices.Max(describes), maxDescribes)
	case sum(throttles) > 0:
		b.Fatalf("%g calls throttled", sum(throttles))
	case quantile(withCPU, 1) > 40*time.Second:
		b.Fatalf("a run took %s with its CPU, more than 40 s", quantile(withCPU, 1))
	case sum(unfinished) > 0 || len(res.Late) > 0:
		b.Fatalf("%g bindings unfinished; late: %v", sum(unfinished), res.Late)
	case slices.Max(stateBytes) > tgsync.MaxStateBytes/2:
		b.Fatalf("a state of %g bytes, more than half of MaxStateBytes (histories, trends and drain log share HistoryBudget)", slices.Max(stateBytes))
	}
}

// simulateInChild runs TestBudgetSimulation in a child process and
// returns what it measured.
func simulateInChild(b *testing.B, spec budgetSpec) budgetResult {
	b.Helper()
	out := filepath.Join(b.TempDir(), "budget.json")
	raw, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBudgetSimulation$", "-test.count=1")
	cmd.Env = append(os.Environ(), envBudgetSpec+"="+string(raw), envBudgetOut+"="+out)
	if log, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("simulation %s: %v\n%s", raw, err, log)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatalf("simulation %s wrote no result: %v", raw, err)
	}
	var res budgetResult
	if err := json.Unmarshal(data, &res); err != nil {
		b.Fatal(err)
	}
	return res
}

const (
	envBudgetSpec = "TGSYNC_BENCH_BUDGET_SPEC"
	envBudgetOut  = "TGSYNC_BENCH_BUDGET_OUT"
)

// TestBudgetSimulation is the child of BenchmarkDescribeBudget; without
// its environment it skips.
func TestBudgetSimulation(t *testing.T) {
	raw := os.Getenv(envBudgetSpec)
	if raw == "" {
		t.Skip("run by BenchmarkDescribeBudget")
	}
	var spec budgetSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	var res budgetResult
	synctest.Test(t, func(t *testing.T) { res = simulateBudget(t, spec) })
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(envBudgetOut), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// budgetWorld is the simulation's world, inside a synctest bubble.
type budgetWorld struct {
	spec    budgetSpec
	aws     *elbv2fake.World
	store   *slowStore
	r       *tgsync.Reconciler
	sources []*mock.Answers
	addrs   [][]netip.Addr
	next    uint32 // the last address handed out
	rng     *rand.Rand
}

func simulateBudget(t *testing.T, spec budgetSpec) budgetResult {
	limits := elbv2fake.AWSRateLimits()
	w := &budgetWorld{spec: spec, aws: elbv2fake.New(nil, elbv2fake.Options{RateLimits: &limits}),
		store: &slowStore{Store: memstore.New()}, rng: rand.New(rand.NewPCG(spec.Seed, spec.Seed))}
	var bindings []tgsync.Binding
	for i := range spec.Bindings {
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/budget-%04d/%016x", i, i)
		if err := w.aws.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: port}); err != nil {
			t.Fatal(err)
		}
		w.addrs = append(w.addrs, w.take(budgetAddrs))
		src := mock.NewAnswers(fmt.Sprintf("budget-%04d.internal", i), addrStrings(w.addrs[i])...)
		w.sources = append(w.sources, src)
		bindings = append(bindings, binding(fmt.Sprintf("budget-%04d", i), src, arn))
	}
	groups := elbv2.NewAccounts(elbv2.DefaultLimits(), elbv2.Options{}, elbv2.Route{Client: func(string) elbv2.API { return w.aws }})
	w.r = &tgsync.Reconciler{Bindings: bindings, Groups: groups, Store: w.store, DescribeEvery: spec.DescribeEvery}

	// Converge: the first runs register every target, unhurried; then
	// ten scheduled minutes let the describes settle into their turns.
	ctx := t.Context()
	for i := 0; ; i++ {
		res, err := w.r.Run(ctx, tgsync.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if changed(res) == 0 && i > 0 {
			break
		}
		if i == 5 {
			t.Fatalf("not converged after %d runs", i+1)
		}
		time.Sleep(budgetSchedule)
	}
	if err := w.aws.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultLatency, Latency: budgetLatency}); err != nil {
		t.Fatal(err)
	}
	w.store.latency = budgetLatency
	start := time.Now().Truncate(budgetSchedule).Add(budgetSchedule)
	for m := range 10 {
		time.Sleep(time.Until(start.Add(time.Duration(m) * budgetSchedule)))
		w.run(t, nil)
	}
	start = start.Add(10 * budgetSchedule)

	var res budgetResult
	type stale struct {
		binding int
		addr    netip.Addr
		since   int
	}
	var leaving []stale
	for m := range spec.Minutes {
		time.Sleep(time.Until(start.Add(time.Duration(m) * budgetSchedule)))
		churned := w.churn()
		run, out := w.run(t, churned)
		res.Runs = append(res.Runs, run)
		for i, old := range churned {
			br := out.Bindings[i]
			want := tgsync.Target{IP: w.addrs[i][0], Port: port}
			if !slices.ContainsFunc(br.Registered, func(c tgsync.Change) bool { return c.Target == want }) {
				res.Late = append(res.Late, fmt.Sprintf("minute %d: %s registered %v, not %s", m, br.Binding, br.Registered, want))
			}
			leaving = append(leaving, stale{i, old, m})
		}
		leaving = slices.DeleteFunc(leaving, func(s stale) bool {
			gone := !slices.ContainsFunc(w.aws.Targets(bindings[s.binding].TargetGroupARN), func(o tgsync.ObservedTarget) bool {
				return o.Target.IP == s.addr && !o.State.Draining()
			})
			if !gone && m-s.since >= 5 {
				res.Late = append(res.Late, fmt.Sprintf("minute %d: %s still holds %s, which left DNS at minute %d", m, bindings[s.binding].Name, s.addr, s.since))
				return true
			}
			return gone
		})
	}
	return res
}

// run is one scheduled run under the stack's timeout; churned names the
// bindings whose answer changed (their index in the result) and their
// address that left.
func (w *budgetWorld) run(t *testing.T, churned map[int]netip.Addr) (budgetRun, tgsync.RunResult) {
	t.Helper()
	w.aws.ResetCalls()
	w.store.take() // from zero
	cpu0 := cpuTime(t)
	ctx, cancel := context.WithTimeout(t.Context(), budgetTimeout)
	defer cancel()
	start := time.Now()
	res, err := w.r.Run(ctx, tgsync.RunOptions{DeadlineMargin: budgetMargin})
	if err != nil {
		t.Fatal(err)
	}
	run := budgetRun{Duration: time.Since(start), CPU: cpuTime(t) - cpu0}
	calls := w.aws.Calls()
	run.Describes = calls[elbv2fake.ActionDescribe] + calls[elbv2fake.ActionDescribeGroups]
	run.Changes = calls[elbv2fake.ActionRegister] + calls[elbv2fake.ActionDeregister]
	_, run.StateWrites = w.store.take()
	data, err := tgsync.EncodeState(res.State)
	if err != nil {
		t.Fatal(err)
	}
	run.StateBytes = len(data)
	for _, br := range res.Bindings {
		var ae smithy.APIError
		if errors.As(br.Err, &ae) && ae.ErrorCode() == elbv2fake.CodeThrottling {
			run.Throttles++
		}
		if br.Unfinished {
			run.Unfinished++
		}
	}
	return run, res
}

// churn replaces the first address of 1% of the bindings (at least one)
// with a new one, and returns the address each lost.
func (w *budgetWorld) churn() map[int]netip.Addr {
	out := map[int]netip.Addr{}
	for len(out) < max(1, w.spec.Bindings/100) {
		i := w.rng.IntN(w.spec.Bindings)
		if _, dup := out[i]; dup {
			continue
		}
		out[i] = w.addrs[i][0]
		w.addrs[i] = append(w.take(1), w.addrs[i][1:]...)
		w.sources[i].Set(addrStrings(w.addrs[i])...)
	}
	return out
}

func (w *budgetWorld) take(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		w.next++
		v := 10<<24 | w.next
		out[i] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return out
}

func changed(res tgsync.RunResult) int {
	n := 0
	for _, br := range res.Bindings {
		n += len(br.Registered) + len(br.Deregistered)
	}
	return n
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return sum(xs) / float64(len(xs))
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// quantile is the q-quantile of ds by the nearest rank, without changing
// ds; 1 is the maximum, zero for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// TestBudgetSimulationSmall runs the simulation of BenchmarkDescribeBudget
// on 30 bindings for 12 minutes, so that it keeps working between
// benchmark runs: before, every group is described every run; after,
// about a tenth of them, and nothing is late or throttled either way.
func TestBudgetSimulationSmall(t *testing.T) {
	tests := []struct {
		every            time.Duration
		minDesc, maxDesc int // per run
	}{
		{0, 30, 30},
		{10 * time.Minute, 1, 10},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("describeEvery=", tc.every), func(t *testing.T) {
			t.Parallel()
			var res budgetResult
			synctest.Test(t, func(t *testing.T) {
				res = simulateBudget(t, budgetSpec{Bindings: 30, DescribeEvery: tc.every, Minutes: 12, Seed: 2})
			})
			if len(res.Runs) != 12 || len(res.Late) > 0 {
				t.Fatalf("%d runs; late: %v", len(res.Runs), res.Late)
			}
			for i, r := range res.Runs {
				if r.Describes < tc.minDesc || r.Describes > tc.maxDesc || r.Throttles > 0 || r.Unfinished > 0 {
					t.Errorf("run %d: %+v; want %d to %d describes", i, r, tc.minDesc, tc.maxDesc)
				}
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}}
	for _, tc := range tests {
		if got := quantile(ds, tc.q); got != tc.want {
			t.Errorf("quantile(%g) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if quantile(nil, 0.5) != 0 || ds[0] != 5 {
		t.Error("quantile of nothing is not 0, or the input changed")
	}
}
