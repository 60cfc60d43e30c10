package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/obs"
)

// The deadline budget of one invocation. The reconciler starts no AWS
// work within margin of its deadline, and its context ends reserve before
// Lambda's, so that work in flight is cut off while there is still time to
// save state and answer.
const (
	maxDeadlineMargin = 3 * time.Second
	minDeadlineMargin = 200 * time.Millisecond
)

// deadlineBudget splits the time left at invoke: margin is a tenth of it,
// between 200ms and 3s; reserve is half the margin.
func deadlineBudget(left time.Duration) (margin, reserve time.Duration) {
	margin = min(maxDeadlineMargin, max(minDeadlineMargin, left/10))
	return margin, margin / 2
}

// runRequest is what one invocation asks the reconciler for.
type runRequest struct {
	trigger string // scheduled, reconcile, plan, or the interface call
	dryRun  bool
	only    []string // binding names; empty means all
	shard   int      // the shard to run; 0: every shard in turn
}

// reconcile runs the bindings under the invocation's deadline, logs one
// line per change and refusal and a summary, writes the EMF metrics of a
// real run, and returns the summary. A binding that failed or did not
// finish makes the invocation an error (so that Lambda's Errors metric
// sees it) that names each one and why; a plan reports them in its JSON
// instead, so that the plan of the others stays visible.
func (f *lambdaFunc) reconcile(ctx context.Context, req runRequest) (any, error) {
	_, out, err := f.reconcileResult(ctx, req)
	return out, err
}

// reconcileResult is reconcile that also returns the run's result.
func (f *lambdaFunc) reconcileResult(ctx context.Context, req runRequest) (tgsync.RunResult, any, error) {
	// Invocations may run concurrently: their settings go with each run.
	opts := tgsync.RunOptions{DryRun: req.dryRun, Only: req.only}
	runCtx := ctx
	var res tgsync.RunResult
	var err error
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		margin, reserve := deadlineBudget(left)
		opts.DeadlineMargin = margin
		if left < margin+reserve {
			res = notStarted(f.reconciler, req.only, fmt.Sprintf("%s left at invoke, less than the %s tgsync keeps to save state and answer; raise the function's timeout",
				left.Round(time.Millisecond), (margin+reserve).Round(time.Millisecond)))
		} else {
			var cancel context.CancelFunc
			runCtx, cancel = context.WithDeadline(ctx, deadline.Add(-reserve))
			defer cancel()
		}
	}
	var before, throttled map[string]int
	if f.calls != nil {
		before, throttled = f.calls.Snapshot(), f.calls.Throttles()
	}
	if res.Bindings == nil {
		res, err = f.run(runCtx, opts, req.shard)
	}
	log := f.log.With("trigger", req.trigger)
	if req.shard > 0 {
		log = log.With("shard", fmt.Sprintf("%d/%d", req.shard, f.shards.n))
	}
	obs.LogRun(ctx, log, res, req.dryRun)
	if !req.dryRun && f.metrics != nil && len(res.Bindings) > 0 {
		var calls, throttles map[string]int
		if f.calls != nil {
			calls = obs.DiffCalls(before, f.calls.Snapshot())
			throttles = obs.DiffCalls(throttled, f.calls.Throttles())
		}
		if werr := obs.WriteEMF(f.metrics, res, calls, throttles, f.emf); werr != nil {
			log.Error("metrics not written", "error", werr.Error())
		}
	}
	summary := obs.Summarize(res, req.dryRun)
	switch {
	case err != nil:
		log.LogAttrs(ctx, slog.LevelError, "run failed", slog.String("error", err.Error()), slog.Any("summary", summary))
		return res, nil, withType(errRunFailed, fmt.Errorf("run failed: %w", err))
	case len(res.Failed()) > 0 && !req.dryRun:
		log.LogAttrs(ctx, slog.LevelError, "bindings failed", slog.Any("summary", summary))
		return res, nil, withType(errBindingsFailed, failedBindings(res))
	}
	return res, summary, nil
}

// notStarted is the result of a run there was no time for: every selected
// binding unfinished, nothing touched.
func notStarted(r *tgsync.Reconciler, only []string, why string) tgsync.RunResult {
	res := tgsync.RunResult{Started: time.Now(), Bindings: []tgsync.BindingResult{}}
	for _, b := range r.Bindings {
		if len(only) > 0 && !slices.Contains(only, b.Name) {
			continue
		}
		res.Bindings = append(res.Bindings, tgsync.BindingResult{
			Binding: b.Name, Source: b.Source.String(), TargetGroupARN: b.TargetGroupARN, Unfinished: true,
			Err: fmt.Errorf("binding %s: deadline near, not started: %s", b.Name, why),
		})
	}
	return res
}

// maxErrorMessage bounds the error message of a failed invocation; the
// whole summary is in the log.
const maxErrorMessage = 4096

// failedBindings names each failed or unfinished binding and why.
func failedBindings(res tgsync.RunResult) error {
	var parts []string
	failed := 0
	for _, b := range res.Bindings {
		if !b.Failed() {
			continue
		}
		failed++
		why := "did not finish"
		if b.Err != nil {
			why = strings.TrimPrefix(b.Err.Error(), "binding "+b.Binding+": ")
		}
		if b.Unfinished {
			why = "unfinished: " + why
		}
		parts = append(parts, b.Binding+": "+clip(why, 400))
	}
	msg := fmt.Sprintf("%d of %d bindings failed: %s", failed, len(res.Bindings), strings.Join(parts, "; "))
	return errors.New(clip(msg, maxErrorMessage))
}

// run runs the invocation's shard k, or every binding (0).
func (f *lambdaFunc) run(ctx context.Context, opts tgsync.RunOptions, k int) (tgsync.RunResult, error) {
	if f.shards == nil {
		return f.reconciler.Run(ctx, opts)
	}
	return f.shards.reconciler(k).Run(ctx, opts)
}
