package status_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
	"github.com/tgsync/tgsync/store/memstore"
)

const sharedARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shared/0123456789abcdef"

// TestRetiredBindingsOrphanedTargets removes one of two bindings that share
// a group from the config: what only it wanted stays registered, shown as
// orphaned until the state forgets the binding, and is never removed.
func TestRetiredBindingsOrphanedTargets(t *testing.T) {
	p := tgsync.DefaultPolicy()
	p.Shared = true
	groups := mock.NewMemGroups(sharedARN)
	store := memstore.New()
	now := statustest.Now
	both := []tgsync.Binding{
		{Name: "old", Source: mock.NewAnswers("old.internal.example", "10.9.0.1", "10.9.0.2"), TargetGroupARN: sharedARN, Ports: []uint16{443}, Policy: p},
		{Name: "new", Source: mock.NewAnswers("new.internal.example", "10.9.0.2", "10.9.0.3"), TargetGroupARN: sharedARN, Ports: []uint16{443}, Policy: p},
	}
	rec := &tgsync.Reconciler{Bindings: both, Groups: groups, Store: store, Now: func() time.Time { return now }}
	run := func() *tgsync.State {
		t.Helper()
		if _, err := rec.Run(context.Background(), tgsync.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		st, _, err := store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		return st
	}
	run()
	rec.Bindings = both[1:]
	removedAt := now
	var st *tgsync.State
	for range 6 { // well past the grace of a miss
		st = run()
	}
	members, _ := groups.Describe(context.Background(), sharedARN)
	if len(members) != 3 {
		t.Fatalf("the group holds %v; want all three: a retired binding's targets are never removed", members)
	}
	got := Build(Input{Bindings: SpecsFrom(rec.Bindings), State: st, Now: now}).Retired
	want := []RetiredStatus{{Name: "old", TargetGroupARN: sharedARN, RemovedAt: removedAt,
		ForgottenAt: removedAt.Add(tgsync.BindingRetention), Orphaned: []string{"10.9.0.1:443"}}}
	if !slices.EqualFunc(got, want, equalRetired) {
		t.Fatalf("retired = %+v\nwant      %+v", got, want)
	}

	now = removedAt.Add(tgsync.BindingRetention)
	st = run()
	if got := Build(Input{Bindings: SpecsFrom(rec.Bindings), State: st, Now: now}).Retired; len(got) != 0 {
		t.Errorf("retired after the retention = %+v, want none", got)
	}
	if members, _ := groups.Describe(context.Background(), sharedARN); len(members) != 3 {
		t.Errorf("after the retention the group holds %v; want all three", members)
	}
}

func equalRetired(a, b RetiredStatus) bool {
	return a.Name == b.Name && a.TargetGroupARN == b.TargetGroupARN && a.RemovedAt.Equal(b.RemovedAt) &&
		a.ForgottenAt.Equal(b.ForgottenAt) && slices.Equal(a.Orphaned, b.Orphaned) && a.WholeGroup == b.WholeGroup
}

func TestRetired(t *testing.T) {
	removed := statustest.Now.Add(-time.Hour)
	owned := func(ts ...string) map[tgsync.Target]time.Time {
		out := map[tgsync.Target]time.Time{}
		for _, s := range ts {
			out[mock.Target(s)] = removed
		}
		return out
	}
	observed := func(ts ...string) *tgsync.Observation {
		o := &tgsync.Observation{At: removed}
		for _, s := range ts {
			o.Targets = append(o.Targets, tgsync.ObservedTarget{Target: mock.Target(s), State: tgsync.HealthHealthy})
		}
		return o
	}
	live := []BindingSpec{{Name: "live", Source: "live.example", TargetGroupARN: sharedARN, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()}}
	liveState := &tgsync.BindingState{Answer: &tgsync.SourceAnswer{Addrs: mock.Addrs("10.9.0.3")}, TargetGroupARN: sharedARN}
	tests := []struct {
		name         string
		retired      tgsync.BindingState
		observation  *tgsync.Observation
		wantOrphaned []string
		wantWhole    bool
	}{
		{"owned targets the group holds", tgsync.BindingState{Owned: owned("10.9.0.2:443", "10.9.0.1:443")},
			observed("10.9.0.1:443", "10.9.0.2:443", "10.9.0.3:443"), []string{"10.9.0.1:443", "10.9.0.2:443"}, false},
		{"one a configured binding wants is looked after", tgsync.BindingState{Owned: owned("10.9.0.1:443", "10.9.0.3:443")},
			observed("10.9.0.1:443", "10.9.0.3:443"), []string{"10.9.0.1:443"}, false},
		{"one the group no longer holds is gone", tgsync.BindingState{Owned: owned("10.9.0.1:443", "10.9.0.4:443")},
			observed("10.9.0.1:443"), []string{"10.9.0.1:443"}, false},
		{"without an observation every owned target is listed", tgsync.BindingState{Owned: owned("10.9.0.1:443")},
			nil, []string{"10.9.0.1:443"}, false},
		{"a binding that had its group to itself", tgsync.BindingState{}, nil, []string{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.retired
			r.RemovedAt, r.TargetGroupARN = removed, sharedARN
			st := tgsync.NewState()
			st.Bindings["live"], st.Bindings["gone"] = liveState, &r
			// A configured binding without a stored entry yet is not retired.
			st.Bindings["configured-not-retired"] = &tgsync.BindingState{Owned: owned("10.9.0.9:443")}
			specs := append(slices.Clone(live), BindingSpec{Name: "configured-not-retired", TargetGroupARN: sharedARN, Ports: []uint16{443}})
			if tc.observation != nil {
				st.Observations = map[string]*tgsync.Observation{sharedARN: tc.observation}
			}
			status := Build(Input{Bindings: specs, State: st, Now: statustest.Now})
			if len(status.Retired) != 1 {
				t.Fatalf("retired = %+v, want one", status.Retired)
			}
			got := status.Retired[0]
			if got.Name != "gone" || !slices.Equal(got.Orphaned, tc.wantOrphaned) || got.WholeGroup != tc.wantWhole ||
				!got.ForgottenAt.Equal(removed.Add(tgsync.BindingRetention)) {
				t.Errorf("retired = %+v, want orphaned %v whole %v", got, tc.wantOrphaned, tc.wantWhole)
			}
			page, _ := RenderHTML(status, PageOptions{})
			var text bytes.Buffer
			if err := WriteText(&text, status, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, out := range []string{string(page), text.String()} {
				for _, o := range tc.wantOrphaned {
					if !strings.Contains(out, o) {
						t.Errorf("%q not shown:\n%s", o, out)
					}
				}
				if (len(tc.wantOrphaned) > 0 || tc.wantWhole) != strings.Contains(out, "tgsync removes none of them") {
					t.Errorf("advice shown when nothing is orphaned, or missing when something is:\n%s", out)
				}
			}
		})
	}
}

// TestRetiredNameIsEscaped: a binding's name comes from a config an
// operator may not control; it never becomes markup.
func TestRetiredNameIsEscaped(t *testing.T) {
	st := tgsync.NewState()
	st.Bindings["<b>x</b>"] = &tgsync.BindingState{RemovedAt: statustest.Now, TargetGroupARN: "arn:<i>"}
	page, _ := RenderHTML(Build(Input{State: st, Now: statustest.Now}), PageOptions{})
	if strings.Contains(string(page), "<b>x</b>") || strings.Contains(string(page), "arn:<i>") {
		t.Errorf("unescaped name in the page:\n%s", page)
	}
}
