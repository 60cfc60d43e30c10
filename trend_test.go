package tgsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

func pt(at time.Time, d, r, h int, answer bool) TrendPoint {
	return TrendPoint{At: at, Desired: d, Registered: r, Healthy: h, Answer: answer}
}

func TestTrendAdd(t *testing.T) {
	min := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	long := Trend{}
	for i := range TrendLimit {
		long = append(long, pt(min(i), i%2, 1, 1, false))
	}
	tests := []struct {
		name      string
		trend     Trend
		add       TrendPoint
		wantAdded bool
		wantLen   int
		wantFirst time.Time
	}{
		{"first point", nil, pt(min(0), 3, 0, 0, true), true, 1, min(0)},
		{"same counts: nothing", Trend{pt(min(0), 3, 3, 3, false)}, pt(min(1), 3, 3, 3, false), false, 1, min(0)},
		{"a count changed", Trend{pt(min(0), 3, 3, 3, false)}, pt(min(1), 3, 3, 2, false), true, 2, min(0)},
		{"same counts, new answer", Trend{pt(min(0), 3, 3, 3, false)}, pt(min(1), 3, 3, 3, true), true, 2, min(0)},
		{"old points go, the newest before the window stays",
			Trend{pt(min(0), 1, 1, 1, false), pt(min(10), 2, 2, 2, false), pt(min(20), 3, 3, 3, false)},
			pt(min(20).Add(TrendRetention), 4, 4, 4, false), true, 2, min(20)},
		{"at most TrendLimit", long, pt(min(TrendLimit), 5, 5, 5, false), true, TrendLimit, min(1)},
		// The clock stepped back 9 minutes: the points of the clock that was
		// ahead go, and the trend stays in order.
		{"clock stepped back", Trend{pt(min(0), 1, 1, 1, false), pt(min(5), 2, 2, 2, false), pt(min(10), 3, 3, 3, false)},
			pt(min(1), 3, 3, 3, false), true, 2, min(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := append(Trend(nil), tt.trend...)
			if added := tr.Add(tt.add); added != tt.wantAdded {
				t.Errorf("Add = %v, want %v", added, tt.wantAdded)
			}
			for i := 1; i < len(tr); i++ {
				if tr[i].At.Before(tr[i-1].At) {
					t.Errorf("point %d at %s before point %d at %s", i, tr[i].At, i-1, tr[i-1].At)
				}
			}
			if len(tr) != tt.wantLen || !tr[0].At.Equal(tt.wantFirst) {
				t.Errorf("%d points from %s, want %d from %s", len(tr), tr[0].At, tt.wantLen, tt.wantFirst)
			}
		})
	}
}

func TestTrendText(t *testing.T) {
	tr := Trend{pt(t0, 3, 0, 0, true), pt(t0.Add(time.Minute), 3, 3, 0, false), pt(t0.Add(3*time.Minute), 6, 6, 3, true)}
	text, _ := tr.MarshalText()
	want := fmt.Sprintf("%d:3/0/0! +60:3/3/0 +120:6/6/3!", t0.Unix())
	if string(text) != want {
		t.Fatalf("text %q, want %q", text, want)
	}
	var back Trend
	if err := back.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(tr) {
		t.Errorf("round trip %v, want %v", back, tr)
	}
	// A trend out of order, which Add never makes, still writes what reads
	// back: never a negative step.
	text, _ = Trend{pt(t0.Add(time.Minute), 1, 1, 1, false), pt(t0, 2, 2, 2, false)}.MarshalText()
	if err := back.UnmarshalText(text); err != nil || strings.Contains(string(text), "-") {
		t.Errorf("out of order: %q reads back with %v", text, err)
	}
	for _, bad := range []string{"+60:1/1/1", "1:1/1/1 2:1/1/1", "1:1/1", "1:1/x/1", "x:1/1/1", "1:1/-1/1", "1-1/1/1"} {
		if err := back.UnmarshalText([]byte(bad)); err == nil || !strings.Contains(err.Error(), "trend point") {
			t.Errorf("%q: error %v, want one naming the trend point", bad, err)
		}
	}
}

// TestTrendFollowsRuns: the reconciler adds a point when the counts or
// the answer change, and steady runs add nothing and write nothing.
func TestTrendFollowsRuns(t *testing.T) {
	w := newCachedWorld(1, 10*time.Minute)
	w.groups.Joined = HealthInitial
	arn := w.arns[0]
	w.run(t) // registers 10.0.0.1, initial
	w.groups.Put(arn, mock.Target("10.0.0.1:443"), HealthHealthy)
	w.run(t) // sees it healthy
	for minute := range 30 {
		if res, _ := w.run(t); res.StateWritten {
			t.Fatalf("steady minute %d wrote the state", minute)
		}
	}
	w.srcs[0].Set("10.0.0.1", "10.0.0.2")
	w.run(t)
	st, _, _ := w.store.Load(context.Background())
	got := st.Bindings["b0"].Trend
	want := []string{"1/1/0!", "1/1/1", "2/2/1!"}
	if len(got) != len(want) {
		t.Fatalf("trend %v, want %v", got, want)
	}
	for i, p := range got {
		s := fmt.Sprintf("%d/%d/%d", p.Desired, p.Registered, p.Healthy)
		if p.Answer {
			s += "!"
		}
		if s != want[i] {
			t.Errorf("point %d = %s, want %s", i, s, want[i])
		}
	}
}

// TestTrendSize: a full trend of a group of 200 targets takes about 17
// bytes a point, so that a thousand bindings with full trends take under
// 2 MiB, a quarter of MaxStateBytes.
func TestTrendSize(t *testing.T) {
	tr := Trend{}
	for i := range TrendLimit {
		tr.Add(pt(t0.Add(time.Duration(i)*7*time.Minute), 200, 200-i%7, 190-i%13, i%5 == 0))
	}
	s := NewState()
	for i := range 1000 {
		s.Binding(fmt.Sprintf("opensearch-logs-%05d", i)).Trend = tr
	}
	data, err := EncodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	perBinding := len(data) / 1000
	t.Logf("1,000 bindings with %d trend points each: %d bytes (%d per binding)", len(tr), len(data), perBinding)
	if len(tr) != TrendLimit || len(data) > 2<<20 {
		t.Errorf("%d points take %d bytes per binding, %d for 1,000: want at most 2 MiB", len(tr), perBinding, len(data))
	}
	var back State
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
}
