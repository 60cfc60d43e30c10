package tgsync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Run reconciles the bindings o selects. It returns an error only when the
// run as a whole could not proceed (the state could not be loaded or
// saved); per-binding failures are in the result.
//
// AWS work stops half of o.DeadlineMargin before ctx's deadline, and none
// starts within the margin, so that the state is saved before the
// deadline.
//
// A run loads the state, observes and plans every binding, records what
// shared bindings are about to register (so that a run that dies after
// the call still owns it), applies the changes and saves. A save that
// another writer beat reloads, merges what this run already applied, in
// the order it was applied, and plans again.
func (r *Reconciler) Run(ctx context.Context, o RunOptions) (RunResult, error) {
	now := r.now()
	bindings, err := r.selectBindings(o.Only)
	if err != nil {
		return RunResult{Started: now}, err
	}
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = DefaultDeadlineMargin
	}
	attempts := r.SaveAttempts
	if attempts <= 0 {
		attempts = DefaultSaveAttempts
	}
	run, cancel := r.start(ctx, o, bindings, now)
	defer cancel()
	for attempt := 1; ; attempt++ {
		retry, err := r.attempt(run, attempt < attempts)
		if err != nil {
			r.keepUnsaved(run.carried, run.applied)
			return run.res, err
		}
		if !retry {
			return run.res, nil
		}
		run.res.Conflicts++
	}
}

// runInProgress is one Run: its contexts and what it changed so far.
type runInProgress struct {
	o        RunOptions
	bindings []Binding
	now      time.Time
	// ctx is the caller's; early ends with it or at an interrupt, and
	// bounds what may stop without losing anything; observe and work are
	// the work contexts of observing and of changing (see workContext).
	ctx, early, observe, work context.Context
	// carried is what an earlier run of this reconciler applied but could
	// not save; applied is what earlier attempts of this run changed. Both
	// are merged into the state each attempt plans on.
	carried, applied appliedLog
	res              RunResult
}

func (r *Reconciler) start(ctx context.Context, o RunOptions, bindings []Binding, now time.Time) (*runInProgress, context.CancelFunc) {
	run := &runInProgress{o: o, bindings: bindings, now: now, ctx: ctx, early: ctx,
		carried: r.takeUnsaved(), applied: appliedLog{}, res: RunResult{Started: now}}
	var cancels []context.CancelFunc
	if o.Interrupt != nil {
		var stop context.CancelFunc
		run.early, stop = context.WithCancel(ctx)
		unhook := context.AfterFunc(o.Interrupt, stop)
		cancels = append(cancels, func() { unhook(); stop() })
	}
	var c1, c2 context.CancelFunc
	run.observe, c1 = workContext(withSharedCalls(run.early), o.DeadlineMargin)
	run.work, c2 = workContext(ctx, o.DeadlineMargin)
	cancels = append(cancels, c1, c2)
	return run, func() {
		for _, c := range cancels {
			c()
		}
	}
}

func (run *runInProgress) interrupted() bool {
	return run.o.Interrupt != nil && run.o.Interrupt.Err() != nil
}

// attempt loads, plans, applies and saves once. It reports whether the
// save lost to another writer and the run should plan again.
func (r *Reconciler) attempt(run *runInProgress, mayRetry bool) (retry bool, err error) {
	loaded, rev, err := r.Store.Load(run.early)
	if err != nil {
		return false, fmt.Errorf("load state: %w", err)
	}
	next := loaded.Clone()
	r.mergeApplied(next, run.carried, run.now)
	r.mergeApplied(next, run.applied, run.now)
	r.retire(next, run.now)
	r.seedGroupInfo(next, run.bindings, run.now)
	runs := r.observeAll(run.observe, run.o, run.bindings, next, run.now)
	r.keepGroupInfo(next, run.bindings, run.now)
	if !run.o.DryRun {
		rev, err = r.saveIntents(run.early, runs, next, loaded, rev, run.now)
		if errors.Is(err, ErrConflict) && mayRetry && !run.interrupted() {
			return true, nil // nothing was applied yet: plan again
		}
		if err != nil {
			refuseRegistrations(runs, err)
		}
		if run.interrupted() {
			skipChanges(runs, fmt.Errorf("interrupted before any change: %w", context.Cause(run.early)))
		}
		r.applyAll(run.work, run.o, runs, run.now)
	}
	run.res.Bindings = finish(runs, next, run.applied, run.now)
	next.BoundHistory()
	run.res.State = next
	run.res.Duration = r.now().Sub(run.now)
	if run.o.DryRun {
		r.keepUnsaved(run.carried, nil)
		return false, nil
	}
	if next.Equal(loaded) {
		return false, nil
	}
	// What was changed in AWS must be recorded even when the run was
	// interrupted; a save of nothing but misses may stop.
	changedAWS := run.applied.changed() || run.carried.changed()
	base := run.early
	if changedAWS {
		base = run.ctx
	}
	saveCtx, cancel := saveContext(base, changedAWS)
	_, err = r.Store.Save(saveCtx, next, rev)
	cancel()
	switch {
	case err == nil:
		run.res.StateWritten = true
		run.res.Duration = r.now().Sub(run.now)
		return false, nil
	case errors.Is(err, ErrConflict) && mayRetry:
		return true, nil
	case errors.Is(err, ErrConflict):
		run.res.Conflicts++
	}
	return false, fmt.Errorf("save state: %w", err)
}

// saveIntents records, before any RegisterTargets call, the targets shared
// bindings are about to register as owned, so that a run that dies between
// the call and its final save leaves them owned (rule 9). It saves only
// when a shared binding registers something and returns the revision to
// save on next.
func (r *Reconciler) saveIntents(ctx context.Context, runs []*bindingRun, next, loaded *State, rev string, now time.Time) (string, error) {
	intended := next.Clone()
	any := false
	for _, br := range runs {
		if !br.planned() || !br.binding.Policy.Shared || len(br.res.Plan.Register) == 0 {
			continue
		}
		bs := intended.Binding(br.binding.Name)
		if bs.Owned == nil {
			bs.Owned = map[Target]time.Time{}
		}
		for _, c := range br.res.Plan.Register {
			bs.Owned[c.Target] = now
		}
		any = true
	}
	if !any || intended.Equal(loaded) {
		return rev, nil
	}
	saveCtx, cancel := saveContext(ctx, false)
	defer cancel()
	newRev, err := r.Store.Save(saveCtx, intended, rev)
	if err != nil {
		return rev, err
	}
	// The intents are saved; what the run adds is saved on top of them.
	*loaded = *intended.Clone()
	return newRev, nil
}

// refuseRegistrations fails the shared bindings that were about to
// register when their intent could not be saved: registering then could
// leave a target that no run knows it registered.
func refuseRegistrations(runs []*bindingRun, err error) {
	for _, br := range runs {
		if !br.planned() || !br.binding.Policy.Shared || len(br.res.Plan.Register) == 0 {
			continue
		}
		br.fail(fmt.Errorf("binding %s: not registering %d target(s): could not record them in the state first, and a run that then died would leave targets no binding owns: %w",
			br.binding.Name, len(br.res.Plan.Register), err))
		br.skipApply = true
	}
}

// seedGroupInfo hands the adapter what the state remembers of the groups.
func (r *Reconciler) seedGroupInfo(st *State, bindings []Binding, now time.Time) {
	cache, ok := r.Groups.(GroupInfoCache)
	if !ok {
		return
	}
	for _, b := range bindings {
		info, known := st.Groups[b.TargetGroupARN]
		if !known || now.Sub(info.At) >= GroupInfoMaxAge || info.At.After(now) {
			continue
		}
		if _, has := cache.GroupInfo(b.TargetGroupARN); !has {
			cache.RememberGroupInfo(b.TargetGroupARN, info)
		}
	}
}

// keepGroupInfo keeps in the state what the adapter learned of the
// groups, dated now when it is new, changed, or due to be confirmed.
func (r *Reconciler) keepGroupInfo(st *State, bindings []Binding, now time.Time) {
	cache, ok := r.Groups.(GroupInfoCache)
	if !ok {
		return
	}
	for _, b := range bindings {
		info, has := cache.GroupInfo(b.TargetGroupARN)
		if !has {
			continue
		}
		old, known := st.Groups[b.TargetGroupARN]
		info.At = old.At
		if known && old == info && now.Sub(old.At) < GroupInfoMaxAge && !old.At.After(now) {
			continue
		}
		info.At = now
		if st.Groups == nil {
			st.Groups = map[string]GroupInfo{}
		}
		st.Groups[b.TargetGroupARN] = info
	}
}

// saveContext is the context a state save runs under. A detached save
// records work that was done even when ctx was cancelled (an interrupt, a
// run's own end), but never past ctx's deadline, which is the caller's
// promise to answer in time (a Lambda invocation's).
func saveContext(ctx context.Context, detached bool) (context.Context, context.CancelFunc) {
	base := ctx
	if detached {
		base = context.WithoutCancel(ctx)
	}
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, d)
	}
	return context.WithTimeout(base, 10*time.Second)
}

// skipChanges makes every plan of the run change nothing, and says why.
func skipChanges(runs []*bindingRun, why error) {
	for _, br := range runs {
		if br.planned() && !br.res.Plan.Empty() {
			br.fail(fmt.Errorf("binding %s: %w", br.binding.Name, why))
			br.skipApply = true
		}
	}
}

// DefaultDeadlineMargin is RunOptions.DeadlineMargin when it is zero.
const DefaultDeadlineMargin = 3 * time.Second

// workContext is the context AWS work runs under. It ends half the margin
// before ctx's deadline, so that a call still in flight then is cut off
// while there is time to save what the run did.
func workContext(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-margin/2))
	}
	return context.WithCancel(ctx)
}

// lowOnTime reports whether work under a work context should not start:
// less than half the margin is left, so the run as a whole is within its
// margin of the deadline.
func lowOnTime(work context.Context, margin time.Duration) bool {
	deadline, ok := work.Deadline()
	if !ok {
		return work.Err() != nil
	}
	return time.Until(deadline) < margin/2
}
