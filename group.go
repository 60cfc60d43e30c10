package tgsync

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// bindingRun is one binding's way through a run: observed and planned
// first, applied once every plan of the run is known.
type bindingRun struct {
	binding Binding
	ctx     context.Context // carries the binding's API call counter
	calls   *atomic.Int64
	state   BindingState
	res     BindingResult

	answered  bool // the source answered in this run
	hasPlan   bool // the group was described and a plan made
	skipApply bool
}

func (br *bindingRun) planned() bool { return br.hasPlan && !br.skipApply }

// fail records the binding's failure, in the result and, in a form that
// does not change from run to run, in its state.
func (br *bindingRun) fail(err error) {
	br.res.Err = err
	br.state.LastError = StableError(err)
}

// unfinished records that the deadline stopped the binding before stage.
func (br *bindingRun) unfinished(stage string) {
	br.res.Unfinished = true
	br.res.Err = fmt.Errorf("binding %s: deadline near, stopped before %s", br.binding.Name, stage)
}

// timed adds the time f takes to the binding's duration.
func (br *bindingRun) timed(f func()) {
	start := time.Now()
	f()
	br.res.Duration += time.Since(start)
}

// groupRun is the bindings of one target group in a run. They share one
// DescribeTargetHealth and are planned in turn, each on the group as the
// ones before it leave it.
type groupRun struct {
	arn  string
	runs []*bindingRun
}

// groupsOf splits the runs by target group, in the order of their first
// binding.
func groupsOf(runs []*bindingRun) []*groupRun {
	var groups []*groupRun
	index := map[string]*groupRun{}
	for _, br := range runs {
		g := index[br.binding.TargetGroupARN]
		if g == nil {
			g = &groupRun{arn: br.binding.TargetGroupARN}
			index[g.arn] = g
			groups = append(groups, g)
		}
		g.runs = append(g.runs, br)
	}
	return groups
}

// eachGroup runs f on every group, at most Concurrency at once.
func (r *Reconciler) eachGroup(groups []*groupRun, f func(*groupRun)) {
	workers := r.Concurrency
	if workers <= 0 {
		workers = 4
	}
	var eg errgroup.Group
	eg.SetLimit(workers)
	for _, g := range groups {
		eg.Go(func() error { f(g); return nil })
	}
	_ = eg.Wait()
}

// observeAll resolves every binding, describes each group once and plans.
// It changes nothing in AWS.
func (r *Reconciler) observeAll(ctx context.Context, o RunOptions, bindings []Binding, st *State, now time.Time) []*bindingRun {
	runs := make([]*bindingRun, len(bindings))
	for i, b := range bindings {
		calls := new(atomic.Int64)
		runs[i] = &bindingRun{
			binding: b, calls: calls, ctx: context.WithValue(ctx, callCounterKey{}, calls),
			state: st.Binding(b.Name).Clone(),
			res:   BindingResult{Binding: b.Name, Source: b.Source.String(), TargetGroupARN: b.TargetGroupARN},
		}
	}
	r.eachGroup(groupsOf(runs), func(g *groupRun) { r.observeGroup(o, g, st, now) })
	if o.DryRun {
		for _, br := range runs {
			if br.hasPlan {
				br.state = r.stateAfter(br.state, br.res.Plan, nil, nil, br.binding.Policy.MissWindow(), now)
			}
		}
	}
	return runs
}

func (r *Reconciler) observeGroup(o RunOptions, g *groupRun, st *State, now time.Time) {
	var answered []*bindingRun
	for _, br := range g.runs {
		br.timed(func() {
			if r.resolve(o, br, now) {
				answered = append(answered, br)
			}
		})
	}
	if len(answered) == 0 {
		return
	}
	first := answered[0]
	interval := o.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	why := r.describeReason(g, answered, st, interval, now)
	var observed []ObservedTarget
	var err error
	at := now
	if why == "" {
		stored := st.Observations[g.arn]
		observed, at = slices.Clone(stored.Targets), stored.DescribedAt()
	}
	first.timed(func() {
		if why == "" {
			return
		}
		if lowOnTime(first.ctx, o.DeadlineMargin) {
			for _, br := range answered {
				br.unfinished("describing " + g.arn)
			}
			err = errStopped
			return
		}
		observed, err = r.Groups.Describe(first.ctx, g.arn)
	})
	if err == errStopped {
		return
	}
	if err != nil {
		for _, br := range answered {
			br.fail(fmt.Errorf("binding %s: %w", br.binding.Name, err))
		}
		return
	}
	claims := r.groupClaims(g, st)
	view := observed
	for _, br := range answered {
		br.timed(func() {
			br.res.Observed, br.res.Described = slices.Clone(view), true
			br.res.ObservedAt, br.res.DescribeReason = at, why
			br.state = recordAnswer(br.state, br.res.Answer, now)
			desired := Desired{Source: br.binding.Source.String(), Answer: br.res.Answer, Ports: br.binding.Ports,
				Others: claims.others(br.binding.Name)}
			br.res.Plan = Plan(desired, br.res.Observed, br.state, br.binding.Policy, now)
			br.hasPlan = true
			if len(br.res.Plan.Desired) == 0 {
				br.fail(fmt.Errorf("binding %s: %s", br.binding.Name, refusedAll(br.res.Plan)))
			}
			view = ObservationAfter(view, br.res.Plan.Register, br.res.Plan.Deregister)
		})
	}
}

// errStopped marks work the deadline stopped; the bindings say so.
var errStopped = fmt.Errorf("stopped")

// resolve asks the binding's source and reports whether it answered. A
// failed source is planned on at once: it changes nothing (rule 1).
func (r *Reconciler) resolve(o RunOptions, br *bindingRun, now time.Time) bool {
	if lowOnTime(br.ctx, o.DeadlineMargin) {
		br.unfinished("resolving " + br.binding.Source.String())
		return false
	}
	answer, err := br.binding.Source.Resolve(br.ctx)
	if err != nil {
		br.res.SourceErr = err
		br.res.Plan = Plan(Desired{Source: br.binding.Source.String(), Err: err, Ports: br.binding.Ports}, nil, br.state, br.binding.Policy, now)
		br.state = r.stateAfter(br.state, br.res.Plan, nil, nil, br.binding.Policy.MissWindow(), now)
		br.fail(fmt.Errorf("binding %s: source %s: %w", br.binding.Name, br.binding.Source, err))
		return false
	}
	br.res.Answer, br.answered = answer, true
	if answer.Partial != nil {
		// What the other sources show is still registered (see Plan).
		br.fail(fmt.Errorf("binding %s: source %s: %w", br.binding.Name, br.binding.Source, answer.Partial))
	}
	// The answer is evidence even when the group cannot be described: a
	// target it holds is not missing, so its misses start over (rule 2).
	br.state = forgetAnswered(br.state, answer, br.binding)
	return true
}

// refusedAll says why an answer that held addresses yields no target: a
// failed binding, since it does nothing useful, though it removes nothing.
func refusedAll(c Decision) string {
	n := 0
	for _, f := range c.Refused {
		if f.Action == ActionRegister {
			n++
		}
	}
	return fmt.Sprintf("every target of the answer was refused (%d refusals; see allowedCidrs); nothing is registered and nothing is removed", n)
}

// groupClaims gathers what each configured binding of a target group
// wants and owns, for the bindings that share it (rule 9). A binding that
// answered in this run claims its answer; one that did not (its source
// failed, or the run is for other bindings) claims its last answer.
func (r *Reconciler) groupClaims(g *groupRun, st *State) groupClaims {
	var out groupClaims
	answered := map[string]*bindingRun{}
	for _, br := range g.runs {
		if br.answered {
			answered[br.binding.Name] = br
		}
	}
	for _, b := range r.Bindings {
		if b.TargetGroupARN != g.arn {
			continue
		}
		c := bindingClaim{name: b.Name}
		bs := st.Bindings[b.Name]
		switch br := answered[b.Name]; {
		case br != nil:
			c.current = true
			var stored *SourceAnswer
			if bs != nil {
				stored = bs.Answer
			}
			c.wants, _ = b.Policy.Targets(claimedAddrs(br.res.Answer, stored), b.Ports)
		case bs != nil && bs.Answer != nil:
			c.wants, _ = b.Policy.Targets(bs.Answer.Addrs, b.Ports)
		}
		if bs != nil {
			for t := range bs.Owned {
				c.owns = append(c.owns, t)
			}
		}
		out = append(out, c)
	}
	return out
}

// groupClaims are the claims of every binding of one group.
type groupClaims []bindingClaim

type bindingClaim struct {
	name    string
	current bool
	wants   []Target
	owns    []Target
}

// others is what every binding but the named one claims.
func (gc groupClaims) others(name string) Claims {
	var out Claims
	for _, c := range gc {
		if c.name == name {
			continue
		}
		for _, t := range c.wants {
			if out.Wanted == nil {
				out.Wanted = map[Target]Claim{}
			}
			if prev, ok := out.Wanted[t]; !ok || (!prev.Current && c.current) {
				out.Wanted[t] = Claim{Binding: c.name, Current: c.current}
			}
		}
		for _, t := range c.owns {
			if out.Owned == nil {
				out.Owned = map[Target]bool{}
			}
			out.Owned[t] = true
		}
	}
	return out
}

// applyAll applies the plans, group by group, registering before
// deregistering, and folds what was applied into each binding's state.
func (r *Reconciler) applyAll(ctx context.Context, o RunOptions, runs []*bindingRun, now time.Time) {
	r.eachGroup(groupsOf(runs), func(g *groupRun) {
		for _, br := range g.runs {
			if br.hasPlan {
				br.timed(func() { r.apply(o, br, now) })
			}
		}
	})
}

func (r *Reconciler) apply(o RunOptions, br *bindingRun, now time.Time) {
	plan, arn := br.res.Plan, br.binding.TargetGroupARN
	var applyErr error
	if len(plan.Register) > 0 && !br.skipApply {
		if lowOnTime(br.ctx, o.DeadlineMargin) {
			br.res.Unfinished = true
			applyErr = fmt.Errorf("deadline near, stopped before registering %d targets", len(plan.Register))
		} else {
			targets := plan.Register
			if br.binding.AZAll || br.state.AZAll {
				targets = withZone(plan.Register, AvailabilityZoneAll)
			}
			applied, err := r.Groups.Register(br.ctx, arn, targets)
			br.res.Registered = applied
			if slices.ContainsFunc(applied, func(c Change) bool { return c.AvailabilityZone == AvailabilityZoneAll }) {
				br.state.AZAll, br.res.azAll = true, true
			}
			applyErr = err
		}
	}
	if applyErr == nil && len(plan.Deregister) > 0 && !br.skipApply {
		if lowOnTime(br.ctx, o.DeadlineMargin) {
			br.res.Unfinished = true
			applyErr = fmt.Errorf("deadline near, stopped before deregistering %d targets", len(plan.Deregister))
		} else {
			applied, err := r.Groups.Deregister(br.ctx, arn, plan.Deregister)
			br.res.Deregistered = applied
			applyErr = err
		}
	}
	br.state = r.stateAfter(br.state, plan, br.res.Registered, br.res.Deregistered, br.binding.Policy.MissWindow(), now)
	switch {
	case applyErr != nil:
		br.fail(fmt.Errorf("binding %s: %w", br.binding.Name, applyErr))
	case br.res.Err == nil:
		br.state.LastError = ""
	}
}

// keepObservations stores, per group the run observed, what it saw with
// the changes its bindings applied.
func keepObservations(runs []*bindingRun, st *State, now time.Time) {
	for _, g := range groupsOf(runs) {
		var obs []ObservedTarget
		var described time.Time
		seen := false
		for _, br := range g.runs {
			if !br.res.Described {
				continue
			}
			if !seen {
				obs, described, seen = br.res.Observed, br.res.ObservedAt, true
			}
			obs = ObservationAfter(obs, br.res.Registered, br.res.Deregistered)
		}
		if seen {
			keepObservation(st, g.arn, obs, described, now)
		}
	}
}

// withZone returns the changes with every zone set to zone.
func withZone(cs []Change, zone string) []Change {
	out := slices.Clone(cs)
	for i := range out {
		out[i].AvailabilityZone = zone
	}
	return out
}

// finish writes each binding's state into st and returns the results,
// with what earlier attempts of the run applied in front of this one's.
// It adds this attempt's changes to applied, in the order they were made.
func finish(runs []*bindingRun, st *State, applied appliedLog, now time.Time) []BindingResult {
	keepObservations(runs, st, now)
	out := make([]BindingResult, len(runs))
	for i, br := range runs {
		if br.res.Described {
			answered := br.state.Answer != nil && br.state.Answer.At.Equal(now)
			br.state.Trend.Add(trendPoint(br.res, answered, now))
		}
		s := br.state
		s.TargetGroupARN = br.binding.TargetGroupARN
		st.Bindings[br.binding.Name] = &s
		br.res.APICalls = int(br.calls.Load())
		attempt := br.res
		if prev := applied[br.binding.Name]; prev != nil {
			br.res.Registered = slices.Concat(prev.of(ActionRegister), br.res.Registered)
			br.res.Deregistered = slices.Concat(prev.of(ActionDeregister), br.res.Deregistered)
			br.res.azAll = br.res.azAll || prev.azAll
			br.res.APICalls += prev.apiCalls
		}
		applied.add(br.binding.Name, attempt)
		out[i] = br.res
	}
	return out
}
