package obs

import (
	"maps"
	"slices"

	"github.com/tgsync/tgsync"
)

// bindingNumbers are the figures metrics report for one binding in one run.
type bindingNumbers struct {
	// planned is set when the binding got as far as a plan, so that the
	// group figures come from a real observation; otherwise only the
	// counters below mean anything.
	planned                                 bool
	desired, registered, healthy, pending   int
	registeredNow, deregisteredNow, refused int
	sourceFailed, failed                    bool
	// addrs are the distinct addresses of the source's answer.
	addrs int
	// tracked are the distinct addresses the binding keeps track of: the
	// answer's and those of targets waiting out their grace.
	tracked int
}

func numbers(b tgsync.BindingResult) bindingNumbers {
	n := bindingNumbers{
		refused: len(b.Plan.Refused),
		failed:  b.Failed(),
	}
	regs, deregs := b.Registered, b.Deregistered
	n.registeredNow, n.deregisteredNow = len(regs), len(deregs)
	n.sourceFailed = b.SourceErr != nil || slices.ContainsFunc(b.Plan.Refused, func(r tgsync.Refusal) bool {
		return r.Rule == tgsync.RuleSourceFailed
	})
	n.planned = b.Planned()
	if !n.planned {
		return n
	}
	n.desired = len(b.Plan.Desired)
	n.pending = len(b.Plan.Pending)
	after := tgsync.ObservationAfter(b.Observed, regs, deregs)
	n.registered = len(members(after))
	for _, o := range after {
		if o.State == tgsync.HealthHealthy {
			n.healthy++
		}
	}
	ips := map[string]bool{}
	for _, a := range b.Answer.Addrs {
		ips[a.Unmap().String()] = true
	}
	n.addrs = len(ips)
	for _, p := range b.Plan.Pending {
		ips[p.Target.IP.String()] = true
	}
	n.tracked = len(ips)
	return n
}

// DiffCalls returns the calls made between two snapshots of a cumulative
// per-action counter, for metrics of one run.
func DiffCalls(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if d := after[k] - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
