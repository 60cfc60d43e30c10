package tgsync

import (
	"slices"
	"time"
)

// DrainEntry is what a drain did to one target group, as the state keeps
// it for the status page: drains change target groups outside any
// binding's run, often groups no binding watches, so they have a history
// of their own rather than events on bindings.
type DrainEntry struct {
	At             time.Time `json:"at"`
	Task           string    `json:"task"`
	Version        int64     `json:"version,omitempty"`
	TargetGroupARN string    `json:"targetGroupArn"`
	// Deregistered are the targets the drain deregistered, as ip:port.
	Deregistered []string `json:"deregistered,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	// Error is the group's failure, without what changes from one
	// occurrence to the next (see StableError).
	Error string `json:"error,omitempty"`
}

// Bounds of State.DrainLog: entries are kept for DrainLogRetention, and at
// most DrainLogLimit of them (about 40 KB), the newest; fewer in a state of
// more than 180 bindings (DrainLogShare of HistoryBudget).
const (
	DrainLogRetention = 7 * 24 * time.Hour
	DrainLogLimit     = 100
)

// drainEntries are the entries of a drain: one per group it deregistered
// from or failed on. A group where it found nothing to do leaves none.
func drainEntries(task Task, groups []GroupDrain, now time.Time) []DrainEntry {
	var out []DrainEntry
	for _, g := range groups {
		if len(g.Deregistered) == 0 && g.Err == nil {
			continue
		}
		e := DrainEntry{At: now, Task: task.ARN, Version: task.Version, TargetGroupARN: g.TargetGroupARN,
			Reason: task.Reason, Error: StableError(g.Err)}
		for _, c := range g.Deregistered {
			e.Deregistered = append(e.Deregistered, c.Target.String())
		}
		out = append(out, e)
	}
	return out
}

// logDrain adds a drain's entries to the state, applies the bounds, and
// takes the deregistered targets out of the observations the state keeps
// of their groups, as a run's own changes are (see Observation).
func (s *State) logDrain(entries []DrainEntry, groups []GroupDrain, now time.Time) {
	log := slices.Concat(s.DrainLog, entries)
	log = slices.DeleteFunc(log, func(e DrainEntry) bool { return now.Sub(e.At) > DrainLogRetention })
	if over := len(log) - DrainLogShare(len(s.Bindings)); over > 0 {
		log = log[over:]
	}
	if len(log) == 0 {
		log = nil
	}
	s.DrainLog = log
	for _, g := range groups {
		o := s.Observations[g.TargetGroupARN]
		if o == nil || len(g.Deregistered) == 0 {
			continue
		}
		s.Observations[g.TargetGroupARN] = &Observation{At: now, Described: o.DescribedAt(),
			Targets: stored(ObservationAfter(o.Targets, nil, g.Deregistered))}
	}
}
