package tgsync

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// This file turns what a run did into the state the next run starts from:
// misses, ownership, history, and the changes a run could not save.

// appliedChanges is what a run applied to one binding, in the order it
// applied it.
type appliedChanges struct {
	changes  []Change
	azAll    bool
	apiCalls int
}

// of returns the changes of one action, in order.
func (a *appliedChanges) of(action Action) []Change {
	var out []Change
	for _, c := range a.changes {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// appliedLog holds, per binding, changes applied but not yet saved.
type appliedLog map[string]*appliedChanges

// changed reports whether anything was applied to AWS.
func (l appliedLog) changed() bool {
	for _, a := range l {
		if len(a.changes) > 0 || a.azAll {
			return true
		}
	}
	return false
}

// add appends what one attempt applied: its registrations came before its
// deregistrations.
func (l appliedLog) add(name string, res BindingResult) {
	if len(res.Registered) == 0 && len(res.Deregistered) == 0 && !res.azAll && res.APICalls == 0 {
		return
	}
	a := l[name]
	if a == nil {
		a = &appliedChanges{}
		l[name] = a
	}
	a.changes = slices.Concat(a.changes, res.Registered, res.Deregistered)
	a.azAll = a.azAll || res.azAll
	a.apiCalls += res.APICalls
}

// mergeApplied folds changes that were applied but are not in st yet into
// it, in the order they were applied: their history, the AvailabilityZone
// rule they learned and, for shared bindings, the ownership of what they
// registered. A target deregistered and then registered again is owned; one
// registered and then deregistered is not.
func (r *Reconciler) mergeApplied(st *State, applied appliedLog, now time.Time) {
	for name, a := range applied {
		if len(a.changes) == 0 && !a.azAll {
			continue
		}
		bs := st.Binding(name)
		bs.record(changeEvents(now, a.changes)...)
		bs.AZAll = bs.AZAll || a.azAll
		if !r.binding(name).Policy.Shared {
			continue
		}
		for _, c := range a.changes {
			switch c.Action {
			case ActionRegister:
				if bs.Owned == nil {
					bs.Owned = map[Target]time.Time{}
				}
				if _, ok := bs.Owned[c.Target]; !ok {
					bs.Owned[c.Target] = now
				}
			case ActionDeregister:
				delete(bs.Owned, c.Target)
			}
		}
	}
}

// takeUnsaved returns, and forgets, what earlier runs applied but could
// not save.
func (r *Reconciler) takeUnsaved() appliedLog {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.unsaved
	r.unsaved = nil
	if u == nil {
		u = appliedLog{}
	}
	return u
}

// keepUnsaved remembers applied changes that no save recorded, oldest
// first, for the next run of this reconciler.
func (r *Reconciler) keepUnsaved(logs ...appliedLog) {
	merged := appliedLog{}
	for _, l := range logs {
		for name, a := range l {
			if len(a.changes) == 0 && !a.azAll {
				continue
			}
			m := merged[name]
			if m == nil {
				m = &appliedChanges{}
				merged[name] = m
			}
			m.changes = slices.Concat(m.changes, a.changes)
			m.azAll = m.azAll || a.azAll
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(merged) > 0 {
		r.unsaved = merged
	}
}

// stateAfter folds a plan and what of it was applied into the binding state:
// misses, ownership and history. A registration that failed stays owned
// as an intent (see IntentGrace): the call may have reached AWS.
func (r *Reconciler) stateAfter(st BindingState, plan Decision, registered, deregistered []Change, window time.Duration, now time.Time) BindingState {
	next := plan.Next
	// Keep what Plan does not manage from the current state.
	next.AZAll, next.Answer, next.LastError = st.AZAll, st.Answer, st.LastError
	next.History, next.Refusing = st.History, st.Refusing
	for _, c := range plan.Deregister {
		if !containsTarget(deregistered, c.Target) {
			next.Misses[c.Target] = st.Misses[c.Target].Counted(now, window)
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
// changed, and which interface each came from. An answer some of whose
// sources failed is not the binding's answer: only its interfaces are
// kept.
func recordAnswer(st BindingState, a Answer, now time.Time) BindingState {
	partial := a.Partial != nil
	addrs := uniqueAddrs(a.Addrs)
	if !partial && (st.Answer == nil || !slices.Equal(st.Answer.Addrs, addrs)) {
		ifs, _ := recordInterfaces(nil, a.Interfaces, false)
		st.Answer = &SourceAnswer{Addrs: addrs, TTL: Duration(a.TTL), At: now, Interfaces: ifs}
		return st
	}
	if st.Answer == nil {
		return st
	}
	if ifs, changed := recordInterfaces(st.Answer.Interfaces, a.Interfaces, partial); changed {
		kept := *st.Answer
		kept.Interfaces = ifs
		st.Answer = &kept
	}
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
	allowed, _ := b.Policy.Targets(a.Addrs, b.Ports)
	for _, t := range allowed {
		if _, ok := st.Misses[t]; !ok {
			continue
		}
		if misses == nil {
			misses = maps.Clone(st.Misses)
		}
		delete(misses, t)
	}
	if misses != nil {
		st.Misses = misses
	}
	return st
}

// volatile matches the parts of an error message that change from one
// occurrence of the same failure to the next: request and host IDs, and
// the local end of a connection ("read udp 10.0.0.5:53211->10.0.0.2:53").
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i),?\s*(request ?id|host ?id|x-amz-request-id|x-amz-id-2):\s*[^\s,]*`), ""},
	{regexp.MustCompile(`((?:tcp|udp)[46]?\s+)\S+->`), "$1"},
}

// StableError renders err as it is kept in the state: the same failure
// gives the same text from run to run, so that a failure that lasts does
// not rewrite the state every run.
func StableError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return strings.TrimSpace(s)
}
