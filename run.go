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
	res := RunResult{Started: now}
	bindings, err := r.selectBindings(o.Only)
	if err != nil {
		return res, err
	}
	attempts := r.SaveAttempts
	if attempts <= 0 {
		attempts = 3
	}
	// carried is what an earlier run of this reconciler applied but could
	// not save; applied is what earlier attempts of this run changed. Both
	// are merged into the state each attempt plans on.
	if o.DeadlineMargin <= 0 {
		o.DeadlineMargin = DefaultDeadlineMargin
	}
	// early ends with ctx or at an interrupt: it bounds what may stop
	// without losing anything. work bounds the changes, which an
	// interrupt does not stop.
	early := ctx
	if o.Interrupt != nil {
		var stop context.CancelFunc
		early, stop = context.WithCancel(ctx)
		defer stop()
		defer context.AfterFunc(o.Interrupt, stop)()
	}
	observe, cancelObserve := workContext(early, o.DeadlineMargin)
	defer cancelObserve()
	work, cancelWork := workContext(ctx, o.DeadlineMargin)
	defer cancelWork()
	interrupted := func() bool { return o.Interrupt != nil && o.Interrupt.Err() != nil }
	carried := r.takeUnsaved()
	applied := appliedLog{}
	fail := func(err error) (RunResult, error) {
		r.keepUnsaved(carried, applied)
		return res, err
	}
	for attempt := 1; ; attempt++ {
		loaded, rev, err := r.Store.Load(early)
		if err != nil {
			return fail(fmt.Errorf("load state: %w", err))
		}
		next := loaded.Clone()
		r.mergeApplied(next, carried, now)
		r.mergeApplied(next, applied, now)
		r.seedGroupInfo(next, bindings, now)
		runs := r.observeAll(observe, o, bindings, next, now)
		r.keepGroupInfo(next, bindings, now)
		if !o.DryRun {
			rev, err = r.saveIntents(early, runs, next, loaded, rev, now)
			if errors.Is(err, ErrConflict) && attempt < attempts && !interrupted() {
				// Nothing was applied yet: plan again on the newer state.
				res.Conflicts++
				continue
			}
			if err != nil {
				refuseRegistrations(runs, err)
			}
			if interrupted() {
				skipChanges(runs, fmt.Errorf("interrupted before any change: %w", context.Cause(early)))
			}
			r.applyAll(work, o, runs, now)
		}
		res.Bindings = finish(runs, next, applied)
		res.State = next
		res.Duration = r.now().Sub(now)
		if o.DryRun {
			r.keepUnsaved(carried, nil)
			return res, nil
		}
		if next.Equal(loaded) {
			return res, nil
		}
		// What was changed in AWS must be recorded even when the run was
		// interrupted; a save of nothing but misses may stop.
		changedAWS := applied.changed() || carried.changed()
		base := early
		if changedAWS {
			base = ctx
		}
		saveCtx, cancel := saveContext(base, changedAWS)
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
			return fail(fmt.Errorf("save state: %w", err))
		}
	}
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
