package faults

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awselb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// The world every fault runs in: one run a minute on a manual clock, the
// real Reconciler, the real DNS resolver asking an in-process DNS server,
// a state store, and target groups reached through the real elbv2 adapter,
// either on an elbv2fake World (for what moto cannot show: faults, health
// that moves, draining) or on moto.

const (
	// every is the schedule: one run a minute, as an EventBridge rule.
	every = time.Minute
	// runTimeout bounds each run, as the Lambda's timeout would, and
	// margin is the reconciler's DeadlineMargin for it: no AWS work
	// starts within it, and calls in flight are cut off half of it
	// before the deadline. Only a hung call waits for the deadline (DNS
	// faults end with the resolver's own 200ms timeout), so the rest
	// leaves room to save however loaded the machine; hangTimeout and
	// hangMargin are those of the runs with a hung call, which costs
	// hangTimeout-hangMargin/2 of wall time and leaves hangMargin/2.
	runTimeout  = 2 * time.Second
	margin      = 500 * time.Millisecond
	hangTimeout = 1500 * time.Millisecond
	hangMargin  = time.Second
	// steadyRuns is how long a binding holds its first answer before a
	// fault starts.
	steadyRuns = 3
)

var (
	start = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	// foreignTarget was registered by someone else before tgsync ran: a
	// shared binding must never remove or own it (rule 3).
	foreignTarget = tgsync.Target{IP: netip.MustParseAddr("10.250.0.1"), Port: 443}
)

// ips returns n addresses 10.0.<third>.<from>, 10.0.<third>.<from+1>, ...
// spilling into the next third octet past .250.
func ips(third, from, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		k := from - 1 + i
		out[i] = netip.AddrFrom4([4]byte{10, 0, byte(third + k/250), byte(1 + k%250)})
	}
	return out
}

// binding is one configured binding and what the test knows about it.
type binding struct {
	name   string
	host   string // the DNS name the source resolves
	arn    string
	ports  []uint16
	policy tgsync.Policy
	// answer is what the name holds now: the truth the checks use.
	answer  []netip.Addr
	foreign map[tgsync.Target]bool
	obs     []observation
	removed []tgsync.Target
	// removedAt is the run that removed a target.
	removedAt map[tgsync.Target]int
	// unsaved are the targets registered or deregistered by runs whose
	// state could not be saved.
	unsavedReg, unsavedDereg map[tgsync.Target]bool
}

// observation is one run as the DNS server saw it: what the name held,
// and whether the source's answer was usable (resolved, some address
// allowed) in at least one reconciler.
type observation struct {
	at     time.Time
	held   map[netip.Addr]bool
	usable bool
}

// desired is what the binding's group should serve, foreign targets aside.
func (b *binding) desired() map[tgsync.Target]bool {
	want := map[tgsync.Target]bool{}
	for _, a := range b.answer {
		if !b.policy.Allows(a) {
			continue
		}
		for _, p := range b.ports {
			want[tgsync.Target{IP: a, Port: p}] = true
		}
	}
	return want
}

// wrongful reports whether deregistering ip now breaks rule 2 as the world
// saw it: the name held ip at a run less than AfterDuration ago (whatever
// DNS served then), or ip was in one of the last AfterMisses usable
// answers. The run that deregistered is the latest observation.
func (b *binding) wrongful(ip netip.Addr, now time.Time) bool {
	usable := 0
	for i := len(b.obs) - 1; i >= 0; i-- {
		o := b.obs[i]
		if o.held[ip] && now.Sub(o.at) < b.policy.AfterDuration {
			return true
		}
		if o.usable {
			if usable < b.policy.AfterMisses && o.held[ip] {
				return true
			}
			usable++
		}
	}
	return false
}

// backend is a place target groups live: elbv2fake or moto.
type backend interface {
	tgsync.TargetGroups
	kind() string
	create(t testing.TB, name string) string
	remove(t testing.TB, arn string)
	// seed registers targets behind tgsync's back.
	seed(t testing.TB, arn string, ts ...tgsync.Target)
	// view shows a group without going through the reconciler's client;
	// nil for a group that does not exist.
	view(t testing.TB, arn string) []tgsync.ObservedTarget
	// changes lists what a run at now registered and deregistered, given
	// the group before and after it.
	changes(arn string, now time.Time, before, after []tgsync.ObservedTarget) (reg, dereg []tgsync.Target)
}

var groupIDs atomic.Uint64

// uncleanRuns counts fault-free runs that failed on their own, for the
// report.
var uncleanRuns atomic.Int64

// memBackend is an elbv2fake World reached through the real elbv2 adapter:
// it stands in for AWS where moto shows nothing (faults, initial health,
// draining).
type memBackend struct {
	*elbv2.Adapter
	world *elbv2fake.World
	spec  elbv2fake.GroupSpec
}

func newMemBackend(clock elbv2fake.Clock) *memBackend {
	w := elbv2fake.New(clock, elbv2fake.Options{})
	return &memBackend{Adapter: elbv2.New(w, elbv2.Unlimited()),
		world: w, spec: elbv2fake.GroupSpec{Port: 443}}
}

func (m *memBackend) kind() string { return "in-memory" }

func (m *memBackend) create(t testing.TB, name string) string {
	t.Helper()
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/%016x", name, groupIDs.Add(1))
	if err := m.world.CreateTargetGroup(arn, m.spec); err != nil {
		t.Fatal(err)
	}
	return arn
}

func (m *memBackend) remove(t testing.TB, arn string) {
	t.Helper()
	if err := m.world.DeleteTargetGroup(arn); err != nil {
		t.Fatal(err)
	}
}

func (m *memBackend) seed(t testing.TB, arn string, ts ...tgsync.Target) {
	t.Helper()
	in := &awselb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: elbv2fake.Descriptions(ts...)}
	if _, err := m.world.RegisterTargets(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func (m *memBackend) view(_ testing.TB, arn string) []tgsync.ObservedTarget {
	return m.world.Targets(arn)
}

func (m *memBackend) changes(arn string, now time.Time, _, _ []tgsync.ObservedTarget) (reg, dereg []tgsync.Target) {
	for _, e := range m.world.History() {
		if e.ARN != arn || !e.Time.Equal(now) {
			continue
		}
		switch e.Action {
		case elbv2fake.ActionRegister:
			reg = append(reg, e.Target)
		case elbv2fake.ActionDeregister:
			dereg = append(dereg, e.Target)
		}
	}
	return reg, dereg
}

// setup chooses the world of one test.
type setup struct {
	moto   bool // target groups on moto through the real elbv2 adapter
	shared bool
	ports  []uint16
	// bindings is how many bindings, each with its own name and group;
	// 0 means 1.
	bindings int
	// reconcilers is how many reconcilers share the bindings, the world
	// and the store; 0 means 1.
	reconcilers int
	concurrency int
	runTimeout  time.Duration
	// store returns the store and a reader of what it holds; nil means
	// a memstore.
	store func(t testing.TB) (tgsync.Store, func() *tgsync.State)
	// skewed gives tgsync a clock of its own that a test can jump, while
	// AWS's clock keeps time.
	skewed bool
	// margin is the reconciler's DeadlineMargin; 0 means margin.
	margin time.Duration
	// unsafe, when set, is the policy the reconciler runs with, while the
	// checks keep the default: it shows that the checks catch a breach.
	unsafe *tgsync.Policy
}

// env is one world under test.
type env struct {
	t          testing.TB
	clock      *elbv2fake.ManualClock // AWS's clock and the schedule
	recClock   *elbv2fake.ManualClock // tgsync's clock
	elb        backend
	dns        *dnstest.Server
	store      tgsync.Store
	stored     func() *tgsync.State
	bindings   []*binding
	recs       []*tgsync.Reconciler
	margin     time.Duration // the runs' DeadlineMargin
	active     int           // reconcilers that run in a step
	runTimeout time.Duration
	runs       int
	spurious   int // runs with a source failure no fault caused
	movedAt    int // the first run with the latest answers
	wrongful   int
	log        []string
}

func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	e := &env{t: t, clock: elbv2fake.NewManualClock(start), runTimeout: s.runTimeout, active: 1}
	e.recClock = e.clock
	if s.skewed {
		e.recClock = elbv2fake.NewManualClock(start)
	}
	if e.runTimeout == 0 {
		e.runTimeout = runTimeout
	}
	if s.moto {
		e.elb = newMotoBackend(t)
	} else {
		e.elb = newMemBackend(e.clock)
	}
	srv := testenv.DNS(t)
	e.dns = srv
	resolver, err := dns.New(dns.Config{Servers: []string{srv.Addr()}, Timeout: 200 * time.Millisecond, Attempts: 1, Lookups: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.store == nil {
		s.store = func(testing.TB) (tgsync.Store, func() *tgsync.State) {
			m := memstore.New()
			return m, m.Snapshot
		}
	}
	e.store, e.stored = s.store(t)
	ports := s.ports
	if len(ports) == 0 {
		ports = []uint16{443, 9200}
	}
	if s.margin == 0 {
		s.margin = margin
	}
	var domain []tgsync.Binding
	for i := range max(1, s.bindings) {
		b := &binding{
			name:      fmt.Sprintf("b%d", i+1),
			host:      fmt.Sprintf("vpc-search-%d-a1b2c3.us-east-1.es.amazonaws.com", i+1),
			ports:     ports,
			policy:    tgsync.DefaultPolicy(),
			foreign:   map[tgsync.Target]bool{},
			removedAt: map[tgsync.Target]int{}, unsavedReg: map[tgsync.Target]bool{}, unsavedDereg: map[tgsync.Target]bool{},
		}
		b.policy.Shared = s.shared
		b.arn = e.elb.create(t, fmt.Sprintf("faults-%d", i+1))
		if s.shared {
			e.elb.seed(t, b.arn, foreignTarget)
			b.foreign[foreignTarget] = true
		}
		e.bindings = append(e.bindings, b)
		policy := b.policy
		if s.unsafe != nil {
			policy = *s.unsafe
		}
		domain = append(domain, tgsync.Binding{Name: b.name, Source: resolver.Source(b.host, nil),
			TargetGroupARN: b.arn, Ports: b.ports, Policy: policy})
	}
	e.margin = s.margin
	for range max(1, s.reconcilers) {
		e.recs = append(e.recs, &tgsync.Reconciler{Bindings: slices.Clone(domain), Groups: e.elb, Store: e.store,
			Now: e.recClock.Now, Concurrency: s.concurrency})
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("run history:\n%s", strings.Join(e.log, "\n"))
		}
	})
	return e
}

// retarget points a binding at another group in every reconciler, as a
// redeploy with a new target group ARN does.
func (e *env) retarget(b *binding, arn string) {
	b.arn = arn
	for _, r := range e.recs {
		for i := range r.Bindings {
			if r.Bindings[i].Name == b.name {
				r.Bindings[i].TargetGroupARN = arn
			}
		}
	}
}

// move makes every binding's name hold answer.
func (e *env) move(answer []netip.Addr) {
	e.movedAt = e.runs + 1
	for _, b := range e.bindings {
		b.answer = slices.Clone(answer)
	}
}

// outcome is what the reconcilers of one step returned.
type outcome struct {
	results []tgsync.RunResult
	errs    []error
	// spurious is set when a source failed although DNS was not
	// faulted: this machine was too loaded to answer in time.
	spurious bool
}

func (o outcome) of(name string) []tgsync.BindingResult {
	var out []tgsync.BindingResult
	for _, r := range o.results {
		for _, b := range r.Bindings {
			if b.Binding == name {
				out = append(out, b)
			}
		}
	}
	return out
}

// err returns the first error of the binding, or of a run.
func (o outcome) err(name string) error {
	for _, b := range o.of(name) {
		if b.Err != nil {
			return b.Err
		}
	}
	for _, err := range o.errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// clean reports whether every run and binding finished without error.
func (o outcome) clean() bool {
	for i, r := range o.results {
		if o.errs[i] != nil || len(r.Failed()) > 0 {
			return false
		}
	}
	return true
}

func (o outcome) conflicts() int {
	n := 0
	for _, r := range o.results {
		n += r.Conflicts
	}
	return n
}

// step makes one run a minute after the last, with f on when it is not
// nil, and checks the safety rules against the world: nothing removed
// while the name held it (rule 2), nothing changed on a failed source
// (rule 1) and its misses kept, only allowed answered targets registered,
// foreign targets kept (rule 3), no group emptied (rule 5).
func (e *env) step(f *fault) outcome {
	t := e.t
	t.Helper()
	now := e.clock.Advance(every)
	if e.recClock != e.clock {
		e.recClock.Advance(every)
	}
	e.runs++
	for _, b := range e.bindings {
		e.dns.SetA(b.host, 60, b.answer...)
	}
	if f != nil && f.on != nil {
		f.on(e)
	}
	before := make([][]tgsync.ObservedTarget, len(e.bindings))
	for i, b := range e.bindings {
		before[i] = e.elb.view(t, b.arn)
	}
	storedBefore := e.stored()
	ctx, cancel := context.WithTimeout(context.Background(), e.runTimeout)
	o := outcome{results: make([]tgsync.RunResult, e.active), errs: make([]error, e.active)}
	var wg sync.WaitGroup
	for i := range e.active {
		wg.Go(func() { o.results[i], o.errs[i] = e.recs[i].Run(ctx, tgsync.RunOptions{DeadlineMargin: e.margin}) })
	}
	wg.Wait()
	cancel()
	if f != nil && f.off != nil {
		f.off(e)
	}
	for i, err := range o.errs {
		if err != nil && (f == nil || !f.runErrOK) {
			t.Errorf("run %d, reconciler %d: %v", e.runs, i+1, err)
		}
	}
	storedAfter := e.stored()
	if f == nil || f.area != "DNS" {
		for _, r := range o.results {
			for _, b := range r.Bindings {
				if b.SourceErr != nil || b.Unfinished && (f == nil || f.area != "Lambda") {
					o.spurious = true
				}
			}
		}
	}
	if o.spurious {
		e.spurious++
		t.Logf("run %d: a lookup failed or a binding did not finish without a fault causing it (loaded machine?)", e.runs)
	}
	allFailed := true
	for _, err := range o.errs {
		allFailed = allFailed && err != nil
	}
	if allFailed && storedBefore != nil && storedAfter != nil && !storedBefore.Equal(storedAfter) {
		t.Errorf("run %d: every run failed, yet the stored state changed", e.runs)
	}
	var line []string
	for i, b := range e.bindings {
		usable := false
		for _, r := range o.of(b.name) {
			if r.SourceErr == nil && slices.ContainsFunc(r.Answer.Addrs, b.policy.Allows) {
				usable = true
			}
		}
		held := map[netip.Addr]bool{}
		for _, a := range b.answer {
			held[a] = true
		}
		b.obs = append(b.obs, observation{at: now, held: held, usable: usable})
		after := e.elb.view(t, b.arn)
		reg, dereg := e.elb.changes(b.arn, now, before[i], after)
		for _, d := range dereg {
			switch {
			case b.foreign[d]:
				e.wrongful++
				t.Errorf("run %d: %s deregistered %s, which it does not own (rule 3)", e.runs, b.name, d)
			case b.wrongful(d.IP, now):
				e.wrongful++
				t.Errorf("run %d: %s deregistered %s although the name held it within %s or %d answers (rule 2)",
					e.runs, b.name, d, b.policy.AfterDuration, b.policy.AfterMisses)
			}
		}
		b.removed = append(b.removed, dereg...)
		for _, d := range dereg {
			b.removedAt[d] = e.runs
			if allFailed {
				b.unsavedDereg[d] = true
			}
		}
		for _, r := range reg {
			if allFailed {
				b.unsavedReg[r] = true
			}
		}
		for _, r := range reg {
			if !held[r.IP] || !b.policy.Allows(r.IP) || !slices.Contains(b.ports, r.Port) {
				t.Errorf("run %d: %s registered %s, which is not an allowed target of the answer", e.runs, b.name, r)
			}
		}
		if !usable {
			if len(reg)+len(dereg) > 0 {
				t.Errorf("run %d: %s changed its group (%d registered, %d deregistered) on a failed source (rule 1)", e.runs, b.name, len(reg), len(dereg))
			}
			if got, was := misses(storedAfter, b.name), misses(storedBefore, b.name); !sameMisses(got, was) {
				t.Errorf("run %d: %s's misses moved on a failed source (rule 1): %v, were %v", e.runs, b.name, got, was)
			}
		}
		if serving(before[i]) > 0 && serving(after) == 0 && len(b.answer) > 0 {
			t.Errorf("run %d: %s's group was emptied", e.runs, b.name)
		}
		for ft := range b.foreign {
			if !slices.ContainsFunc(after, func(o tgsync.ObservedTarget) bool { return o.Target == ft && !o.State.Draining() }) {
				t.Errorf("run %d: foreign target %s left %s's group", e.runs, ft, b.name)
			}
		}
		line = append(line, fmt.Sprintf("%s: held %d usable %t reg %d dereg %d err %v group %d serving", b.name, len(b.answer), usable, len(reg), len(dereg), o.err(b.name), serving(after)))
	}
	fs := "-"
	if f != nil {
		fs = f.name
	}
	e.log = append(e.log, fmt.Sprintf("run %2d %s fault=%s conflicts=%d | %s", e.runs, now.Format("15:04"), fs, o.conflicts(), strings.Join(line, " | ")))
	return o
}
