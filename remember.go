package tgsync

import (
	"maps"
	"slices"
	"time"
)

// This file turns what a run did into the state the next run starts from:
// misses, ownership, history, and the changes a run could not save.

// mergeApplied folds changes that were applied but are not in st yet into
// it: their history, the AvailabilityZone rule they learned and, for shared
// bindings, the ownership of what they registered.
func (r *Reconciler) mergeApplied(st *State, applied map[string]*BindingResult, now time.Time) {
	for name, prev := range applied {
		bs := st.Binding(name)
		bs.record(changeEvents(now, prev.Registered, prev.Deregistered)...)
		bs.AZAll = bs.AZAll || prev.azAll
		if !r.binding(name).Policy.Shared {
			continue
		}
		for _, c := range prev.Registered {
			if bs.Owned == nil {
				bs.Owned = map[Target]time.Time{}
			}
			if _, ok := bs.Owned[c.Target]; !ok {
				bs.Owned[c.Target] = now
			}
		}
		for _, c := range prev.Deregistered {
			delete(bs.Owned, c.Target)
		}
	}
}

// takeUnsaved returns, and forgets, what earlier runs applied but could
// not save.
func (r *Reconciler) takeUnsaved() map[string]*BindingResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.unsaved
	r.unsaved = nil
	return u
}

// keepUnsaved remembers applied changes that no save recorded, for the next
// run of this reconciler.
func (r *Reconciler) keepUnsaved(sets ...map[string]*BindingResult) {
	merged := map[string]*BindingResult{}
	for _, set := range sets {
		for name, b := range set {
			m := merged[name]
			if m == nil {
				m = &BindingResult{Binding: name}
				merged[name] = m
			}
			m.Registered = slices.Concat(m.Registered, b.Registered)
			m.Deregistered = slices.Concat(m.Deregistered, b.Deregistered)
			m.azAll = m.azAll || b.azAll
		}
	}
	for name, m := range merged {
		if len(m.Registered) == 0 && len(m.Deregistered) == 0 && !m.azAll {
			delete(merged, name)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(merged) > 0 {
		r.unsaved = merged
	}
}

// remember folds a plan and what of it was applied into the binding state:
// misses, ownership and history.
func (r *Reconciler) remember(st BindingState, plan Changes, registered, deregistered []Change, now time.Time) BindingState {
	next := plan.Next
	// Keep what Plan does not manage from the current state.
	next.AZAll, next.Answer, next.LastError = st.AZAll, st.Answer, st.LastError
	next.History, next.Refusing = st.History, st.Refusing
	if next.Owned != nil {
		// A registration that failed is not owned; a deregistration that
		// failed still is.
		for _, c := range plan.Register {
			if !containsTarget(registered, c.Target) {
				if _, before := st.Owned[c.Target]; !before {
					delete(next.Owned, c.Target)
				}
			}
		}
	}
	for _, c := range plan.Deregister {
		if !containsTarget(deregistered, c.Target) {
			m := st.Misses[c.Target]
			m.Count++
			if m.Since.IsZero() {
				m.Since = now
			}
			next.Misses[c.Target] = m
			if at, ok := st.Owned[c.Target]; ok && next.Owned != nil {
				next.Owned[c.Target] = at
			}
		}
	}
	events := changeEvents(now, registered, deregistered)
	refusing := make([]string, 0, len(plan.Refused))
	for _, f := range plan.Refused {
		key := f.Key()
		refusing = append(refusing, key)
		if !slices.Contains(st.Refusing, key) {
			ev := Event{Time: now, Action: f.Action, Refused: true, Rule: f.Rule, Reason: f.Reason}
			if f.Target.IP.IsValid() {
				ev.Target = f.Target.String()
			}
			events = append(events, ev)
		}
	}
	slices.Sort(refusing)
	next.Refusing = slices.Compact(refusing)
	if len(next.Refusing) == 0 {
		next.Refusing = nil
	}
	next.record(events...)
	return next
}

// changeEvents are the history entries of applied changes.
func changeEvents(now time.Time, sets ...[]Change) []Event {
	var events []Event
	for _, c := range slices.Concat(sets...) {
		events = append(events, Event{Time: now, Action: c.Action, Target: c.Target.String(), Reason: c.Reason})
	}
	return events
}

// recordAnswer keeps a successful answer, and its time, when its addresses
// changed.
func recordAnswer(st BindingState, a Answer, now time.Time) BindingState {
	addrs := uniqueAddrs(a.Addrs)
	if st.Answer != nil && slices.Equal(st.Answer.Addrs, addrs) {
		return st
	}
	st.Answer = &SourceAnswer{Addrs: addrs, TTL: Duration(a.TTL), At: now}
	return st
}

// ObservationAfter returns an observation as the next DescribeTargetHealth
// would show it once the changes are applied: registered targets initial,
// deregistered ones draining. The input is not modified.
func ObservationAfter(obs []ObservedTarget, registered, deregistered []Change) []ObservedTarget {
	if len(registered) == 0 && len(deregistered) == 0 {
		return obs
	}
	out := slices.Clone(obs)
	for _, c := range deregistered {
		for i := range out {
			if out[i].Target == c.Target {
				out[i].State, out[i].Reason = HealthDraining, "Target.DeregistrationInProgress"
				out[i].Description = "Target deregistration is in progress"
			}
		}
	}
	for _, c := range registered {
		i := slices.IndexFunc(out, func(o ObservedTarget) bool { return o.Target == c.Target })
		if i < 0 {
			out = append(out, ObservedTarget{Target: c.Target})
			i = len(out) - 1
		}
		out[i].State, out[i].Reason = HealthInitial, "Elb.RegistrationInProgress"
		out[i].Description = "Target registration is in progress"
	}
	return out
}

func containsTarget(cs []Change, t Target) bool {
	for _, c := range cs {
		if c.Target == t {
			return true
		}
	}
	return false
}

// forgetAnswered drops the misses of the allowed targets an answer holds,
// as Plan would, for a run that stops before it can plan.
func forgetAnswered(st BindingState, a Answer, b Binding) BindingState {
	var misses map[Target]Miss
	for _, addr := range a.Addrs {
		if !b.Policy.Allows(addr) {
			continue
		}
		for _, port := range b.Ports {
			t := Target{IP: addr.Unmap(), Port: port}
			if _, ok := st.Misses[t]; !ok {
				continue
			}
			if misses == nil {
				misses = maps.Clone(st.Misses)
			}
			delete(misses, t)
		}
	}
	if misses != nil {
		st.Misses = misses
	}
	return st
}
