package status

import (
	"fmt"
	"slices"

	"github.com/tgsync/tgsync"
)

// outcome is how the binding's last run went: from this process's run when
// there is one, else from what the state remembers of it (its last error,
// cleared by a clean run, and its ongoing refusals).
func outcome(b BindingStatus, bs tgsync.BindingState) string {
	if r := b.LastRun; r != nil {
		switch {
		case r.Unfinished:
			return OutcomeUnfinished
		case r.SourceError != "":
			return OutcomeSourceFailed
		case r.Error != "":
			return OutcomeFailed
		}
		return OutcomeOK
	}
	if bs.LastError != "" {
		for _, key := range bs.Refusing {
			if f, err := tgsync.ParseRefusalKey(key); err == nil && f.Rule == tgsync.RuleSourceFailed {
				return OutcomeSourceFailed
			}
		}
		return OutcomeFailed
	}
	if bs.Answer == nil && len(bs.History) == 0 && len(bs.Refusing) == 0 {
		return OutcomeUnknown
	}
	return OutcomeOK
}

// groupHealth sums up the group's registered targets as last seen.
func groupHealth(b BindingStatus) string {
	c := b.Counts
	switch {
	case b.TargetsFrom == "":
		return GroupUnknown
	case c.Registered == 0:
		return GroupEmpty
	case c.Healthy == 0:
		return GroupNoHealthy
	case c.Healthy < c.Registered:
		return GroupPartlyHealthy
	}
	return GroupHealthy
}

// trend is the stored trend in display form.
func trend(tr tgsync.Trend) []TrendPoint {
	out := make([]TrendPoint, len(tr))
	for i, p := range tr {
		out[i] = TrendPoint{At: utc(p.At), Desired: p.Desired, Registered: p.Registered, Healthy: p.Healthy, Answer: p.Answer}
	}
	return out
}

// drains is the state's drain log, newest first.
func drains(log []tgsync.DrainEntry) []DrainStatus {
	out := make([]DrainStatus, 0, len(log))
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		out = append(out, DrainStatus{Time: utc(e.At), Task: e.Task, TargetGroupARN: e.TargetGroupARN,
			Deregistered: append([]string{}, e.Deregistered...), Reason: e.Reason, Error: e.Error})
	}
	return out
}

// withDrains merges the drains of the binding's group into its events,
// newest first: one event per drained target, or one for a failure.
func withDrains(events []EventStatus, arn string, log []tgsync.DrainEntry) []EventStatus {
	var add []EventStatus
	for _, e := range log {
		if e.TargetGroupARN != arn {
			continue
		}
		reason := "Spot drain: " + e.Reason
		if e.Reason == "" {
			reason = "Spot drain of task " + e.Task
		}
		for _, t := range e.Deregistered {
			add = append(add, EventStatus{Time: utc(e.At), Kind: KindDrain, Action: tgsync.ActionDeregister, Target: t, Reason: reason})
		}
		if e.Error != "" {
			add = append(add, EventStatus{Time: utc(e.At), Kind: KindDrain, Action: tgsync.ActionDeregister, Reason: reason, Error: e.Error})
		}
	}
	if len(add) == 0 {
		return events
	}
	out := slices.Concat(events, add)
	// Stable, so that events of one time keep the order they were made in.
	slices.SortStableFunc(out, func(a, b EventStatus) int { return b.Time.Compare(a.Time) })
	return out
}

// outcomeLabel and healthLabel are the badges' words.
func outcomeLabel(o string) string {
	switch o {
	case OutcomeSourceFailed:
		return "source failed"
	case OutcomeUnknown:
		return "no run yet"
	}
	return o
}

func healthLabel(b BindingStatus) string {
	c := b.Counts
	switch b.GroupHealth {
	case GroupUnknown:
		return "group unknown"
	case GroupEmpty:
		return "group empty"
	}
	return fmt.Sprintf("%d of %d healthy", c.Healthy, c.Registered)
}
