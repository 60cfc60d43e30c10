package status

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// RetiredStatus is a binding that left the config. The state keeps it for
// tgsync.BindingRetention so that it can be put back with its history, and
// nothing removes the targets it registered: they stay in the group,
// orphaned, until an operator deregisters them or puts the binding back.
type RetiredStatus struct {
	Name string `json:"name"`
	// TargetGroupARN is the group it was last configured with; empty for
	// a state written before the group was recorded.
	TargetGroupARN string    `json:"targetGroupArn,omitempty"`
	RemovedAt      time.Time `json:"removedAt"`
	// ForgottenAt is when the state drops the binding's entry.
	ForgottenAt time.Time `json:"forgottenAt"`
	// Orphaned are the targets it registered that no configured binding
	// of the group wants and, where the state knows what the group holds,
	// that the group still holds.
	Orphaned []string `json:"orphaned"`
	// WholeGroup says the binding had its group to itself: every target
	// the group holds was its own, and no binding looks after them now.
	WholeGroup bool `json:"wholeGroup,omitempty"`
}

// retired lists the bindings the state keeps after they left the config,
// by name. bindings are the configured ones, as Build made them: a retired
// binding's target that one of them wants in its group is looked after,
// not orphaned. Their wanted targets are only collected once a retired
// binding is found, which most states have none of.
func retired(st *tgsync.State, bindings []BindingStatus) []RetiredStatus {
	configured := make(map[string]bool, len(bindings))
	for _, b := range bindings {
		configured[b.Name] = true
	}
	out := []RetiredStatus{}
	var wanted map[string]map[string]bool
	for name, bs := range st.Bindings {
		if configured[name] || bs == nil || bs.RemovedAt.IsZero() {
			continue
		}
		if wanted == nil {
			wanted = wantedByGroup(bindings)
		}
		r := RetiredStatus{Name: name, TargetGroupARN: bs.TargetGroupARN, RemovedAt: utc(bs.RemovedAt),
			ForgottenAt: utc(bs.RemovedAt.Add(tgsync.BindingRetention)), Orphaned: []string{},
			WholeGroup: len(bs.Owned) == 0}
		var held map[tgsync.Target]bool
		if o := st.Observations[bs.TargetGroupARN]; o != nil && bs.TargetGroupARN != "" {
			held = map[tgsync.Target]bool{}
			for _, m := range o.Targets {
				held[m.Target] = true
			}
		}
		for t := range bs.Owned {
			if wanted[bs.TargetGroupARN][t.String()] || (held != nil && !held[t]) {
				continue
			}
			r.Orphaned = append(r.Orphaned, t.String())
		}
		slices.SortFunc(r.Orphaned, compareTargetStrings)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b RetiredStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// wantedByGroup collects the desired targets of the configured bindings
// per target group.
func wantedByGroup(bindings []BindingStatus) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, b := range bindings {
		if out[b.TargetGroupARN] == nil {
			out[b.TargetGroupARN] = map[string]bool{}
		}
		for _, t := range b.Desired {
			out[b.TargetGroupARN][t] = true
		}
	}
	return out
}

// retiredWhat says in words what a retired binding left behind.
func retiredWhat(r RetiredStatus) string {
	switch {
	case r.WholeGroup:
		return "it had its target group to itself: whatever the group holds stays, and no binding looks after it"
	case len(r.Orphaned) == 0:
		return "nothing it registered is left unlooked-after"
	}
	return fmt.Sprintf("%d orphaned target(s) stay registered: %s", len(r.Orphaned), strings.Join(r.Orphaned, " "))
}

// retiredAdvice is what an operator can do about orphaned targets.
const retiredAdvice = "tgsync removes none of them: put the binding back, or deregister them by hand"

// retiredSection renders the retired bindings on the page.
func (w *pageWriter) retiredSection(rs []RetiredStatus) {
	if len(rs) == 0 {
		return
	}
	w.lit("\n<section class=\"binding\" id=\"retired\">\n<h2>Bindings no longer configured</h2>\n<ul>")
	for _, r := range rs {
		w.wrap("\n<li class=\"event\"><div class=\"ehead\"><span class=\"kind\">retired</span> <b>", r.Name, "</b>")
		if r.TargetGroupARN != "" {
			w.wrap(" <span title=\"", r.TargetGroupARN, "\">")
			w.wrap("", shortARN(r.TargetGroupARN), "</span>")
		}
		w.wrap(" <time>removed ", clock(r.RemovedAt)+" · "+ago(w.now, r.RemovedAt), "</time></div>")
		w.wrap("\n<div class=\"reason\">", retiredWhat(r), "</div>")
		if r.WholeGroup || len(r.Orphaned) > 0 {
			w.wrap("<div class=\"reason\">", retiredAdvice+"; the state forgets the binding "+clock(r.ForgottenAt)+".", "</div>")
		}
		w.lit("</li>")
	}
	w.lit("\n</ul>\n</section>")
}

// writeRetired prints the retired bindings for 'tgsync status'.
func writeRetired(w io.Writer, rs []RetiredStatus) {
	for _, r := range rs {
		fmt.Fprintf(w, "\nretired binding %s", r.Name)
		if r.TargetGroupARN != "" {
			fmt.Fprintf(w, " -> %s", shortARN(r.TargetGroupARN))
		}
		fmt.Fprintf(w, ": removed from the config %s, forgotten %s\n  %s\n", clock(r.RemovedAt), clock(r.ForgottenAt), retiredWhat(r))
		if r.WholeGroup || len(r.Orphaned) > 0 {
			fmt.Fprintf(w, "  %s\n", retiredAdvice)
		}
	}
}
