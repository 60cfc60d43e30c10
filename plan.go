package tgsync

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
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
}

// Changes is the outcome of Plan: what to change, what was refused, what
// waits, and the state to keep once the changes are applied.
type Changes struct {
	// Desired is the set of targets the binding should hold, after the
	// address ranges were checked.
	Desired []Target
	// Register comes before Deregister when the changes are applied.
	Register   []Change
	Deregister []Change
	Refused    []Refusal
	Pending    []Pending
	// Next is the binding state once every change succeeded; only Owned
	// and Misses differ from the input.
	Next BindingState
}

// Empty reports whether the plan changes nothing in the target group.
func (c Changes) Empty() bool { return len(c.Register) == 0 && len(c.Deregister) == 0 }

// Rule names used in refusals; they are stable and meant for filtering.
const (
	RuleSourceFailed = "source-failed" // rule 1
	RuleNotAllowed   = "not-allowed"   // rule 6
	RuleMaxFraction  = "max-fraction"  // rule 4
	RuleLastHealthy  = "last-healthy"  // rule 5
)

// Plan decides the changes for one binding. It is pure: no I/O, no clock
// other than now, and its inputs are not modified.
//
// Per source answer:
//
//	source                         | effect
//	-------------------------------+------------------------------------------------------
//	failed (timeout, SERVFAIL, ...) | nothing changes, misses keep their count (rule 1)
//	empty answer                   | same as failed (rule 1)
//	address outside allowed ranges | refused, not desired (rule 6)
//	every address refused          | same as failed: nothing is removed (rules 1, 6)
//
// Per target, with a usable answer:
//
//	in source | in group                | owned | effect
//	----------+-------------------------+-------+------------------------------------------------
//	yes       | no                      |   -   | register
//	yes       | draining                |   -   | register again at once
//	yes       | any other state         |   -   | keep, even unhealthy (rule 5); misses reset
//	no        | draining                |   -   | leave alone; it is already leaving
//	no        | yes                     |  no   | leave alone: a shared binding's foreign target (rule 3)
//	no        | yes                     |  yes  | count a miss; pending until N misses and T (rule 2)
//	no        | yes, grace ran out      |  yes  | deregister, unless refused below
//	no        | no                      |   -   | forget it
//
// Deregistrations are refused, unhealthy and longest-missing first kept
// in order, when they would exceed MaxFraction of the registered targets
// (rule 4) or remove the last healthy target (rule 5).
func Plan(desired Desired, observed []ObservedTarget, state BindingState, policy Policy, now time.Time) Changes {
	// Next shares the input's other fields; Owned and Misses are always new
	// maps, so that nothing the caller does to Next reaches state.
	out := Changes{Next: state}
	sourceFailed := func(why string) Changes {
		// Nothing is known about the source: misses and ownership stay.
		out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Rule: RuleSourceFailed,
			Reason: fmt.Sprintf("%s; removing nothing and counting no misses", why)})
		out.Next.Owned, out.Next.Misses = maps.Clone(state.Owned), maps.Clone(state.Misses)
		return out
	}
	if desired.Err != nil {
		return sourceFailed(fmt.Sprintf("source %s failed: %v", desired.Source, desired.Err))
	}
	if len(desired.Answer.Addrs) == 0 {
		return sourceFailed(fmt.Sprintf("source %s returned no addresses", desired.Source))
	}
	out.Next.Owned = nil
	if policy.Shared {
		out.Next.Owned = map[Target]time.Time{}
	}
	out.Next.Misses = map[Target]Miss{}

	var refused []Target
	out.Desired, refused = policy.Targets(desired.Answer.Addrs, desired.Ports)
	for _, t := range refused {
		out.Refused = append(out.Refused, Refusal{
			Action: ActionRegister, Target: t, Rule: RuleNotAllowed,
			Reason: fmt.Sprintf("%s from %s is outside the allowed ranges %v; not registering it", t.IP, desired.Source, policy.AllowedPrefixes),
		})
	}
	want := make(map[Target]bool, len(out.Desired))
	for _, t := range out.Desired {
		want[t] = true
	}
	if len(want) == 0 {
		return sourceFailed(fmt.Sprintf("no address from %s is in the allowed ranges", desired.Source))
	}

	seen := make(map[Target]ObservedTarget, len(observed))
	registered, healthy := 0, 0
	for _, o := range observed {
		seen[o.Target] = o
		if !o.State.Draining() {
			registered++
		}
		if o.State == HealthHealthy {
			healthy++
		}
	}

	newReason := "in the answer for " + desired.Source + " and not in the target group"
	for _, t := range out.Desired {
		o, present := seen[t]
		switch {
		case !present:
			out.Register = append(out.Register, Change{Action: ActionRegister, Target: t, Reason: newReason})
		case o.State.Draining():
			out.Register = append(out.Register, Change{Action: ActionRegister, Target: t,
				Reason: fmt.Sprintf("in the answer for %s but %s; registering it again", desired.Source, o.State)})
		}
		if policy.Shared {
			if at, ok := state.Owned[t]; ok {
				out.Next.Owned[t] = at
			} else if !present || o.State.Draining() {
				out.Next.Owned[t] = now
			}
		}
	}

	type candidate struct {
		o    ObservedTarget
		miss Miss
	}
	var candidates []candidate
	for _, o := range observed {
		t := o.Target
		if want[t] || o.State.Draining() {
			continue
		}
		if policy.Shared {
			at, owned := state.Owned[t]
			if !owned {
				continue
			}
			out.Next.Owned[t] = at
		}
		m := state.Misses[t]
		m.Count++
		if m.Since.IsZero() || m.Since.After(now) {
			// A clock that stepped back restarts the duration rather than
			// making it negative.
			m.Since = now
		}
		out.Next.Misses[t] = m
		missingFor := now.Sub(m.Since)
		if m.Count >= policy.AfterMisses && missingFor >= policy.AfterDuration {
			candidates = append(candidates, candidate{o, m})
			continue
		}
		out.Pending = append(out.Pending, Pending{
			Target: t, Misses: m.Count, MissingFor: missingFor, FirstMissed: m.Since,
			MissesLeft: max(0, policy.AfterMisses-m.Count),
			TimeLeft:   max(0, policy.AfterDuration-missingFor),
		})
	}

	// Remove unhealthy targets first, then the longest missing.
	slices.SortFunc(candidates, func(a, b candidate) int {
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
	budget := policy.removalBudget(registered)
	// Candidates mostly share a miss record; build each reason once.
	reasons := map[Miss]string{}
	for _, c := range candidates {
		t := c.o.Target
		missed, ok := reasons[c.miss]
		if !ok {
			missed = fmt.Sprintf("missed by %d consecutive answers for %s over %s", c.miss.Count, desired.Source, now.Sub(c.miss.Since).Round(time.Second))
			reasons[c.miss] = missed
		}
		switch {
		case len(out.Deregister) >= budget:
			out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Target: t, Rule: RuleMaxFraction,
				Reason: fmt.Sprintf("%s, but this run already removes %d of %d registered targets (maxFraction %g); next run", missed, len(out.Deregister), registered, policy.MaxFraction)})
		case c.o.State == HealthHealthy && healthy <= 1:
			out.Refused = append(out.Refused, Refusal{Action: ActionDeregister, Target: t, Rule: RuleLastHealthy,
				Reason: fmt.Sprintf("%s, but it is the last healthy target; kept until a desired target turns healthy", missed)})
		default:
			if c.o.State == HealthHealthy {
				healthy--
			}
			out.Deregister = append(out.Deregister, Change{Action: ActionDeregister, Target: t,
				AvailabilityZone: c.o.AvailabilityZone, Reason: missed})
			delete(out.Next.Misses, t)
			if policy.Shared {
				delete(out.Next.Owned, t)
			}
		}
	}
	slices.SortFunc(out.Pending, func(a, b Pending) int { return a.Target.Compare(b.Target) })
	return out
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
