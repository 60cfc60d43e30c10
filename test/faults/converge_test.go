package faults

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/tgsync/tgsync"
)

// What the suite checks once a fault is over: that the groups reach their
// answers within the bound the policy allows and stay there, and that the
// stored state holds what it should.

// changed reports whether a run registered or deregistered anything.
func changed(o outcome) bool {
	for _, r := range o.results {
		for _, b := range r.Bindings {
			if len(b.Registered)+len(b.Deregistered) > 0 {
				return true
			}
		}
	}
	return false
}

func misses(s *tgsync.State, name string) map[tgsync.Target]tgsync.Miss {
	if s == nil || s.Bindings[name] == nil {
		return nil
	}
	return s.Bindings[name].Misses
}

func sameMisses(a, b map[tgsync.Target]tgsync.Miss) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || w.Count != v.Count || !w.Since.Equal(v.Since) {
			return false
		}
	}
	return true
}

func serving(obs []tgsync.ObservedTarget) int {
	n := 0
	for _, o := range obs {
		if !o.State.Draining() {
			n++
		}
	}
	return n
}

// matches reports whether the binding's group serves exactly its desired
// targets and its foreign ones.
func (e *env) matches(b *binding) bool {
	got := map[tgsync.Target]bool{}
	for _, o := range e.elb.view(e.t, b.arn) {
		if !o.State.Draining() {
			got[o.Target] = true
		}
	}
	want := b.desired()
	for ft := range b.foreign {
		want[ft] = true
	}
	return maps.Equal(got, want)
}

// settled holds the answers for steadyRuns runs, and up to two more
// should this loaded machine fail one, until every group matches.
func (e *env) settled() {
	e.t.Helper()
	for i := 1; i <= steadyRuns+2; i++ {
		o := e.step(nil)
		if i >= steadyRuns && o.clean() && e.allMatch() {
			return
		}
	}
	e.t.Fatalf("the groups did not reach their first answer in %d runs", steadyRuns+2)
}

func (e *env) allMatch() bool {
	for _, b := range e.bindings {
		if !e.matches(b) {
			return false
		}
	}
	return true
}

// bound is how many fault-free runs it takes at most, with every target
// healthy, to reach the current answers: run 1 registers what is missing;
// a stale target missed from run 1 on has k misses over k-1 minutes at run
// k, so it is due at run max(N, T/interval+1), 4 for the defaults; from
// then each run removes MaxFraction of the registered targets (at least
// one). Earlier misses only make it sooner.
func (e *env) bound() int {
	worst := 1
	for _, b := range e.bindings {
		want := b.desired()
		stale := 0
		for _, o := range e.elb.view(e.t, b.arn) {
			if !o.State.Draining() && !want[o.Target] && !b.foreign[o.Target] {
				stale++
			}
		}
		if stale == 0 {
			continue
		}
		keep := len(want) + len(b.foreign)
		p := b.policy
		due := max(p.AfterMisses, int((p.AfterDuration+every-1)/every)+1)
		runs := due - 1
		for stale > 0 {
			runs++
			stale -= min(stale, max(1, int(p.MaxFraction*float64(keep+stale))))
		}
		worst = max(worst, runs)
	}
	return worst
}

// recover makes fault-free runs until the groups reach their answers and
// checks that they stay there without changes. It returns the run that
// reached them and the bound it was held to (plus extra runs the test
// grants, plus one per run this loaded machine failed on its own).
func (e *env) recover(extra int) (converged, bound int) {
	t := e.t
	t.Helper()
	bound = e.bound() + extra
	for run := 1; ; run++ {
		if converged == 0 && run > bound+1 || converged != 0 && run > converged+2 {
			break
		}
		o := e.step(nil)
		if !o.clean() {
			t.Logf("recovery run %d failed without a fault (loaded machine?): %v", run, o.err(e.bindings[0].name))
			uncleanRuns.Add(1)
			bound++
		}
		ok := e.allMatch()
		switch {
		case converged == 0 && ok && o.clean():
			converged = run
		case converged != 0 && !ok:
			t.Errorf("recovery run %d: the groups left their answers after reaching them at run %d", run, converged)
		case converged != 0 && changed(o):
			t.Errorf("recovery run %d: changes after the groups reached their answers at run %d", run, converged)
		}
	}
	if converged == 0 || converged > bound {
		t.Errorf("converged after %d fault-free runs (0: never), want at most %d", converged, bound)
	}
	return converged, bound
}

// checkState checks what the stored state holds once the groups converged:
// it loads, no binding failed, no misses are left (every stale target was
// removed and forgotten), a shared binding owns exactly its answer, the
// stored answer is the current one, and every removal has a reason in the
// history. It returns a note for the report.
func (e *env) checkState() string {
	t := e.t
	t.Helper()
	st := e.stored()
	if st == nil {
		t.Errorf("the stored state does not load")
		return "state does not load"
	}
	var notes []string
	for _, b := range e.bindings {
		bs := st.Bindings[b.name]
		if bs == nil {
			t.Errorf("%s: no stored state", b.name)
			continue
		}
		if bs.LastError != "" {
			t.Errorf("%s: stored error %q after a clean run", b.name, bs.LastError)
		}
		if len(bs.Misses) > 0 {
			t.Errorf("%s: misses left after converging: %v", b.name, bs.Misses)
		}
		want := b.desired()
		if b.policy.Shared {
			lost := 0
			for w := range want {
				if _, ok := bs.Owned[w]; ok {
					continue
				}
				if b.unsavedReg[w] {
					// Registered by a run whose save failed: the next
					// run must have recorded the ownership.
					lost++
				}
				t.Errorf("%s: does not own %s, which it registered", b.name, w)
			}
			for o := range bs.Owned {
				if !want[o] {
					t.Errorf("%s: owns %s, which is not in its answer", b.name, o)
				}
			}
			notes = append(notes, fmt.Sprintf("owns %d/%d", len(bs.Owned), len(want)))
			if lost > 0 {
				notes = append(notes, fmt.Sprintf("**ownership of %d targets registered by unsaved runs lost**", lost))
			}
		}
		var stored []netip.Addr
		if bs.Answer != nil {
			stored = bs.Answer.Addrs
		}
		answer := slices.Clone(b.answer)
		slices.SortFunc(answer, netip.Addr.Compare)
		if !slices.Equal(stored, answer) {
			t.Errorf("%s: stored answer %v, want %v", b.name, stored, answer)
		}
		if len(b.removed) <= tgsync.HistoryLimit/2 {
			unrecorded := 0
			for _, r := range b.removed {
				if slices.ContainsFunc(bs.History, func(ev tgsync.Event) bool {
					return ev.Action == tgsync.ActionDeregister && !ev.Refused && ev.Target == r.String() && ev.Reason != ""
				}) {
					continue
				}
				if b.unsavedDereg[r] {
					unrecorded++ // removed by a run whose save failed
				}
				t.Errorf("%s: removal of %s has no reason in the history", b.name, r)
			}
			if unrecorded > 0 {
				notes = append(notes, fmt.Sprintf("**history of %d removals by unsaved runs lost**", unrecorded))
			}
		}
	}
	notes = append([]string{"no misses left"}, notes...)
	return strings.Join(notes, ", ")
}
