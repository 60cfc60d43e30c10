package tgsync

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Desired is what the source says one binding should hold.
type Desired struct {
	// Source names the source, for reasons (e.g. the DNS name).
	Source string
	// Answer is the source's answer; ignored when Err is set.
	Answer Answer
	// Err is set when the source failed. A failed source removes nothing.
	Err error
	// Ports are the ports every address is registered on.
	Ports []uint16
	// Others is what the other bindings of the same target group want and
	// own; empty for a binding alone on its group.
	Others Claims
}

// Claims is what the other bindings of one target group say about its
// targets, so that no binding removes a target another one wants (rule 9).
type Claims struct {
	// Wanted maps each target another binding's answer holds to that
	// binding.
	Wanted map[Target]Claim
	// Owned holds the targets another binding of the group owns.
	Owned map[Target]bool
}

// Claim is one binding's wish for a target.
type Claim struct {
	Binding string
	// Current is set when the claim comes from an answer of this run;
	// otherwise it is the binding's last successful answer, kept while its
	// source fails.
	Current bool
}

// Changes are what a decision changes in the target group. Register
// comes before Deregister when they are applied.
type Changes struct {
	Register   []Change
	Deregister []Change
}

// Empty reports whether nothing changes.
func (c Changes) Empty() bool { return len(c.Register) == 0 && len(c.Deregister) == 0 }

// Decision is the outcome of Plan: what the binding should hold, what to
// change, what was refused, what waits, and the state to keep once the
// changes are applied.
type Decision struct {
	// Desired is the set of targets the binding should hold, after the
	// address ranges were checked.
	Desired []Target
	Changes
	Refused []Refusal
	Pending []Pending
	// Next is the binding state once every change succeeded; only Owned
	// and Misses differ from the input.
	Next BindingState
}

// Rule names used in refusals; they are stable and meant for filtering.
const (
	RuleSourceFailed = "source-failed" // rule 1
	RuleNotAllowed   = "not-allowed"   // rule 6
	RuleReserved     = "reserved"      // rule 6: never registrable
	RuleMaxFraction  = "max-fraction"  // rule 4
	RuleLastHealthy  = "last-healthy"  // rule 5
	RuleMakeBefore   = "make-before-break"
)

// Rules lists every rule a refusal can name, so that a counter per rule can
// start at zero before the first refusal (TestRulesListsEveryRule keeps it
// complete).
var Rules = []string{RuleSourceFailed, RuleNotAllowed, RuleReserved, RuleMaxFraction, RuleLastHealthy, RuleMakeBefore}

// IntentGrace is how long a shared binding keeps owning a target it
// registered, or was about to register, while the target is not in the
// group. A run records what it is about to register before it calls AWS,
// so that a run that dies before its final save cannot leave a target
// nobody owns; another run that describes the group before the call lands
// must not forget that intent. Lambda stops every invocation within 15
// minutes.
const IntentGrace = 15 * time.Minute

// Plan decides the changes for one binding. It is pure: no I/O, no clock
// other than now, and its inputs are not modified.
//
// Per source answer:
//
//	source                          | effect
//	--------------------------------+------------------------------------------------------
//	failed (timeout, SERVFAIL, ...) | nothing changes, misses keep their count (rule 1)
//	empty answer                    | same as failed (rule 1)
//	address never registrable       | refused, not desired, whatever the ranges say (rule 6)
//	address outside allowed ranges  | refused, not desired (rule 6)
//	every address refused           | same as failed: nothing is removed (rules 1, 6)
//	some of its sources failed      | what the others show is registered; nothing is
//	                                | removed and no miss counted (rule 1; see Union)
//
// Per target, with a usable answer:
//
//	in source | in group           | owned   | another binding of the group | effect
//	----------+--------------------+---------+------------------------------+---------------------------------------------
//	yes       | no                 |    -    |    -                         | register (a shared binding owns it at once)
//	yes       | draining           |    -    |    -                         | register again at once
//	yes       | any other state    |    -    |    -                         | keep, even unhealthy (rule 5); misses reset
//	yes       | yes                |   no    | owns it                      | keep; the shared binding owns it too
//	no        | draining           |    -    |    -                         | leave alone; it is already leaving
//	no        | yes                |   no    |    -                         | leave alone: a foreign target (rule 3)
//	no        | yes                |   yes   | wants and owns it (this run) | keep; ownership passes to it (rule 9)
//	no        | yes                |   yes   | wants it                     | keep, count no miss (rule 9)
//	no        | yes                |   yes   |    -                         | count a miss; pending until N misses and T (rule 2)
//	no        | yes, grace ran out |   yes   |    -                         | deregister, unless refused below
//	no        | no                 |   yes   |    -                         | owned for IntentGrace after it was registered, then forgotten
//
// Deregistrations are refused, unhealthy and longest-missing first kept
// in order, while a target the binding registered is still in its first
// health check and younger than WaitForHealthy (make before break), when
// they would exceed MaxFraction of the registered targets (rule 4) or
// remove the last healthy target (rule 5).
func Plan(desired Desired, observed []ObservedTarget, state BindingState, policy Policy, now time.Time) Decision {
	out := Decision{Next: state}
	if why := unusable(desired); why != "" {
		return sourceFailed(out, state, why)
	}
	var refused []Refusal
	out.Desired, refused = policy.refuse(desired)
	out.Refused = append(out.Refused, refused...)
	if len(out.Desired) == 0 {
		return sourceFailed(out, state, fmt.Sprintf("no address from %s may be registered", desired.Source))
	}
	g := newMembership(observed)
	out.Next.Owned, out.Next.Misses = nil, map[Target]Miss{}
	if policy.Shared {
		out.Next.Owned = map[Target]time.Time{}
	}
	out.Register = planRegistrations(&out, desired, g, state, policy, now)
	out.Next.Joining = joining(out.Desired, out.Register, g, state, policy, now)
	if desired.Answer.Partial != nil {
		keepOnPartial(&out, desired, state)
		return out
	}
	candidates := countMisses(&out, desired, observed, g, state, policy, now)
	planRemovals(&out, candidates, g, state, desired.Source, policy, now)
	slices.SortFunc(out.Pending, func(a, b Pending) int { return a.Target.Compare(b.Target) })
	return out
}

// unusable says why an answer cannot be planned on, or "" when it can.
func unusable(desired Desired) string {
	switch {
	case desired.Err != nil:
		return fmt.Sprintf("source %s failed: %v", desired.Source, desired.Err)
	case len(desired.Answer.Addrs) == 0:
		return fmt.Sprintf("source %s returned no addresses", desired.Source)
	}
	return ""
}

// sourceFailed is the plan of a binding whose answer cannot be used:
// nothing is known about the source, so misses and ownership stay (rule 1).
func sourceFailed(out Decision, state BindingState, why string) Decision {
	out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Rule: RuleSourceFailed,
		Reason: why + "; removing nothing and counting no misses"})
	// Owned and Misses are always new maps, so that nothing the caller
	// does to Next reaches state.
	out.Next.Owned, out.Next.Misses = maps.Clone(state.Owned), maps.Clone(state.Misses)
	out.Next.Joining = maps.Clone(state.Joining)
	return out
}

// refuse splits an answer into the targets the binding may hold and the
// refusals of the others (rule 6).
func (p Policy) refuse(desired Desired) ([]Target, []Refusal) {
	allowed, refused := p.Targets(desired.Answer.Addrs, desired.Ports)
	var out []Refusal
	for _, t := range refused {
		f := Refusal{Action: ActionRegister, Target: t, Rule: RuleNotAllowed,
			Reason: fmt.Sprintf("%s from %s is outside the allowed ranges %v; not registering it", t.IP, desired.Source, p.AllowedPrefixes)}
		if what := ReservedFor(t.IP); what != "" {
			f.Rule = RuleReserved
			f.Reason = fmt.Sprintf("%s from %s is %s, which is never registered whatever allowedCidrs says", t.IP, desired.Source, what)
		}
		out = append(out, f)
	}
	return allowed, out
}

// membership indexes one observation of the target group.
type membership struct {
	seen       map[Target]ObservedTarget
	registered int // members not draining
	healthy    int
}

func newMembership(observed []ObservedTarget) membership {
	g := membership{seen: make(map[Target]ObservedTarget, len(observed))}
	for _, o := range observed {
		g.seen[o.Target] = o
		if !o.State.Draining() {
			g.registered++
		}
		if o.State == HealthHealthy {
			g.healthy++
		}
	}
	return g
}

// planRegistrations registers what the answer holds and the group lacks
// (or is draining), and records what a shared binding owns of its answer.
func planRegistrations(out *Decision, desired Desired, g membership, state BindingState, policy Policy, now time.Time) []Change {
	var register []Change
	for _, t := range out.Desired {
		o, present := g.seen[t]
		missing := !present || o.State.Draining()
		switch {
		case !present:
			register = append(register, Change{Action: ActionRegister, Target: t,
				Reason: "in the answer for " + desired.Source + " and not in the target group"})
		case o.State.Draining():
			register = append(register, Change{Action: ActionRegister, Target: t,
				Reason: fmt.Sprintf("in the answer for %s but %s; registering it again", desired.Source, o.State)})
		}
		if !policy.Shared {
			continue
		}
		at, owned := state.Owned[t]
		switch {
		case missing:
			// Owned from the moment it is about to be registered.
			out.Next.Owned[t] = now
		case owned:
			out.Next.Owned[t] = at
		case desired.Others.Owned[t]:
			// Registered by another binding of the group: this one
			// wants it too, and owns it from now on (rule 9).
			out.Next.Owned[t] = now
		}
	}
	return register
}

// removal is an owned target whose grace ran out.
type removal struct {
	o    ObservedTarget
	miss Miss
}

// countMisses counts a miss for every owned member the answer lacks and
// returns those whose grace ran out (rule 2). Targets another binding of
// the group wants are kept without a miss (rule 9).
func countMisses(out *Decision, desired Desired, observed []ObservedTarget, g membership, state BindingState, policy Policy, now time.Time) []removal {
	want := make(map[Target]bool, len(out.Desired))
	for _, t := range out.Desired {
		want[t] = true
	}
	var due []removal
	for _, o := range observed {
		t := o.Target
		if want[t] || o.State.Draining() {
			continue
		}
		at, owned := state.Owned[t]
		if policy.Shared && !owned {
			continue
		}
		if claim, ok := desired.Others.Wanted[t]; ok {
			if policy.Shared && !(claim.Current && desired.Others.Owned[t]) {
				out.Next.Owned[t] = at
			}
			continue
		}
		if policy.Shared {
			out.Next.Owned[t] = at
		}
		m := state.Misses[t].Counted(now, policy.MissWindow())
		out.Next.Misses[t] = m
		p := policy.Pending(t, m, now)
		if p.Due() {
			due = append(due, removal{o, m})
			continue
		}
		out.Pending = append(out.Pending, p)
	}
	if policy.Shared {
		for t, at := range state.Owned {
			if _, present := out.Next.Owned[t]; present {
				continue
			}
			// A clock that stepped back keeps the intent longer, never
			// shorter.
			if _, inGroup := g.seen[t]; !inGroup && now.Sub(at) < IntentGrace {
				out.Next.Owned[t] = at
			}
		}
	}
	return due
}

// planRemovals deregisters the targets whose grace ran out, unhealthy and
// longest-missing first, within the removal budget (rule 4) and never the
// last healthy target (rule 5).
func planRemovals(out *Decision, due []removal, g membership, state BindingState, source string, policy Policy, now time.Time) {
	slices.SortFunc(due, func(a, b removal) int {
		ah, bh := a.o.State == HealthHealthy, b.o.State == HealthHealthy
		if ah != bh {
			if ah {
				return 1
			}
			return -1
		}
		if c := a.miss.Since.Compare(b.miss.Since); c != 0 {
			return c
		}
		return a.o.Target.Compare(b.o.Target)
	})
	wait := waitingFor(out.Next.Joining, out.Desired, state, g, policy, now)
	budget := policy.removalBudget(g.registered)
	healthy := g.healthy
	// Candidates mostly share a miss record; build each reason once.
	reasons := map[Miss]string{}
	for _, c := range due {
		t := c.o.Target
		missed, ok := reasons[c.miss]
		if !ok {
			missed = fmt.Sprintf("missed by %d consecutive answers for %s over %s", c.miss.Count, source, c.miss.Absence(now).Round(time.Second))
			reasons[c.miss] = missed
		}
		switch {
		case wait.held():
			out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Target: t, Rule: RuleMakeBefore,
				Reason: fmt.Sprintf("%s, but %s; kept until it has, or for at most %s (deregister.waitForHealthy)", missed, wait, policy.WaitForHealthy)})
		case len(out.Deregister) >= budget:
			out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Target: t, Rule: RuleMaxFraction,
				Reason: fmt.Sprintf("%s, but this run already removes %d of %d registered targets (maxFraction %g); next run", missed, len(out.Deregister), g.registered, policy.MaxFraction)})
		case c.o.State == HealthHealthy && healthy <= 1:
			out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Target: t, Rule: RuleLastHealthy,
				Reason: fmt.Sprintf("%s, but it is the last healthy target; kept until a desired target turns healthy", missed)})
		default:
			if c.o.State == HealthHealthy {
				healthy--
			}
			out.Deregister = append(out.Deregister, Change{Action: ActionDeregister, Target: t,
				AvailabilityZone: c.o.AvailabilityZone, Reason: missed + wait.gaveUp(policy.WaitForHealthy)})
			delete(out.Next.Misses, t)
			delete(out.Next.Owned, t)
		}
	}
}

// joining returns the targets the binding registered that are still in
// their first health check: those it registers now, and those it
// registered before that the group still shows as initial (or not yet at
// all) within the hold.
func joining(desired []Target, register []Change, g membership, state BindingState, policy Policy, now time.Time) map[Target]time.Time {
	if policy.WaitForHealthy <= 0 {
		return nil
	}
	out := map[Target]time.Time{}
	for _, c := range register {
		out[c.Target] = now
	}
	for _, t := range desired {
		at, ok := state.Joining[t]
		if _, registering := out[t]; !ok || registering {
			continue
		}
		o, present := g.seen[t]
		if (!present || o.State == HealthInitial) && now.Sub(at) < policy.WaitForHealthy {
			out[t] = at
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// wait is what stale targets wait for before they may leave: the joining
// targets still in their first health check, and those whose hold ran
// out.
type wait struct {
	pending, timedOut []Target
	left              time.Duration // the longest hold still to run
}

func waitingFor(joining map[Target]time.Time, desired []Target, state BindingState, g membership, policy Policy, now time.Time) wait {
	var w wait
	if policy.WaitForHealthy <= 0 {
		return w
	}
	// Those whose hold ran out left joining; they are what the removal
	// says it stopped waiting for.
	all := maps.Clone(joining)
	for _, t := range desired {
		if at, ok := state.Joining[t]; ok && all[t].IsZero() {
			if all == nil {
				all = map[Target]time.Time{}
			}
			all[t] = at
		}
	}
	for t, at := range all {
		if o, present := g.seen[t]; present && o.State != HealthInitial {
			continue
		}
		if left := policy.WaitForHealthy - now.Sub(at); left > 0 {
			w.pending = append(w.pending, t)
			w.left = max(w.left, left)
		} else {
			w.timedOut = append(w.timedOut, t)
		}
	}
	slices.SortFunc(w.pending, Target.Compare)
	slices.SortFunc(w.timedOut, Target.Compare)
	return w
}

func (w wait) held() bool { return len(w.pending) > 0 }

// String says what the removal waits for.
func (w wait) String() string {
	return fmt.Sprintf("%s replacing it %s still in its first health check (%s of the hold left)",
		targetList(w.pending), plural(len(w.pending), "is", "are"), w.left.Round(time.Second))
}

// gaveUp is the note a removal carries when it stopped waiting.
func (w wait) gaveUp(hold time.Duration) string {
	if len(w.timedOut) == 0 {
		return ""
	}
	return fmt.Sprintf("; %s did not pass %s first health check within %s (deregister.waitForHealthy)",
		targetList(w.timedOut), plural(len(w.timedOut), "its", "their"), hold)
}

func targetList(ts []Target) string {
	const most = 3
	parts := make([]string, 0, most+1)
	for i, t := range ts {
		if i == most {
			parts = append(parts, fmt.Sprintf("%d more", len(ts)-most))
			break
		}
		parts = append(parts, t.String())
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// uniqueAddrs returns the addresses sorted, without duplicates, with IPv4
// addresses mapped into IPv6 unmapped.
func uniqueAddrs(in []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(in))
	for _, a := range in {
		out = append(out, a.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
