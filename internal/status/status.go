// Package status is what tgsync believes and did, for people and programs
// to read: the Status model and its renderings, an HTML page, JSON, and
// the text of 'tgsync status'. internal/web serves them.
//
// Everything shown comes from Status, which Build derives from the
// configured bindings, the stored state and, where there is one, the latest
// target group observation and run result. A Lambda has only the first
// three; a daemon has all four, which Live keeps.
package status

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// BindingSpec is what the status needs of a configured binding.
type BindingSpec struct {
	Name           string
	Source         string
	TargetGroupARN string
	Ports          []uint16
	Policy         tgsync.Policy
}

// SpecsFrom describes the reconciler's bindings.
func SpecsFrom(bindings []tgsync.Binding) []BindingSpec {
	out := make([]BindingSpec, 0, len(bindings))
	for _, b := range bindings {
		src := ""
		if b.Source != nil {
			src = b.Source.String()
		}
		out = append(out, BindingSpec{Name: b.Name, Source: src, TargetGroupARN: b.TargetGroupARN,
			Ports: slices.Clone(b.Ports), Policy: b.Policy})
	}
	return out
}

// Input is what Build works from. Only Bindings and Now are required.
type Input struct {
	Bindings []BindingSpec
	// State is the stored state; nil reads as empty.
	State *tgsync.State
	// Observed holds a fresh DescribeTargetHealth per target group ARN.
	// It wins over the run's observation.
	Observed map[string][]tgsync.ObservedTarget
	// ObservedAt is when Observed was described; zero means Now.
	ObservedAt time.Time
	// ObserveErrors holds, per target group ARN, why it could not be
	// described.
	ObserveErrors map[string]error
	// Run is the latest run, if this process ran one. Its State is used
	// when State is nil.
	Run *tgsync.RunResult
	// RunErr is the error Reconciler.Run returned with Run.
	RunErr error
	Now    time.Time
}

// Build derives the status. It is pure: the same input gives the same
// status, and the input is not modified.
func Build(in Input) Status {
	st := in.State
	if st == nil && in.Run != nil {
		st = in.Run.State
	}
	if st == nil {
		st = tgsync.NewState()
	}
	out := Status{Generated: utc(in.Now), Bindings: make([]BindingStatus, 0, len(in.Bindings)), Drains: drains(st.DrainLog)}
	runs := map[string]*tgsync.BindingResult{}
	var runGroups map[string]runGroup
	if in.Run != nil {
		out.LastRun = runInfo(*in.Run, in.RunErr)
		for i := range in.Run.Bindings {
			runs[in.Run.Bindings[i].Binding] = &in.Run.Bindings[i]
		}
		runGroups = groupsAfterRun(*in.Run)
	}
	for _, spec := range in.Bindings {
		bs := tgsync.BindingState{}
		if p := st.Bindings[spec.Name]; p != nil {
			bs = *p
		}
		r := runs[spec.Name]
		b := bindingStatus(spec, bs, in.Now)
		b.LastRun = bindingRun(r)
		if err := in.ObserveErrors[spec.TargetGroupARN]; err != nil {
			b.ObserveError = err.Error()
		}
		var observed []tgsync.ObservedTarget
		if obs, ok := in.Observed[spec.TargetGroupARN]; ok {
			observed, b.TargetsFrom, b.TargetsAt = obs, "describe", utc(cmp.Or(in.ObservedAt, in.Now))
		} else if g, ok := runGroups[spec.TargetGroupARN]; ok {
			observed, b.TargetsFrom, b.TargetsAt = g.targets, g.from, utc(g.at)
		} else if o := st.Observations[spec.TargetGroupARN]; o != nil {
			// The last run did not look at the group (its source or its
			// describe failed) or this process ran none: the state's
			// observation is the last known truth, shown with its age.
			observed, b.TargetsFrom, b.TargetsAt = o.Targets, "state", utc(o.DescribedAt())
		}
		if b.TargetsFrom != "" {
			b.TargetsAge = tgsync.Duration(max(0, in.Now.Sub(b.TargetsAt)).Round(time.Second))
		}
		if r != nil && r.SourceErr == nil && b.Answer != nil {
			b.Answer.SeenAt = utc(in.Run.Started)
			b.Answer.Agreement = agreement(r.Answer.Agreement)
		}
		b.Refusing = refusing(bs, r, in.Run)
		b.Targets = targets(spec, bs, b.Desired, observed, b.TargetsFrom != "")
		attachPending(&b, spec.Policy, bs, in.Now)
		b.Counts = counts(b)
		b.Outcome = outcome(b, bs)
		b.GroupHealth = groupHealth(b)
		b.Trend = trend(bs.Trend)
		b.Events = withDrains(b.Events, spec.TargetGroupARN, st.DrainLog)
		out.Bindings = append(out.Bindings, b)
	}
	out.Retired = retired(st, out.Bindings)
	return out
}

func runInfo(r tgsync.RunResult, err error) *RunInfo {
	ri := &RunInfo{Started: utc(r.Started), Finished: utc(r.Started.Add(r.Duration)), Duration: tgsync.Duration(r.Duration),
		Failed: r.Failed(), StateWritten: r.StateWritten, Conflicts: r.Conflicts}
	if err != nil {
		ri.Error = err.Error()
	}
	return ri
}

func bindingRun(r *tgsync.BindingResult) *BindingRun {
	if r == nil {
		return nil
	}
	br := &BindingRun{Duration: tgsync.Duration(r.Duration), Unfinished: r.Unfinished,
		Registered: len(r.Registered), Deregistered: len(r.Deregistered)}
	switch {
	case r.SourceErr != nil:
		br.SourceError = r.SourceErr.Error()
	case r.Answer.Partial != nil:
		br.SourceError = r.Answer.Partial.Error()
	}
	if r.Err != nil {
		br.Error = r.Err.Error()
	}
	return br
}

// bindingStatus fills in what comes from the spec and the stored state.
func bindingStatus(spec BindingSpec, bs tgsync.BindingState, now time.Time) BindingStatus {
	p := spec.Policy
	b := BindingStatus{
		Name: spec.Name, Source: spec.Source, TargetGroupARN: spec.TargetGroupARN, Ports: slices.Clone(spec.Ports),
		Policy: PolicyStatus{AfterMisses: p.AfterMisses, AfterDuration: tgsync.Duration(p.AfterDuration),
			MaxFraction: p.MaxFraction, Shared: p.Shared, AllowedRanges: []string{}},
		Desired: []string{}, Targets: []TargetStatus{}, Pending: []PendingStatus{}, Refusing: []EventStatus{},
		Events: make([]EventStatus, 0, len(bs.History)), LastError: bs.LastError,
	}
	if b.Ports == nil {
		b.Ports = []uint16{}
	}
	for _, pre := range p.AllowedPrefixes {
		b.Policy.AllowedRanges = append(b.Policy.AllowedRanges, pre.String())
	}
	if a := bs.Answer; a != nil {
		b.Answer = &AnswerStatus{Addrs: []string{}, TTL: a.TTL, Since: utc(a.At)}
		for addr, id := range a.Interfaces {
			if b.Answer.Interfaces == nil {
				b.Answer.Interfaces = map[string]string{}
			}
			b.Answer.Interfaces[addr.String()] = id
		}
		for _, addr := range a.Addrs {
			b.Answer.Addrs = append(b.Answer.Addrs, addr.String())
			if !p.Allows(addr) {
				b.Answer.NotAllowed = append(b.Answer.NotAllowed, addr.String())
			}
		}
		for _, t := range desiredTargets(a.Addrs, spec.Ports, p) {
			b.Desired = append(b.Desired, t.String())
		}
	}
	for i := len(bs.History) - 1; i >= 0; i-- {
		b.Events = append(b.Events, eventStatus(bs.History[i]))
	}
	return b
}

// desiredTargets is what Plan would want from this answer, in address and
// port order.
func desiredTargets(addrs []netip.Addr, ports []uint16, p tgsync.Policy) []tgsync.Target {
	out, _ := p.Targets(addrs, ports)
	slices.SortFunc(out, tgsync.Target.Compare)
	return out
}

// agreement is a run's agreement in display form; nil stays nil.
func agreement(a *tgsync.Agreement) *AgreementStatus {
	if a == nil {
		return nil
	}
	out := &AgreementStatus{DNSOnly: []string{}, InterfaceAddresses: a.Interfaces, SeenByDNS: a.SeenByDNS, Share: a.Share()}
	for _, addr := range a.DNSOnly {
		out.DNSOnly = append(out.DNSOnly, addr.String())
	}
	return out
}

func eventStatus(e tgsync.Event) EventStatus {
	kind := string(e.Action)
	if e.Refused {
		kind = KindRefused
	}
	return EventStatus{Time: utc(e.Time), Kind: kind, Action: e.Action, Target: e.Target, Rule: e.Rule, Reason: e.Reason, Error: e.Error}
}

// runGroup is a target group as the last run left it.
type runGroup struct {
	targets []tgsync.ObservedTarget
	// at is when the describe the members and health come from ran: the
	// run's, or that of the stored observation it planned on (the run's
	// own changes are applied to either, and do not move it).
	at time.Time
	// from is "run" when the run described the group, "state" when it
	// planned on the stored observation.
	from string
}

// groupsAfterRun rebuilds each group after the run: the first observation
// that is valid, with every later binding's changes on the same group
// applied, as the reconciler itself hands it from binding to binding.
func groupsAfterRun(r tgsync.RunResult) map[string]runGroup {
	out := map[string]runGroup{}
	end := r.Started.Add(r.Duration)
	for _, b := range r.Bindings {
		g, seen := out[b.TargetGroupARN]
		if !seen {
			if !b.Planned() {
				continue
			}
			g = runGroup{targets: slices.Clone(b.Observed), at: cmp.Or(b.ObservedAt, end), from: "state"}
			if b.DescribeReason != "" || b.ObservedAt.IsZero() {
				g.from = "run"
			}
		}
		g.targets = tgsync.ObservationAfter(g.targets, b.Registered, b.Deregistered)
		out[b.TargetGroupARN] = g
	}
	return out
}

// targets lists the group's members and the desired targets it lacks.
func targets(spec BindingSpec, bs tgsync.BindingState, desired []string, observed []tgsync.ObservedTarget, known bool) []TargetStatus {
	want := map[string]bool{}
	for _, d := range desired {
		want[d] = true
	}
	out := []TargetStatus{}
	held := map[string]bool{}
	for _, o := range observed {
		key := o.Target.String()
		if held[key] {
			continue
		}
		held[key] = true
		t := TargetStatus{Target: key, Registered: true, AvailabilityZone: o.AvailabilityZone, State: o.State,
			Reason: o.Reason, Description: o.Description, Desired: want[key]}
		if spec.Policy.Shared {
			_, owned := bs.Owned[o.Target]
			t.Foreign = !owned && !t.Desired
		}
		out = append(out, t)
	}
	for _, d := range desired {
		if !held[d] {
			t := TargetStatus{Target: d, Desired: true}
			if known {
				t.Reason = "not in the target group"
			}
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b TargetStatus) int { return compareTargetStrings(a.Target, b.Target) })
	return out
}

// attachPending derives the countdown of every missed target from the
// state, the policy and now, and marks the targets it concerns.
func attachPending(b *BindingStatus, p tgsync.Policy, bs tgsync.BindingState, now time.Time) {
	for t, m := range bs.Misses {
		c := p.Pending(t, m, now)
		ps := PendingStatus{
			Target: t.String(), Misses: m.Count, MissesNeeded: p.AfterMisses, MissesLeft: c.MissesLeft,
			DurationNeeded: tgsync.Duration(p.AfterDuration), FirstMissed: utc(m.Since), MissingFor: tgsync.Duration(c.MissingFor),
			TimeLeft: tgsync.Duration(c.TimeLeft), Due: c.Due(),
		}
		for _, r := range b.Refusing {
			if r.Target == ps.Target && r.Action == tgsync.ActionDeregister {
				ps.BlockedBy, ps.BlockedReason = r.Rule, r.Reason
			}
		}
		b.Pending = append(b.Pending, ps)
	}
	slices.SortFunc(b.Pending, func(x, y PendingStatus) int { return compareTargetStrings(x.Target, y.Target) })
	for i := range b.Pending {
		for j := range b.Targets {
			if b.Targets[j].Target == b.Pending[i].Target {
				p := b.Pending[i]
				b.Targets[j].Pending = &p
			}
		}
	}
}

// refusing lists the refusals of the last run with their reasons. With a
// run result they come from its plan; otherwise from the state's record of
// them, with the reason from the history event that first reported each.
func refusing(bs tgsync.BindingState, r *tgsync.BindingResult, run *tgsync.RunResult) []EventStatus {
	out := []EventStatus{}
	if r != nil && run != nil {
		for _, f := range r.Plan.Refused {
			target := ""
			if f.Target.IP.IsValid() {
				target = f.Target.String()
			}
			ev := EventStatus{Time: utc(run.Started), Kind: KindRefused, Action: f.Action, Target: target, Rule: f.Rule, Reason: f.Reason}
			if h, ok := firstReport(bs, ev.Action, ev.Target, ev.Rule); ok {
				ev.Time = utc(h.Time)
			}
			out = append(out, ev)
		}
		return out
	}
	for _, key := range bs.Refusing {
		f, err := tgsync.ParseRefusalKey(key)
		if err != nil {
			continue
		}
		target := ""
		if f.Target.IP.IsValid() {
			target = f.Target.String()
		}
		ev := EventStatus{Kind: KindRefused, Action: f.Action, Target: target, Rule: f.Rule,
			Reason: "(the reason has left the history; the next run reports it again)"}
		if h, ok := firstReport(bs, f.Action, target, f.Rule); ok {
			ev.Time, ev.Reason = utc(h.Time), h.Reason
		}
		out = append(out, ev)
	}
	return out
}

// firstReport finds the newest history event of a refusal, which is when
// the refusal that still holds began.
func firstReport(bs tgsync.BindingState, action tgsync.Action, target, rule string) (tgsync.Event, bool) {
	for i := len(bs.History) - 1; i >= 0; i-- {
		e := bs.History[i]
		if e.Refused && e.Action == action && e.Target == target && e.Rule == rule {
			return e, true
		}
	}
	return tgsync.Event{}, false
}

func counts(b BindingStatus) Counts {
	c := Counts{Desired: len(b.Desired), Pending: len(b.Pending), Refusing: len(b.Refusing)}
	for _, t := range b.Targets {
		if !t.Registered {
			c.Missing++
			continue
		}
		if t.State.Draining() {
			c.Draining++
		} else {
			c.Registered++
		}
		switch t.State {
		case tgsync.HealthHealthy:
			c.Healthy++
		case tgsync.HealthUnhealthy, tgsync.HealthUnhealthyDraining:
			c.Unhealthy++
		case tgsync.HealthInitial:
			c.Initial++
		}
	}
	return c
}

// compareTargetStrings orders ip:port strings by address, then port; a
// string that does not parse sorts after, by text.
func compareTargetStrings(a, b string) int {
	ta, errA := tgsync.ParseTarget(a)
	tb, errB := tgsync.ParseTarget(b)
	switch {
	case errA == nil && errB == nil:
		return ta.Compare(tb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// utc drops the monotonic reading and the zone, so that a status survives
// a JSON round trip unchanged.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}
