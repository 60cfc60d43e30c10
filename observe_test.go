package tgsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// cachedWorld is n bindings, each alone on its group, with the describes
// spread over every.
type cachedWorld struct {
	srcs   []*mock.Answers
	arns   []string
	groups *mock.MemGroups
	store  *mock.MemStore
	now    time.Time
	r      *Reconciler
}

func newCachedWorld(n int, every time.Duration) *cachedWorld {
	w := &cachedWorld{store: mock.NewMemStore(), now: t0}
	var bindings []Binding
	for i := range n {
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/g%d/%016x", i, i)
		src := mock.NewAnswers(fmt.Sprintf("b%d.example.internal", i), fmt.Sprintf("10.0.%d.1", i))
		w.srcs, w.arns = append(w.srcs, src), append(w.arns, arn)
		bindings = append(bindings, Binding{Name: fmt.Sprintf("b%d", i), Source: src, TargetGroupARN: arn, Ports: []uint16{443}, Policy: DefaultPolicy()})
	}
	w.groups = mock.NewMemGroups(w.arns...)
	w.r = &Reconciler{Bindings: bindings, Groups: w.groups, Store: w.store, DescribeEvery: every, Now: func() time.Time { return w.now }}
	return w
}

// run runs once and returns the describes it made.
func (w *cachedWorld) run(t *testing.T) (RunResult, int) {
	t.Helper()
	w.groups.ResetCalls()
	res, err := w.r.Run(context.Background(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if failed := res.Failed(); len(failed) > 0 {
		t.Fatalf("failed: %v", failed)
	}
	w.now = w.now.Add(time.Minute)
	return res, w.groups.Calls()[mock.ActionDescribe]
}

// TestDescribesSpreadOverDescribeEvery: steady bindings cost one describe
// per group per DescribeEvery, spread evenly over the runs, and a new
// process (nothing in memory) keeps the same pace rather than describing
// every group at once.
func TestDescribesSpreadOverDescribeEvery(t *testing.T) {
	const n, every = 40, 10 * time.Minute
	w := newCachedWorld(n, every)
	if _, d := w.run(t); d != n {
		t.Fatalf("first run described %d groups, want all %d (nothing stored)", d, n)
	}
	w.run(t) // the new targets are seen healthy
	total, most := 0, 0
	for minute := range 60 {
		if minute == 30 {
			w.r = &Reconciler{Bindings: w.r.Bindings, Groups: w.groups, Store: w.store, DescribeEvery: every, Now: w.r.Now}
		}
		res, d := w.run(t)
		total += d
		most = max(most, d)
		if res.StateWritten {
			t.Errorf("minute %d: a steady run wrote the state", minute)
		}
	}
	// 40 groups over 60 minutes at one describe per 10 minutes each.
	if want := n * 6; total != want {
		t.Errorf("%d describes in 60 minutes, want %d", total, want)
	}
	if most > 2*n/10+2 {
		t.Errorf("a run made %d describes: not spread (want about %d)", most, n/10)
	}
}

// TestDescribeWhenItMatters: a run describes a group, whatever its turn,
// when the answer changed, when a removal falls due, and while a target
// is joining; a target removed by hand is put back within DescribeEvery.
func TestDescribeWhenItMatters(t *testing.T) {
	const every = 10 * time.Minute
	w := newCachedWorld(1, every)
	src, arn := w.srcs[0], w.arns[0]
	w.run(t)
	w.run(t)
	reasons := func() string {
		res, _ := w.run(t)
		return res.Bindings[0].DescribeReason
	}
	// Find a run off the group's turn.
	for range 10 {
		if reasons() == "" {
			break
		}
	}
	src.Set("10.0.0.1", "10.0.0.2")
	if why := reasons(); why != "answer changed" {
		t.Fatalf("answer changed: describe reason %q", why)
	}
	src.Set("10.0.0.2")
	var got []string
	for range 6 {
		res, _ := w.run(t)
		b := res.Bindings[0]
		got = append(got, b.DescribeReason)
		if len(b.Deregistered) > 0 {
			if b.DescribeReason != "a removal is due" {
				t.Errorf("the removal run planned on %q, want a fresh describe", b.DescribeReason)
			}
			break
		}
	}
	if !slices.Contains(got, "a removal is due") {
		t.Errorf("describe reasons of the removal runs: %q", got)
	}
	// A target removed by hand.
	w.groups.Remove(arn, mock.Target("10.0.0.2:443"))
	back := -1
	for minute := range 2 * int(every/time.Minute) {
		w.run(t)
		if slices.Contains(w.groups.Members(arn), "10.0.0.2:443") {
			back = minute
			break
		}
	}
	if back < 0 || back >= int(every/time.Minute) {
		t.Errorf("a target removed by hand came back after %d runs, want fewer than %s of runs", back, every)
	}
}

// TestObservationKeepsHealth: the stored observation follows a change of
// a member's health state, seen at the group's next describe, so that
// what the status shows from the state is what that describe saw; it is
// written once, and the steady runs after it write nothing.
func TestObservationKeepsHealth(t *testing.T) {
	const every = 10 * time.Minute
	w := newCachedWorld(1, every)
	arn := w.arns[0]
	w.run(t)
	w.run(t)
	w.groups.Put(arn, mock.Target("10.0.0.1:443"), HealthUnhealthy)
	writes := 0
	described := false
	for range 2 * int(every/time.Minute) {
		res, _ := w.run(t)
		if res.StateWritten {
			writes++
		}
		described = described || res.Bindings[0].DescribeReason != ""
	}
	if !described || writes != 1 {
		t.Errorf("described %v, %d state writes: want the describe to write the new health once", described, writes)
	}
	st, _, err := w.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	obs := st.Observations[arn]
	if obs == nil || len(obs.Targets) != 1 || obs.Targets[0].State != HealthUnhealthy {
		t.Fatalf("stored observation %+v, want the target unhealthy", obs)
	}
}

// TestObservationDescribedJSON: the describe time is stored only when
// tgsync's own changes moved the observation past it, and a state of an
// older version, without it, reads as described when it was written.
func TestObservationDescribedJSON(t *testing.T) {
	at, described := t0.Add(time.Hour), t0
	tests := []struct {
		name      string
		o         Observation
		wantField bool
		want      time.Time
	}{
		{"written by its describe", Observation{At: at, Described: at}, false, at},
		{"moved by tgsync's changes", Observation{At: at, Described: described}, true, described},
		{"older version", Observation{At: at}, false, at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(data), `"described"`); got != tt.wantField {
				t.Errorf("%s: described written %v, want %v", data, got, tt.wantField)
			}
			var back Observation
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if !back.DescribedAt().Equal(tt.want) || !back.At.Equal(at) {
				t.Errorf("read back at %s, described at %s; want %s and %s", back.At, back.DescribedAt(), at, tt.want)
			}
		})
	}
}
