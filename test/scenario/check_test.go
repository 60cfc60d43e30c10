package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
)

// The invariants of the randomized scenario (scenario_test.go), checked
// after every run against the world, the DNS server and the store rather
// than against what the reconciler reports, and the convergence of its
// fault-free tail.

// stepResult is what the checks of one run learned.
type stepResult struct {
	binding tgsync.BindingResult
	written bool
	changes int // RegisterTargets and DeregisterTargets calls
}

// step makes one run a minute after the last and checks every invariant
// against the world, the DNS server and the store.
func (s *scenario) step(what string, served []netip.Addr, f runFaults) stepResult {
	t := s.t
	t.Helper()
	now := s.clock.Advance(runEvery)
	run := len(s.obs) + 1
	s.dns.SetA(scenarioName, 60, served...)
	s.dns.SetFault(scenarioName, f.dns)
	if f.elb != nil {
		if err := s.world.Inject(*f.elb); err != nil {
			t.Fatal(err)
		}
	}
	// Every change checked below is this run's: the history of earlier
	// runs was checked by their steps.
	s.world.ResetHistory()
	before := s.world.Targets(scenarioARN)
	rev, calls := s.store.Revision(), s.world.Calls()
	res, err := runOnce(s.rec, f.elb)
	s.world.ClearFaults()
	s.dns.SetFault(scenarioName, dnstest.FaultNone)
	after := s.world.Targets(scenarioARN)
	callsAfter := s.world.Calls()

	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("run %d (%s): %s", run, now.Sub(scenarioStart), fmt.Sprintf(format, args...))
	}
	if err != nil || len(res.Bindings) != 1 {
		t.Fatalf("run %d: %v (%d binding results)", run, err, len(res.Bindings))
	}
	b := res.Bindings[0]
	sr := stepResult{binding: b, written: s.store.Revision() != rev,
		changes: callsAfter[elbv2fake.ActionRegister] + callsAfter[elbv2fake.ActionDeregister] - calls[elbv2fake.ActionRegister] - calls[elbv2fake.ActionDeregister]}

	// The source: a fault or an empty name fails it, with the right kind;
	// otherwise it returns exactly what is served. This machine may be
	// loaded: a query or the run's deadline may time out without a fault,
	// and a run may be cut short before it resolves. Such a run is a
	// failed observation, which is what it was, and it is logged.
	servedSet := map[netip.Addr]bool{}
	for _, a := range served {
		servedSet[a] = true
	}
	want := map[dnstest.Fault]error{dnstest.FaultServFail: dns.ErrServerFailure, dnstest.FaultRefused: dns.ErrServerFailure,
		dnstest.FaultNXDomain: dns.ErrNXDOMAIN, dnstest.FaultTimeout: dns.ErrTimeout, dnstest.FaultEmpty: dns.ErrNoData,
		dnstest.FaultTruncateDropTCP: dns.ErrTruncated, dnstest.FaultGarbage: dns.ErrMalformed}[f.dns]
	if want == nil && len(served) == 0 {
		want = dns.ErrNoData
	}
	resolved := b.SourceErr == nil && len(b.Answer.Addrs) > 0
	switch {
	case b.SourceErr == nil && !resolved:
		if !b.Unfinished {
			fail("no source error and no answer, yet the run finished")
		}
		what += "; cut short before resolving"
	case want != nil && b.SourceErr == nil:
		fail("source answered %v despite %v", b.Answer.Addrs, want)
	case want != nil && !errors.Is(b.SourceErr, want) && !timedOut(b.SourceErr):
		fail("source error %v, want %v", b.SourceErr, want)
	case want == nil && b.SourceErr != nil:
		if !timedOut(b.SourceErr) {
			fail("source failed without a fault: %v", b.SourceErr)
		}
		what += "; DNS timed out without a fault"
	case resolved && !slices.Equal(b.Answer.Addrs, sortedKeys(servedSet)):
		fail("source answered %v, served %v", b.Answer.Addrs, sortedKeys(servedSet))
	}
	usable := resolved && slices.ContainsFunc(b.Answer.Addrs, s.policy.Allows)
	s.obs = append(s.obs, observation{at: now, addrs: servedSet, usable: usable})

	// One DescribeTargetHealth per run that got an answer, none otherwise.
	if d := callsAfter[elbv2fake.ActionDescribe] - calls[elbv2fake.ActionDescribe]; b.SourceErr == nil && d != 1 && !b.Unfinished || b.SourceErr != nil && d != 0 {
		fail("%d DescribeTargetHealth calls (source error %v)", d, b.SourceErr)
	}

	// Every change in the world: only on a usable answer, registrations
	// first, only allowed addresses of the answer, and a deregistration
	// only after the grace (rule 2) of a target the binding owns (rule 3).
	deregistering := false
	for _, e := range s.world.History() {
		if !e.Time.Equal(now) || e.Action != elbv2fake.ActionRegister && e.Action != elbv2fake.ActionDeregister {
			continue
		}
		if !usable {
			fail("%s %s although the source failed (rule 1)", e.Action, e.Target)
		}
		switch e.Action {
		case elbv2fake.ActionRegister:
			if deregistering {
				fail("registered %s after a deregistration of the same run", e.Target)
			}
			if !servedSet[e.Target.IP] || !s.policy.Allows(e.Target.IP) || !slices.Contains(scenarioPorts, e.Target.Port) {
				fail("registered %s, which is not an allowed target of the answer", e.Target)
			}
		case elbv2fake.ActionDeregister:
			deregistering = true
			if s.foreign[e.Target] {
				fail("deregistered %s, which a shared binding does not own (rule 3)", e.Target)
			}
			n, since := s.missedFor(e.Target.IP)
			if n < s.policy.AfterMisses || now.Sub(since) < s.policy.AfterDuration {
				fail("deregistered %s after it was missed by only %d usable answers over %s (rule 2)", e.Target, n, now.Sub(since))
			}
		}
	}

	// Never the last healthy target, never an empty group (rule 5), and
	// foreign targets stay.
	if count(before, isHealthy) > 0 && count(after, isHealthy) == 0 {
		fail("the last healthy target was removed: before %s, after %s", groupString(before), groupString(after))
	}
	if count(before, isServing) > 0 && count(after, isServing) == 0 {
		fail("the group was emptied: before %s, after %s", groupString(before), groupString(after))
	}
	for ft := range s.foreign {
		if !slices.ContainsFunc(after, func(o tgsync.ObservedTarget) bool { return o.Target == ft && isServing(o) }) {
			fail("foreign target %s is gone", ft)
		}
	}

	// The stored state always decodes: each state a run writes is checked
	// once (memstore's Load decodes the stored bytes).
	if sr.written {
		if _, _, err := s.store.Load(context.Background()); err != nil {
			fail("state does not load: %v", err)
		}
	}

	s.log = append(s.log, fmt.Sprintf("run %3d %6s | %s | served %s | faults %s | reg %d dereg %d refused %d | err %v | group %s",
		run, now.Sub(scenarioStart), what, addrsString(served), f, len(b.Registered), len(b.Deregistered), len(b.Plan.Refused),
		b.Err, groupString(after)))
	return sr
}

// missedFor returns how many usable answers in a row, up to the latest, did
// not hold ip, and when the first of them was served.
func (s *scenario) missedFor(ip netip.Addr) (n int, since time.Time) {
	for i := len(s.obs) - 1; i >= 0; i-- {
		o := s.obs[i]
		if !o.usable {
			continue
		}
		if o.addrs[ip] {
			break
		}
		n, since = n+1, o.at
	}
	return n, since
}

// settle stops churn, faults and sickness, keeps one answer, and checks
// that the group reaches it within the bound the policy allows and then
// stays put without calls or writes.
func (s *scenario) settle() {
	t := s.t
	t.Helper()
	s.mu.Lock()
	clear(s.sick)
	s.mu.Unlock()
	if s.emptyLeft > 0 {
		s.answer, s.emptyLeft = s.saved, 0
	}
	if len(s.answer) == 0 || s.rng.IntN(2) == 0 {
		// A fresh answer leaves every target stale, so that removal is
		// capped by maxFraction for several runs when the group is big.
		s.answer = s.pick(1+s.rng.IntN(4), s.answer)
	}
	want := map[tgsync.Target]bool{}
	for _, a := range s.answer {
		for _, p := range scenarioPorts {
			want[tgsync.Target{IP: a, Port: p}] = true
		}
	}
	stale := 0
	for _, o := range s.world.Targets(scenarioARN) {
		if isServing(o) && !want[o.Target] && !s.foreign[o.Target] {
			stale++
		}
	}
	bound := convergenceBound(s.policy, len(want)+len(s.foreign), stale)
	converged, clean := 0, false
	for run := 1; run <= max(bound, converged)+3; run++ {
		prev := s.stored()
		r := s.step("settle", s.answer, runFaults{})
		wasClean := clean
		clean = r.binding.Err == nil && !r.binding.Unfinished
		if !clean {
			bound++ // the machine is loaded: one observation fewer
		}
		ok := s.matches(want)
		switch {
		case converged == 0 && ok:
			converged = run
		case converged != 0 && !ok:
			t.Errorf("settle run %d: the group left the answer after it had reached it at run %d", run, converged)
		case converged != 0 && r.changes > 0:
			t.Errorf("settle run %d: steady state still made %d change calls", run, r.changes)
		case converged != 0 && r.written && clean && wasClean && !onlyIntentsExpired(prev, s.stored(), s.clock.Now()):
			// A failed run records its error and the next clean run
			// clears it; two clean runs in a row write nothing, but for
			// the one write that forgets intents of a failed
			// registration once tgsync.IntentGrace ran out.
			t.Errorf("settle run %d: steady state still writes state", run)
		}
	}
	if converged == 0 || converged > bound {
		t.Errorf("the group reached the answer after %d fault-free runs (0: never), want at most %d (%d stale, %d kept targets); group %s",
			converged, bound, stale, len(want)+len(s.foreign), groupString(s.world.Targets(scenarioARN)))
	}
	t.Logf("converged after %d fault-free runs (bound %d: %d stale, %d kept targets)", converged, bound, stale, len(want)+len(s.foreign))
}

// convergenceBound is how many fault-free runs, with one answer and every
// node healthy, it takes at most to reach the answer. Run 1 registers what
// is missing. Every stale target is missed from run 1 at the latest, so at
// run k it has k misses over (k-1) minutes: it is due once both reach the
// policy (run 4 for 3 misses and 3 minutes at one run a minute). From then
// on each run removes MaxFraction of the registered targets (at least one),
// and the desired targets are healthy, so rule 5 never holds one back.
// Removal is capped, not the churn: a group that grew past one batch and
// then shrank to a few takes a few halvings more.
func convergenceBound(p tgsync.Policy, keep, stale int) int {
	if stale == 0 {
		return 1
	}
	due := max(p.AfterMisses, int(math.Ceil(float64(p.AfterDuration)/float64(runEvery)))+1)
	runs := due - 1
	for stale > 0 {
		runs++
		stale -= min(stale, max(1, int(p.MaxFraction*float64(keep+stale))))
	}
	return runs
}

// matches reports whether the group's serving targets, foreign ones aside,
// are exactly want, and every foreign target still serves.
func (s *scenario) matches(want map[tgsync.Target]bool) bool {
	got := map[tgsync.Target]bool{}
	for _, o := range s.world.Targets(scenarioARN) {
		if isServing(o) {
			got[o.Target] = true
		}
	}
	for ft := range s.foreign {
		if !got[ft] {
			return false
		}
		delete(got, ft)
	}
	return maps.Equal(got, want)
}

// timedOut reports whether err is a query or run that ran out of time.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func isHealthy(o tgsync.ObservedTarget) bool { return o.State == tgsync.HealthHealthy }
func isServing(o tgsync.ObservedTarget) bool { return !o.State.Draining() }

func count(obs []tgsync.ObservedTarget, f func(tgsync.ObservedTarget) bool) int {
	n := 0
	for _, o := range obs {
		if f(o) {
			n++
		}
	}
	return n
}

func sortedKeys(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func addrsString(addrs []netip.Addr) string {
	if len(addrs) > 12 {
		return fmt.Sprintf("%d addresses", len(addrs))
	}
	return fmt.Sprint(addrs)
}

// groupString lists a group as target=state, or counts states when large.
func groupString(obs []tgsync.ObservedTarget) string {
	if len(obs) > 12 {
		states := map[tgsync.HealthState]int{}
		for _, o := range obs {
			states[o.State]++
		}
		return fmt.Sprint(states)
	}
	parts := make([]string, len(obs))
	for i, o := range obs {
		parts[i] = o.Target.String() + "=" + string(o.State)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// stored is the state in the store.
func (s *scenario) stored() *tgsync.State {
	s.t.Helper()
	st, _, err := s.store.Load(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// onlyIntentsExpired says whether after is before less the owned targets
// that were not in the group and whose IntentGrace ran out by now.
func onlyIntentsExpired(before, after *tgsync.State, now time.Time) bool {
	want := before.Clone()
	for name, b := range want.Bindings {
		a := after.Bindings[name]
		if a == nil {
			return false
		}
		for t, at := range b.Owned {
			if _, kept := a.Owned[t]; !kept && now.Sub(at) >= tgsync.IntentGrace {
				delete(b.Owned, t)
			}
		}
	}
	return want.Equal(after)
}
