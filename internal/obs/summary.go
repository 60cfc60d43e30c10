package obs

import (
	"slices"

	"github.com/tgsync/tgsync"
)

// RunSummary is the JSON form of a run: what the Lambda returns and what
// 'tgsync once -o json' and 'tgsync plan -o json' print.
type RunSummary struct {
	DryRun       bool             `json:"dryRun"`
	Bindings     []BindingSummary `json:"bindings"`
	Failed       []string         `json:"failed,omitempty"`
	StateWritten bool             `json:"stateWritten"`
	Conflicts    int              `json:"conflicts,omitempty"`
	DurationMs   int64            `json:"durationMs"`
}

// BindingSummary is one binding's part of a RunSummary.
type BindingSummary struct {
	Binding        string `json:"binding"`
	Source         string `json:"source"`
	TargetGroupArn string `json:"targetGroupArn"`
	// Desired are the targets the source asks for.
	Desired []string `json:"desired"`
	// Registered are the targets the group holds now, draining ones
	// excluded: after the run's changes, or, in a dry run, as observed,
	// since nothing changed. After are those it holds after the run's
	// changes, planned ones in a dry run: the same as Registered unless
	// the run is dry. Both are null when the run did not observe the
	// group (the source failed first): unknown, not empty.
	//
	// Until After was added a dry run's Registered meant what After means
	// now; a real run's, which the Lambda function returns, is unchanged.
	Registered []string         `json:"registered"`
	After      []string         `json:"after"`
	Changes    []ChangeSummary  `json:"changes"`
	Refusals   []RefusalSummary `json:"refusals"`
	Pending    []PendingSummary `json:"pending,omitempty"`
	Error      string           `json:"error,omitempty"`
	Unfinished bool             `json:"unfinished,omitempty"`
}

// ChangeSummary is one change, applied or (in a dry run) planned.
type ChangeSummary struct {
	Action string `json:"action"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// RefusalSummary is one refusal.
type RefusalSummary struct {
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// PendingSummary is a target waiting out its grace.
type PendingSummary struct {
	Target     string `json:"target"`
	Misses     int    `json:"misses"`
	MissesLeft int    `json:"missesLeft"`
	TimeLeftS  int64  `json:"timeLeftSeconds"`
}

// Summarize turns a run result into its JSON form.
func Summarize(res tgsync.RunResult, dryRun bool) RunSummary {
	out := RunSummary{DryRun: dryRun, Failed: res.Failed(), StateWritten: res.StateWritten,
		Conflicts: res.Conflicts, DurationMs: res.Duration.Milliseconds(), Bindings: []BindingSummary{}}
	for _, b := range res.Bindings {
		s := BindingSummary{Binding: b.Binding, Source: b.Source, TargetGroupArn: b.TargetGroupARN,
			Desired: []string{}, Changes: []ChangeSummary{}, Refusals: []RefusalSummary{},
			Unfinished: b.Unfinished}
		for _, t := range b.Plan.Desired {
			s.Desired = append(s.Desired, t.String())
		}
		regs, deregs := b.Registered, b.Deregistered
		if dryRun {
			regs, deregs = b.Plan.Register, b.Plan.Deregister
		}
		for _, c := range slices.Concat(regs, deregs) {
			s.Changes = append(s.Changes, ChangeSummary{Action: string(c.Action), Target: c.Target.String(), Reason: c.Reason})
		}
		if b.Planned() {
			s.After = targetStrings(members(tgsync.ObservationAfter(b.Observed, regs, deregs)))
			s.Registered = s.After
			if dryRun {
				s.Registered = targetStrings(members(b.Observed))
			}
		}
		for _, r := range b.Plan.Refused {
			rs := RefusalSummary{Action: string(r.Action), Rule: r.Rule, Reason: r.Reason}
			if r.Target.IP.IsValid() {
				rs.Target = r.Target.String()
			}
			s.Refusals = append(s.Refusals, rs)
		}
		for _, p := range b.Plan.Pending {
			s.Pending = append(s.Pending, PendingSummary{Target: p.Target.String(), Misses: p.Misses,
				MissesLeft: p.MissesLeft, TimeLeftS: int64(p.TimeLeft.Seconds())})
		}
		if b.Err != nil {
			s.Error = b.Err.Error()
		}
		out.Bindings = append(out.Bindings, s)
	}
	return out
}

func targetStrings(ts []tgsync.Target) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

// members lists the distinct non-draining targets of an observation, in
// address order: the group's members once tgsync.ObservationAfter has
// applied a run's changes.
func members(observed []tgsync.ObservedTarget) []tgsync.Target {
	var out []tgsync.Target
	for _, o := range observed {
		if !o.State.Draining() {
			out = append(out, o.Target)
		}
	}
	slices.SortFunc(out, tgsync.Target.Compare)
	return slices.Compact(out)
}
