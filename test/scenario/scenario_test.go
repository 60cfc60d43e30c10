package scenario

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// The scenario drives the real Reconciler with the real DNS resolver against
// an in-process DNS server and a memstore. The target group is an elbv2fake
// World behind the real elbv2 adapter: it stands in for the AWS behaviour
// moto cannot show (health that moves on a clock, draining, and API faults:
// throttling, 5xx, connection resets, batches failing partway, calls slower
// than the run's deadline).

// adapter is the real elbv2 adapter on the world, without its client-side
// rate limits: the world's faults alone decide what fails.
func adapter(w *elbv2fake.World) *elbv2.Adapter {
	return elbv2.New(w, elbv2.Unlimited())
}

var scenarioSeed = flag.Uint64("scenario.seed", 0, "run TestScenarioRandomChurn with this seed only")

const (
	scenarioName = "vpc-search-scenario-a1b2c3.us-east-1.es.amazonaws.com"
	scenarioARN  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/scenario/73e2d6bc24d8a067"
	// runEvery is the schedule: one run a minute, as an EventBridge rule.
	runEvery = time.Minute
	// runTimeout and deadlineMargin are the deadline of each run and the
	// reconciler's margin: it starts no AWS work within the margin of the
	// deadline and cuts off calls still in flight half the margin before
	// it, so that the state is saved in time. Only a hung call waits for
	// the deadline; every other run ends long before it, however loaded
	// the machine.
	runTimeout     = 10 * time.Second
	deadlineMargin = 500 * time.Millisecond
	// hangTimeout and hangMargin are those of a run with a hung call,
	// which costs the run hangTimeout-hangMargin/2 of wall time and leaves
	// hangMargin/2 to plan and save a group of a few hundred targets, with
	// room to spare under the race detector on a loaded machine. The
	// hung call starts when the run has used at most
	// hangTimeout-hangMargin; a run cut short before it is logged as such.
	hangTimeout = 2 * time.Second
	hangMargin  = 1500 * time.Millisecond
	poolSize    = 300
)

var (
	scenarioPorts = []uint16{443, 9200}
	scenarioStart = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	// hijacked is a documentation address a poisoned answer may carry; it
	// must never be registered (rule 6). It is data only, never dialled.
	hijacked = netip.MustParseAddr("203.0.113.66")
	// preexisting targets were registered by someone else before tgsync
	// ran: a shared binding must never remove them, a dedicated binding
	// owns its whole group and must remove them after the grace.
	preexisting = []tgsync.Target{
		{IP: netip.MustParseAddr("10.250.0.1"), Port: 443},
		{IP: netip.MustParseAddr("10.250.0.2"), Port: 443},
		{IP: netip.MustParseAddr("10.250.0.3"), Port: 9200},
	}
)

func TestScenarioRandomChurn(t *testing.T) {
	runs := 300
	switch {
	case testing.Short():
		runs = 100
	case testenv.RaceDetector:
		// Under -race a run costs about four times as much; half the runs
		// of each seed keep the suite inside its time, and a plain
		// go test ./test/scenario plays all of them.
		runs = 150
	}
	seeds := []uint64{1, 2, 3, 4}
	if *scenarioSeed != 0 {
		seeds = []uint64{*scenarioSeed}
	}
	variants := []struct {
		name   string
		shared bool
	}{
		{"dedicated", false},
		{"shared", true},
	}
	for _, v := range variants {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed=%d", v.name, seed), func(t *testing.T) {
				t.Parallel()
				s := newScenario(t, seed, v.shared)
				for range runs {
					s.churnRun()
				}
				s.settle()
			})
		}
	}
}

// scenario is one randomized run history and the invariants checked on it.
type scenario struct {
	t       *testing.T
	name    string
	rng     *rand.Rand
	clock   *elbv2fake.ManualClock
	world   *elbv2fake.World
	dns     *dnstest.Server
	store   *memstore.Store
	rec     *tgsync.Reconciler
	policy  tgsync.Policy
	foreign map[tgsync.Target]bool

	mu   sync.Mutex
	sick map[netip.Addr]bool // what the health checks see failing

	answer    []netip.Addr // pool addresses the name holds, sorted
	saved     []netip.Addr // the answer to restore after an empty spell
	gone      []netip.Addr // addresses dropped lately, to bring back
	emptyLeft int
	obs       []observation
	log       []string
}

// observation is what the DNS server served in one run and whether the
// source's answer was usable: resolved, and some address allowed.
type observation struct {
	at     time.Time
	addrs  map[netip.Addr]bool
	usable bool
}

// runFaults are the faults of one run; they are cleared after it.
type runFaults struct {
	dns dnstest.Fault
	elb *elbv2fake.Fault
}

func (f runFaults) String() string {
	var parts []string
	if f.dns != dnstest.FaultNone {
		parts = append(parts, "dns="+f.dns.String())
	}
	if f.elb != nil {
		p := fmt.Sprintf("elb=%s", f.elb.Kind)
		if f.elb.Action != "" {
			p += "@" + f.elb.Action
		}
		if f.elb.Batch > 0 {
			p += fmt.Sprintf("#%d", f.elb.Batch)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

func newScenario(t *testing.T, seed uint64, shared bool) *scenario {
	s := &scenario{
		t: t, name: t.Name(),
		rng:     rand.New(rand.NewPCG(seed, seed^0x5ce1a210)),
		clock:   elbv2fake.NewManualClock(scenarioStart),
		sick:    map[netip.Addr]bool{},
		foreign: map[tgsync.Target]bool{},
	}
	s.world = elbv2fake.New(s.clock, elbv2fake.Options{Prober: s.probe})
	// 10.0.1.x lies outside the group's VPC: registering it needs
	// AvailabilityZone "all" (rule 7).
	spec := elbv2fake.GroupSpec{Port: 443, VPCPrefixes: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.250.0.0/16")}}
	if err := s.world.CreateTargetGroup(scenarioARN, spec); err != nil {
		t.Fatal(err)
	}
	in := &elb.RegisterTargetsInput{TargetGroupArn: aws.String(scenarioARN), Targets: elbv2fake.Descriptions(preexisting...)}
	if _, err := s.world.RegisterTargets(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if shared {
		for _, p := range preexisting {
			s.foreign[p] = true
		}
	}
	s.dns = testenv.DNS(t)
	resolver, err := dns.New(dns.Config{Servers: []string{s.dns.Addr()}, Timeout: 100 * time.Millisecond, Attempts: 1, Lookups: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.policy = tgsync.DefaultPolicy()
	s.policy.Shared = shared
	s.store = memstore.New()
	s.rec = &tgsync.Reconciler{
		Bindings: []tgsync.Binding{{Name: "search", Source: resolver.Source(scenarioName, nil),
			TargetGroupARN: scenarioARN, Ports: scenarioPorts, Policy: s.policy}},
		Groups: adapter(s.world), Store: s.store, Now: s.clock.Now,
	}
	s.answer = s.pick(1+s.rng.IntN(6), nil)
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d; reproduce with: go test -run '%s$' -scenario.seed=%d -v ./test/scenario\nrun history:\n%s",
				seed, s.name, seed, strings.Join(s.log, "\n"))
		}
	})
	return s
}

func (s *scenario) probe(_ context.Context, t tgsync.Target) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.sick[t.IP]
}

func poolAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)})
}

// pick returns n pool addresses not in except, sorted.
func (s *scenario) pick(n int, except []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, i := range s.rng.Perm(poolSize) {
		if a := poolAddr(i); len(out) < n && !slices.Contains(except, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// churn changes the answer the name holds and says how.
func (s *scenario) churn() string {
	if s.emptyLeft > 0 {
		if s.emptyLeft--; s.emptyLeft == 0 {
			s.answer = s.saved
			return "back from empty"
		}
		return "still empty"
	}
	drop := func(n int) {
		for range min(n, len(s.answer)) {
			i := s.rng.IntN(len(s.answer))
			s.gone = append(s.gone, s.answer[i])
			s.answer = slices.Delete(s.answer, i, i+1)
		}
		s.gone = s.gone[max(0, len(s.gone)-8):]
	}
	add := func(n int) {
		s.answer = append(s.answer, s.pick(n, s.answer)...)
		slices.SortFunc(s.answer, netip.Addr.Compare)
	}
	switch p, n := s.rng.IntN(100), 1+s.rng.IntN(3); {
	case p < 32:
		return "same"
	case p < 40:
		// An address that left comes back while its misses are counted:
		// they must start over (rule 2).
		var back []netip.Addr
		for _, a := range s.gone {
			if len(back) < n && !slices.Contains(s.answer, a) && s.rng.IntN(2) == 0 {
				back = append(back, a)
			}
		}
		s.answer = append(s.answer, back...)
		slices.SortFunc(s.answer, netip.Addr.Compare)
		return fmt.Sprintf("bring back %v", back)
	case p < 55:
		add(n)
		return fmt.Sprintf("add %d", n)
	case p < 68:
		drop(n)
		return fmt.Sprintf("remove %d", n)
	case p < 80:
		drop(n)
		add(n)
		return fmt.Sprintf("swap %d", n)
	case p < 88:
		s.answer = s.pick(1+s.rng.IntN(8), s.answer)
		return "replace all at once"
	case p < 93:
		s.saved, s.answer, s.emptyLeft = s.answer, nil, n
		return fmt.Sprintf("empty for %d runs", n)
	case p < 96:
		// Over 200 targets: two batches per call, and a UDP answer too
		// big for one datagram (TCP retry).
		s.answer = s.pick(100+s.rng.IntN(31), nil)
		return "grow past one batch"
	default:
		s.answer = s.pick(1+s.rng.IntN(6), nil)
		return "shrink to a few"
	}
}

// flip changes what the health checks see and says how.
func (s *scenario) flip() string {
	group := s.world.Targets(scenarioARN) // asks the prober: before locking
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p := s.rng.IntN(100); {
	case p < 5 && len(s.answer) > 0:
		for _, a := range s.answer {
			s.sick[a] = true
		}
		return "every answered node sick"
	case p < 15:
		clear(s.sick)
		return "all heal"
	case p < 40:
		var ips []netip.Addr
		for _, o := range group {
			ips = append(ips, o.IP)
		}
		ips = append(ips, s.answer...)
		if len(ips) == 0 {
			return ""
		}
		var flipped []string
		for range 1 + s.rng.IntN(3) {
			ip := ips[s.rng.IntN(len(ips))]
			s.sick[ip] = !s.sick[ip]
			flipped = append(flipped, fmt.Sprintf("%s sick=%t", ip, s.sick[ip]))
		}
		return strings.Join(flipped, " ")
	}
	return ""
}

var dnsFaults = []dnstest.Fault{dnstest.FaultServFail, dnstest.FaultRefused, dnstest.FaultNXDomain,
	dnstest.FaultTimeout, dnstest.FaultEmpty, dnstest.FaultTruncateDropTCP, dnstest.FaultGarbage}

// elbFaults lists a hung call once and the cheap faults twice: a hung call
// costs the run most of its deadline in wall time.
var elbFaults = []elbv2fake.FaultKind{elbv2fake.FaultHang,
	elbv2fake.FaultThrottle, elbv2fake.FaultInternalError, elbv2fake.FaultUnavailable, elbv2fake.FaultConnReset, elbv2fake.FaultPartialBatch,
	elbv2fake.FaultThrottle, elbv2fake.FaultInternalError, elbv2fake.FaultUnavailable, elbv2fake.FaultConnReset, elbv2fake.FaultPartialBatch}

var elbActions = []string{elbv2fake.ActionDescribe, elbv2fake.ActionRegister, elbv2fake.ActionDeregister}

func (s *scenario) faults() runFaults {
	var f runFaults
	if s.rng.IntN(100) < 12 {
		f.dns = dnsFaults[s.rng.IntN(len(dnsFaults))]
	}
	if s.rng.IntN(100) < 20 {
		e := elbv2fake.Fault{Kind: elbFaults[s.rng.IntN(len(elbFaults))], Times: 1}
		e.Action = elbActions[s.rng.IntN(len(elbActions))]
		if e.Kind == elbv2fake.FaultPartialBatch {
			e.Action = elbActions[1+s.rng.IntN(2)]
			e.Batch = 1 + s.rng.IntN(2)
		}
		f.elb = &e
	}
	return f
}

// runOnce runs rec once under the deadline and margin of a run with the
// fault f (nil for none).
func runOnce(rec *tgsync.Reconciler, f *elbv2fake.Fault) (tgsync.RunResult, error) {
	timeout, margin := runTimeout, deadlineMargin
	if f != nil && f.Kind == elbv2fake.FaultHang {
		timeout, margin = hangTimeout, hangMargin
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return rec.Run(ctx, tgsync.RunOptions{DeadlineMargin: margin})
}

func (s *scenario) churnRun() {
	what := s.churn()
	if h := s.flip(); h != "" {
		what += "; " + h
	}
	served := slices.Clone(s.answer)
	if s.rng.IntN(100) < 3 {
		served = append(served, hijacked)
		what += "; hijacked answer"
	}
	s.step(what, served, s.faults())
}

// TestScenarioAnswerDuringDescribeFailureRestartsGrace is rule 2 when a run
// resolves the source but cannot describe the group: the answer still shows
// the target, so its misses must start over, or a target that came back is
// removed after a single miss.
func TestScenarioAnswerDuringDescribeFailureRestartsGrace(t *testing.T) {
	tests := []struct {
		name  string
		fault elbv2fake.Fault
	}{
		{"describe throttled", elbv2fake.Fault{Kind: elbv2fake.FaultThrottle, Action: elbv2fake.ActionDescribe}},
		{"describe slower than the run", elbv2fake.Fault{Kind: elbv2fake.FaultHang, Action: elbv2fake.ActionDescribe}},
		{"describe reset", elbv2fake.Fault{Kind: elbv2fake.FaultConnReset, Action: elbv2fake.ActionDescribe}},
	}
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	steps := []struct {
		answer       []netip.Addr
		fault        bool
		deregistered string
	}{
		{[]netip.Addr{a, b}, false, ""},
		{[]netip.Addr{a}, false, ""}, // miss 1
		{[]netip.Addr{a}, false, ""}, // miss 2
		{[]netip.Addr{a, b}, true, ""},
		{[]netip.Addr{a}, false, ""}, // miss 1 again
		{[]netip.Addr{a}, false, ""},
		{[]netip.Addr{a}, false, ""},             // 3 misses over 2 minutes
		{[]netip.Addr{a}, false, "10.0.0.2:443"}, // 4 misses over 3 minutes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := elbv2fake.NewManualClock(scenarioStart)
			world := elbv2fake.New(clock, elbv2fake.Options{})
			if err := world.CreateTargetGroup(scenarioARN, elbv2fake.GroupSpec{Port: 443}); err != nil {
				t.Fatal(err)
			}
			srv := testenv.DNS(t)
			resolver, err := dns.New(dns.Config{Servers: []string{srv.Addr()}, Timeout: 100 * time.Millisecond, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			rec := &tgsync.Reconciler{
				Bindings: []tgsync.Binding{{Name: "search", Source: resolver.Source(scenarioName, nil),
					TargetGroupARN: scenarioARN, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()}},
				Groups: adapter(world), Store: memstore.New(), Now: clock.Now,
			}
			for i, st := range steps {
				clock.Advance(runEvery)
				srv.SetA(scenarioName, 60, st.answer...)
				if st.fault {
					if err := world.Inject(tt.fault); err != nil {
						t.Fatal(err)
					}
				}
				var f *elbv2fake.Fault
				if st.fault {
					f = &tt.fault
				}
				res, err := runOnce(rec, f)
				world.ClearFaults()
				if err != nil {
					t.Fatalf("run %d: %v", i+1, err)
				}
				r := res.Bindings[0]
				if (r.Err != nil) != st.fault {
					t.Fatalf("run %d: binding error %v, want one: %t", i+1, r.Err, st.fault)
				}
				var got []string
				for _, c := range r.Deregistered {
					got = append(got, c.Target.String())
				}
				if strings.Join(got, ",") != st.deregistered {
					t.Errorf("run %d: deregistered %v, want %q", i+1, got, st.deregistered)
				}
			}
		})
	}
}
