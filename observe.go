package tgsync

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"time"
)

// Observation is a target group as tgsync last saw it: the members a
// describe returned, updated with the changes tgsync made since. The state
// keeps one per group, so that a run need not describe every group every
// time (see Reconciler.DescribeEvery), and so that the status can show
// what a group holds when the describe itself fails.
type Observation struct {
	// At is when the content was last seen to change: a describe that
	// found it different, or changes tgsync applied.
	At time.Time `json:"at"`
	// Described is when the describe that Targets come from ran: tgsync's
	// own changes since move At, not Described. A describe that finds the
	// group as stored writes nothing (a steady run writes no state), so it
	// is the last describe that found the group changed. Zero in states of
	// older versions: DescribedAt then gives At.
	Described time.Time `json:"-"`
	// Targets are the members that are not draining, with the health
	// state they had when the content last changed (a member or a state);
	// their Description is not kept.
	Targets []ObservedTarget `json:"-"`
}

// keptTarget is an observed target as the state stores it. ObservedTarget
// itself would marshal as its Target's text alone.
type keptTarget struct {
	Target           Target      `json:"target"`
	AvailabilityZone string      `json:"az,omitempty"`
	State            HealthState `json:"state"`
	Reason           string      `json:"reason,omitempty"`
}

type observationJSON struct {
	At time.Time `json:"at"`
	// Described is written only when it differs from At.
	Described time.Time    `json:"described,omitzero"`
	Targets   []keptTarget `json:"targets"`
}

// DescribedAt is when the describe that the observation comes from ran.
func (o *Observation) DescribedAt() time.Time {
	if o.Described.IsZero() {
		return o.At
	}
	return o.Described
}

// MarshalJSON writes the targets with their zone, state and reason.
func (o Observation) MarshalJSON() ([]byte, error) {
	out := observationJSON{At: o.At, Targets: make([]keptTarget, len(o.Targets))}
	if !o.Described.Equal(o.At) {
		out.Described = o.Described
	}
	for i, t := range o.Targets {
		out.Targets[i] = keptTarget{t.Target, t.AvailabilityZone, t.State, t.Reason}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Observation) UnmarshalJSON(b []byte) error {
	var in observationJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	o.At, o.Described, o.Targets = in.At, in.Described, make([]ObservedTarget, len(in.Targets))
	for i, t := range in.Targets {
		o.Targets[i] = ObservedTarget{Target: t.Target, AvailabilityZone: t.AvailabilityZone, State: t.State, Reason: t.Reason}
	}
	return nil
}

// DefaultInterval is RunOptions.Interval when it is zero: the one-minute
// schedule of the Lambda stack and the daemon.
const DefaultInterval = time.Minute

// describeReason says why a group must be described in this run, or ""
// when its stored observation serves. A group is described when:
//   - DescribeEvery is zero, or nothing is stored for it;
//   - a binding's answer differs from the one it stored (changes follow);
//   - a removal falls due in this run, or a target is still joining
//     (make before break needs its health);
//   - its turn came: groups are spread over DescribeEvery by a hash of
//     their ARN, each described in the run whose time falls in the first
//     RunOptions.Interval of its turn. Drift (a target removed by hand) is
//     seen within DescribeEvery, or twice that if a run misses its turn.
func (r *Reconciler) describeReason(g *groupRun, answered []*bindingRun, st *State, interval time.Duration, now time.Time) string {
	stored := st.Observations[g.arn]
	switch {
	case r.DescribeEvery <= 0:
		return "every run"
	case stored == nil:
		return "no observation stored"
	}
	for _, br := range answered {
		prev := st.Bindings[br.binding.Name]
		if prev == nil || prev.Answer == nil || !slices.Equal(prev.Answer.Addrs, uniqueAddrs(br.res.Answer.Addrs)) {
			return "answer changed"
		}
		if len(br.state.Joining) > 0 {
			return "a target is joining"
		}
		p := br.binding.Policy
		for t, m := range br.state.Misses {
			if p.Pending(t, m.Counted(now, p.MissWindow()), now).Due() {
				return "a removal is due"
			}
		}
	}
	if turnCame(g.arn, r.DescribeEvery, interval, now) {
		return "its turn"
	}
	return ""
}

// turnCame reports whether now falls in the first interval of the arn's
// turn in every period.
func turnCame(arn string, period, interval time.Duration, now time.Time) bool {
	if interval >= period {
		return true
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(arn))
	offset := time.Duration(h.Sum64() % uint64(period))
	since := (time.Duration(now.UnixNano()) - offset) % period
	if since < 0 {
		since += period
	}
	return since < interval
}

// stored returns an observation as the state keeps it: the members that
// are not draining, sorted, without descriptions. A run that plans on it
// decides as on the describe: a desired target that is draining is
// registered again as one that is absent is, and one that is not desired
// is left alone either way.
func stored(obs []ObservedTarget) []ObservedTarget {
	out := make([]ObservedTarget, 0, len(obs))
	for _, o := range obs {
		if o.State.Draining() {
			continue
		}
		o.Description = ""
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b ObservedTarget) int { return a.Target.Compare(b.Target) })
	return out
}

// keepObservation stores what the run saw of a group, with the changes it
// made, when its members or their health states differ from those the
// state holds. A health state is kept so that what the status shows from
// the state (while a source or a describe fails, or in a Lambda) and the
// counts of BindingState.Trend are those of the last describe; it is
// written at most once per describe, and a change of reason or
// description alone is not written. described is when the describe that
// obs comes from ran.
func keepObservation(st *State, arn string, obs []ObservedTarget, described, now time.Time) {
	targets := stored(obs)
	if prev := st.Observations[arn]; prev != nil && sameContent(prev.Targets, targets) {
		return
	}
	if st.Observations == nil {
		st.Observations = map[string]*Observation{}
	}
	st.Observations[arn] = &Observation{At: now, Described: described, Targets: targets}
}

func sameContent(a, b []ObservedTarget) bool {
	return slices.EqualFunc(a, b, func(x, y ObservedTarget) bool { return x.Target == y.Target && x.State == y.State })
}

// BindingRetention is how long the state keeps a binding that left the
// config, so that an operator who removed it by mistake can put it back
// with its history and ownership, and sees what it owned meanwhile.
const BindingRetention = 7 * 24 * time.Hour

// retire marks the stored bindings that are no longer configured, drops
// those retired longer than BindingRetention, and forgets what the state
// kept of groups no configured binding uses.
func (r *Reconciler) retire(st *State, now time.Time) {
	used := map[string]bool{}
	configured := map[string]bool{}
	for _, b := range r.Bindings {
		configured[b.Name], used[b.TargetGroupARN] = true, true
	}
	for name, bs := range st.Bindings {
		switch {
		case configured[name]:
			bs.RemovedAt = time.Time{}
		case bs.RemovedAt.IsZero():
			bs.RemovedAt = now
		case now.Sub(bs.RemovedAt) >= BindingRetention:
			delete(st.Bindings, name)
		}
	}
	for arn := range st.Observations {
		if !used[arn] {
			delete(st.Observations, arn)
		}
	}
}
