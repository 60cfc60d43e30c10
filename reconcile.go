package tgsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Source is where a binding learns the addresses it should hold.
type Source interface {
	// Resolve makes one observation. An error means the source failed and
	// nothing may be removed because of it.
	Resolve(ctx context.Context) (Answer, error)
	// String names the source in reasons and logs.
	String() string
}

// TargetGroups is the part of the elbv2 API a reconcile needs.
type TargetGroups interface {
	// Describe returns the members of a target group with their health.
	Describe(ctx context.Context, arn string) ([]ObservedTarget, error)
	// Register registers targets in order, in batches. It returns how many
	// leading targets were registered and whether AvailabilityZone "all"
	// had to be used (rule 7).
	Register(ctx context.Context, arn string, targets []Target, azAll bool) (done int, usedAZAll bool, err error)
	// Deregister deregisters targets in order, in batches, and returns how
	// many leading ones were deregistered.
	Deregister(ctx context.Context, arn string, changes []Change) (done int, err error)
}

// Store keeps State between runs. Load never returns a nil State without
// an error: NewState() when nothing is stored yet. The revision is opaque:
// a store returns it from Load and expects it back in Save, which fails
// with ErrConflict when another writer saved in between. An empty revision
// means no state was stored yet.
type Store interface {
	Load(ctx context.Context) (s *State, revision string, err error)
	Save(ctx context.Context, s *State, revision string) (newRevision string, err error)
}

// Binding ties one source to one target group on one or more ports.
type Binding struct {
	Name           string
	Source         Source
	TargetGroupARN string
	Ports          []uint16
	Policy         Policy
	// AZAll registers every target with AvailabilityZone "all" from the
	// start, for sources known to be outside the group's VPC.
	AZAll bool
}

// Reconciler runs the bindings: observe, plan, apply, remember.
type Reconciler struct {
	Bindings []Binding
	Groups   TargetGroups
	Store    Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DryRun plans without changing the target groups or the state.
	DryRun bool
	// Concurrency bounds the target groups worked on at once; 0 means 4.
	Concurrency int
	// DeadlineMargin is how long before the context's deadline the
	// reconciler stops starting AWS work, to leave time to save state.
	// 0 means 3s.
	DeadlineMargin time.Duration
	// SaveAttempts bounds the reload-and-replan loop on ErrConflict; 0
	// means 3.
	SaveAttempts int

	mu      sync.Mutex
	unsaved map[string]*BindingResult // applied by a run whose save failed
}

// BindingResult is what happened to one binding in a run.
type BindingResult struct {
	Binding        string
	Source         string
	TargetGroupARN string
	// Answer is the source's answer when SourceErr is nil.
	Answer    Answer
	SourceErr error
	// Observed is the target group as described at the start of the run.
	Observed []ObservedTarget
	Plan     Changes
	// Registered and Deregistered are the changes that were applied.
	Registered   []Change
	Deregistered []Change
	// Err is the binding's failure: source, describe or apply.
	Err error
	// Unfinished is set when the deadline stopped the binding.
	Unfinished bool
	Duration   time.Duration
	// APICalls counts the AWS API calls sent for the binding, retries
	// included, when the adapters report them with CountAPICall.
	APICalls int

	azAll bool // the group turned out to need AvailabilityZone "all"
}

// Planned reports whether the binding got as far as a plan, so that
// Observed is a real observation: a plan always desires or refuses
// something.
func (r BindingResult) Planned() bool {
	return r.SourceErr == nil && (len(r.Plan.Desired) > 0 || len(r.Plan.Refused) > 0)
}

// Failed reports whether the binding counts as failed for exit codes.
func (r BindingResult) Failed() bool { return r.Err != nil || r.Unfinished }

// RunResult is what a run did.
type RunResult struct {
	Started  time.Time
	Duration time.Duration
	Bindings []BindingResult
	// StateWritten is set when the run saved a changed state.
	StateWritten bool
	// Conflicts counts the saves another writer beat.
	Conflicts int
	// State is the state after the run (what was saved, or would be).
	State *State
}

// Failed lists the bindings that failed or did not finish.
func (r RunResult) Failed() []string {
	var names []string
	for _, b := range r.Bindings {
		if b.Failed() {
			names = append(names, b.Binding)
		}
	}
	return names
}

// callCounterKey carries the API call counter of the binding being worked
// on.
type callCounterKey struct{}

// CountAPICall records one AWS API call against the binding whose work ctx
// belongs to, so that a result can say what each binding cost. Adapters
// call it from their SDK middleware, once per attempt sent; for other
// contexts it does nothing.
func CountAPICall(ctx context.Context) {
	if n, ok := ctx.Value(callCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}

// ErrUnknownBinding is returned when Run is asked for a binding that is not
// configured.
var ErrUnknownBinding = errors.New("unknown binding")

// Run reconciles the named bindings, or all of them when only is empty. It
// returns an error only when the run as a whole could not proceed (state
// could not be loaded or saved); per-binding failures are in the result.
func (r *Reconciler) Run(ctx context.Context, only ...string) (RunResult, error) {
	return r.RunWith(ctx, RunOptions{DryRun: r.DryRun, DeadlineMargin: r.DeadlineMargin, Only: only})
}

// RunOptions are the settings of one run, for callers that run one
// Reconciler concurrently with different settings (a Lambda function with
// several invocations in flight).
type RunOptions struct {
	DryRun         bool
	DeadlineMargin time.Duration // 0 means 3s
	Only           []string      // binding names; empty means all
}

// RunWith is Run with the settings of this run given explicitly; the
// Reconciler's own DryRun and DeadlineMargin are not used.
func (r *Reconciler) RunWith(ctx context.Context, o RunOptions) (RunResult, error) {
	now := r.now()
	res := RunResult{Started: now}
	bindings, err := r.selectBindings(o.Only)
	if err != nil {
		return res, err
	}
	attempts := r.SaveAttempts
	if attempts <= 0 {
		attempts = 3
	}
	// carried is what an earlier run applied but could not save; applied
	// is what earlier attempts of this run changed. Both are merged into
	// the state each attempt plans on, so that a replan after a conflict, or
	// the run after a failed save, still records the changes and still owns
	// what was registered.
	carried := r.takeUnsaved()
	applied := map[string]*BindingResult{}
	for attempt := 1; ; attempt++ {
		loaded, rev, err := r.Store.Load(ctx)
		if err != nil {
			r.keepUnsaved(carried, applied)
			return res, fmt.Errorf("load state: %w", err)
		}
		next := loaded.Clone()
		r.mergeApplied(next, carried, now)
		r.mergeApplied(next, applied, now)
		res.Bindings = r.runAll(ctx, o, bindings, next)
		for i := range res.Bindings {
			b := &res.Bindings[i]
			if prev := applied[b.Binding]; prev != nil {
				b.Registered = slices.Concat(prev.Registered, b.Registered)
				b.Deregistered = slices.Concat(prev.Deregistered, b.Deregistered)
				b.azAll = b.azAll || prev.azAll
				b.APICalls += prev.APICalls
			}
			applied[b.Binding] = b
		}
		res.State = next
		res.Duration = r.now().Sub(now)
		if o.DryRun {
			r.keepUnsaved(carried, nil)
			return res, nil
		}
		if next.Equal(loaded) {
			return res, nil
		}
		saveCtx, cancel := saveContext(ctx)
		_, err = r.Store.Save(saveCtx, next, rev)
		cancel()
		switch {
		case err == nil:
			res.StateWritten = true
			res.Duration = r.now().Sub(now)
			return res, nil
		case errors.Is(err, ErrConflict) && attempt < attempts:
			res.Conflicts++
			continue
		default:
			if errors.Is(err, ErrConflict) {
				res.Conflicts++
			}
			r.keepUnsaved(carried, applied)
			return res, fmt.Errorf("save state: %w", err)
		}
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) binding(name string) Binding {
	for _, b := range r.Bindings {
		if b.Name == name {
			return b
		}
	}
	return Binding{}
}

func (r *Reconciler) selectBindings(only []string) ([]Binding, error) {
	if len(only) == 0 {
		return r.Bindings, nil
	}
	var out []Binding
	for _, name := range only {
		b := r.binding(name)
		if b.Name == "" {
			return nil, fmt.Errorf("%w %q", ErrUnknownBinding, name)
		}
		out = append(out, b)
	}
	return out, nil
}

// runAll works on target groups concurrently; the bindings of one group run
// in turn on one observation, so that each group is described once.
func (r *Reconciler) runAll(ctx context.Context, o RunOptions, bindings []Binding, st *State) []BindingResult {
	var groups [][]int
	index := map[string]int{}
	for i, b := range bindings {
		g, ok := index[b.TargetGroupARN]
		if !ok {
			g = len(groups)
			index[b.TargetGroupARN] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	workers := r.Concurrency
	if workers <= 0 {
		workers = 4
	}
	results := make([]BindingResult, len(bindings))
	states := make([]BindingState, len(bindings))
	for i, b := range bindings {
		states[i] = st.Binding(b.Name).Clone()
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func(g []int) {
			defer func() { <-sem; wg.Done() }()
			var group groupView
			for _, i := range g {
				calls := new(atomic.Int64)
				bctx := context.WithValue(ctx, callCounterKey{}, calls)
				start := time.Now()
				results[i], states[i] = r.runBinding(bctx, o, bindings[i], states[i], &group)
				results[i].Duration = time.Since(start)
				results[i].APICalls = int(calls.Load())
			}
		}(g)
	}
	wg.Wait()
	for i, b := range bindings {
		s := states[i]
		st.Bindings[b.Name] = &s
	}
	return results
}

// saveContext is the context a state save runs under: work that was done
// must be recorded even when the run's own context has just ended.
func saveContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// lowOnTime reports whether the deadline is too close to start AWS work.
func lowOnTime(ctx context.Context, margin time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx.Err() != nil
	}
	if margin <= 0 {
		margin = 3 * time.Second
	}
	return time.Until(deadline) < margin
}

// groupView is one target group as the bindings on it see it during a
// run: described by the first that needs it, then updated with each
// binding's changes for the next.
type groupView struct {
	described bool
	targets   []ObservedTarget
	err       error
}

func (r *Reconciler) runBinding(ctx context.Context, o RunOptions, b Binding, st BindingState, group *groupView) (BindingResult, BindingState) {
	res := BindingResult{Binding: b.Name, Source: b.Source.String(), TargetGroupARN: b.TargetGroupARN}
	unfinished := func(stage string) (BindingResult, BindingState) {
		res.Unfinished = true
		res.Err = fmt.Errorf("binding %s: deadline near, stopped before %s", b.Name, stage)
		return res, st
	}
	fail := func(err error) (BindingResult, BindingState) {
		res.Err = err
		st.LastError = err.Error()
		return res, st
	}

	if lowOnTime(ctx, o.DeadlineMargin) {
		return unfinished("resolving " + b.Source.String())
	}
	answer, err := b.Source.Resolve(ctx)
	now := r.now()
	if err != nil {
		res.SourceErr = err
		res.Plan = Plan(Desired{Source: b.Source.String(), Err: err, Ports: b.Ports}, nil, st, b.Policy, now)
		st = r.remember(st, res.Plan, nil, nil, now)
		return fail(fmt.Errorf("binding %s: source %s: %w", b.Name, b.Source, err))
	}
	res.Answer = answer
	// The answer is evidence even when the group cannot be described: a
	// target it holds is not missing, so its misses start over (rule 2).
	st = forgetAnswered(st, answer, b)

	if !group.described {
		if lowOnTime(ctx, o.DeadlineMargin) {
			return unfinished("describing " + b.TargetGroupARN)
		}
		group.targets, group.err = r.Groups.Describe(ctx, b.TargetGroupARN)
		group.described = true
	}
	if group.err != nil {
		return fail(fmt.Errorf("binding %s: %w", b.Name, group.err))
	}
	res.Observed = slices.Clone(group.targets)
	st = recordAnswer(st, answer, now)

	res.Plan = Plan(Desired{Source: b.Source.String(), Answer: answer, Ports: b.Ports}, res.Observed, st, b.Policy, now)
	if o.DryRun {
		return res, r.remember(st, res.Plan, nil, nil, now)
	}

	var applyErr error
	if len(res.Plan.Register) > 0 {
		if lowOnTime(ctx, o.DeadlineMargin) {
			res.Unfinished = true
			applyErr = fmt.Errorf("deadline near, stopped before registering %d targets", len(res.Plan.Register))
		} else {
			targets := make([]Target, len(res.Plan.Register))
			for i, c := range res.Plan.Register {
				targets[i] = c.Target
			}
			done, usedAll, err := r.Groups.Register(ctx, b.TargetGroupARN, targets, b.AZAll || st.AZAll)
			res.Registered = res.Plan.Register[:done]
			if usedAll {
				st.AZAll, res.azAll = true, true
			}
			applyErr = err
		}
	}
	if applyErr == nil && len(res.Plan.Deregister) > 0 {
		if lowOnTime(ctx, o.DeadlineMargin) {
			res.Unfinished = true
			applyErr = fmt.Errorf("deadline near, stopped before deregistering %d targets", len(res.Plan.Deregister))
		} else {
			done, err := r.Groups.Deregister(ctx, b.TargetGroupARN, res.Plan.Deregister)
			res.Deregistered = res.Plan.Deregister[:done]
			applyErr = err
		}
	}
	group.targets = ObservationAfter(group.targets, res.Registered, res.Deregistered)
	st = r.remember(st, res.Plan, res.Registered, res.Deregistered, now)
	if applyErr != nil {
		return fail(fmt.Errorf("binding %s: %w", b.Name, applyErr))
	}
	st.LastError = ""
	return res, st
}
