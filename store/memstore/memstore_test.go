package memstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// sampleState fills every field of the schema, so that a round trip that
// drops one shows up in the comparison.
func sampleState(bindings int) *tgsync.State {
	s := tgsync.NewState()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range bindings {
		b := s.Binding(fmt.Sprintf("binding-%03d", i))
		t := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), Port: 443}
		gone := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 2}), Port: 443}
		b.Owned = map[tgsync.Target]time.Time{t: at, gone: at}
		b.Misses = map[tgsync.Target]tgsync.Miss{gone: {Count: 2, Since: at.Add(time.Minute)}}
		b.AZAll = i%2 == 0
		b.Answer = &tgsync.SourceAnswer{Addrs: []netip.Addr{t.IP}, TTL: tgsync.Duration(60 * time.Second), At: at}
		b.LastError = "source vpc-x.es.amazonaws.com failed: SERVFAIL"
		b.Refusing = []string{"deregister " + gone.String() + " last-healthy"}
		b.History = []tgsync.Event{
			{Time: at, Action: tgsync.ActionRegister, Target: t.String(), Reason: "in the answer and not in the target group"},
			{Time: at, Action: tgsync.ActionDeregister, Target: gone.String(), Refused: true, Rule: tgsync.RuleLastHealthy, Reason: "last healthy"},
		}
	}
	return s
}

func TestLoadEmpty(t *testing.T) {
	st, rev, err := New().Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rev != "" || st == nil || st.Version != tgsync.StateVersion || len(st.Bindings) != 0 {
		t.Fatalf("empty store: got rev %q state %+v, want rev \"\" and an empty state", rev, st)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			m := New()
			want := sampleState(n)
			rev, err := m.Save(ctx, want, "")
			if err != nil {
				t.Fatal(err)
			}
			got, loadedRev, err := m.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if loadedRev != rev || rev != "1" {
				t.Errorf("revisions: saved %q, loaded %q, want both \"1\"", rev, loadedRev)
			}
			if !got.Equal(want) {
				t.Errorf("round trip changed the state:\n got %+v\nwant %+v", got, want)
			}
			if snap := m.Snapshot(); !snap.Equal(want) {
				t.Errorf("snapshot differs from saved state")
			}
		})
	}
}

// TestCopies checks that neither the caller's state nor a loaded one aliases
// what the store holds.
func TestCopies(t *testing.T) {
	ctx := context.Background()
	m := New()
	s := sampleState(1)
	if _, err := m.Save(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	s.Binding("binding-000").LastError = "changed after save"
	loaded, _, err := m.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Binding("binding-000").AZAll = !loaded.Binding("binding-000").AZAll
	snap := m.Snapshot()
	snap.Binding("binding-000").History = nil
	again := m.Snapshot()
	if !again.Equal(sampleState(1)) {
		t.Fatalf("store state changed through a copy: %+v", again.Bindings["binding-000"])
	}
}

func TestConflict(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*Store) // saves before the two loads
	}{
		{"no state yet", func(*Store) {}},
		{"existing state", func(m *Store) {
			if _, err := m.Save(context.Background(), sampleState(1), ""); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := New()
			tt.setup(m)
			a, revA, err := m.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, revB, err := m.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			a.Binding("a").LastError = "from a"
			b.Binding("b").LastError = "from b"
			if _, err := m.Save(ctx, a, revA); err != nil {
				t.Fatalf("first save: %v", err)
			}
			_, err = m.Save(ctx, b, revB)
			if !errors.Is(err, tgsync.ErrConflict) {
				t.Fatalf("second save with stale revision %q: got %v, want ErrConflict", revB, err)
			}
			if got := m.Snapshot(); got.Bindings["b"] != nil || got.Bindings["a"] == nil {
				t.Fatalf("the losing save changed the state: %v", got.Bindings)
			}
			// Reload and retry, as the reconciler does.
			b, revB, err = m.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b.Binding("b").LastError = "from b"
			if _, err := m.Save(ctx, b, revB); err != nil {
				t.Fatalf("save after reload: %v", err)
			}
			got := m.Snapshot()
			if got.Bindings["a"] == nil || got.Bindings["b"] == nil {
				t.Fatalf("want both writers' bindings, got %v", got.Bindings)
			}
		})
	}
}

func TestUnknownRevision(t *testing.T) {
	ctx := context.Background()
	m := New()
	for _, rev := range []string{"1", "x", "0"} {
		if _, err := m.Save(ctx, tgsync.NewState(), rev); !errors.Is(err, tgsync.ErrConflict) {
			t.Errorf("save with revision %q into an empty store: got %v, want ErrConflict", rev, err)
		}
	}
}

func TestNewerVersion(t *testing.T) {
	ctx := context.Background()
	m := New()
	s := sampleState(1)
	s.Version = tgsync.StateVersion + 1
	if _, err := m.Save(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	_, _, err := m.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("load of a newer state: got %v, want an error that says to upgrade", err)
	}
	if m.Snapshot() != nil {
		t.Fatalf("snapshot of a newer state should be nil")
	}
}

func TestBadInput(t *testing.T) {
	m := New()
	if _, err := m.Save(context.Background(), nil, ""); err == nil {
		t.Error("save of a nil state: want an error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Save(ctx, tgsync.NewState(), ""); !errors.Is(err, context.Canceled) {
		t.Errorf("save with a cancelled context: got %v", err)
	}
	if _, _, err := m.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("load with a cancelled context: got %v", err)
	}
	if m.Revision() != "" {
		t.Errorf("failed saves changed the revision to %q", m.Revision())
	}
}

// TestConcurrent races many load-modify-save loops; every writer's binding
// must survive, and the race detector must stay quiet.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	m := New()
	const writers = 16
	var wg sync.WaitGroup
	conflicts := make([]int, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s, rev, err := m.Load(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				s.Binding(fmt.Sprintf("w%d", w)).LastError = "set"
				_, err = m.Save(ctx, s, rev)
				if errors.Is(err, tgsync.ErrConflict) {
					conflicts[w]++
					continue
				}
				if err != nil {
					t.Error(err)
				}
				return
			}
		}()
	}
	wg.Wait()
	got := m.Snapshot()
	if len(got.Bindings) != writers {
		t.Fatalf("want %d bindings, got %d", writers, len(got.Bindings))
	}
	total := 0
	for _, c := range conflicts {
		total += c
	}
	if m.Revision() != fmt.Sprint(writers) {
		t.Fatalf("want revision %d after %d successful saves, got %q", writers, writers, m.Revision())
	}
	t.Logf("%d conflicts among %d writers", total, writers)
}

// benchStates are 100 bindings with the sample's two history events, and
// the same with every binding's history full (tgsync.HistoryLimit), the
// largest a state of 100 bindings gets.
func benchStates() []struct {
	name  string
	state *tgsync.State
} {
	full := sampleState(100)
	for _, b := range full.Bindings {
		for len(b.History) < tgsync.HistoryLimit {
			b.History = append(b.History, b.History[len(b.History)%2])
		}
	}
	return []struct {
		name  string
		state *tgsync.State
	}{{"100-bindings", sampleState(100)}, {"100-bindings-full-history", full}}
}

func BenchmarkSave(b *testing.B) {
	for _, bs := range benchStates() {
		b.Run(bs.name, func(b *testing.B) {
			ctx := context.Background()
			m := New()
			rev := ""
			for b.Loop() {
				var err error
				if rev, err = m.Save(ctx, bs.state, rev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(m.Bytes())), "state-bytes")
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, bs := range benchStates() {
		b.Run(bs.name, func(b *testing.B) {
			ctx := context.Background()
			m := New()
			if _, err := m.Save(ctx, bs.state, ""); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, _, err := m.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(m.Bytes())), "state-bytes")
		})
	}
}
