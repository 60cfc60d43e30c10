package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/shard"
	"github.com/tgsync/tgsync/store/memstore"
)

// countingStore counts loads, and fails them while fail is set.
type countingStore struct {
	tgsync.Store
	loads atomic.Int32
	fail  atomic.Bool
}

func (c *countingStore) Load(ctx context.Context) (*tgsync.State, string, error) {
	c.loads.Add(1)
	if c.fail.Load() {
		return nil, "", errors.New("GetObject: 503 SlowDown")
	}
	return c.Store.Load(ctx)
}

// TestMovedBindingKeepsWhatItRegistered: a shared binding whose group goes
// to another shard when Shards changes from 1 to 2 keeps what it
// registered there, so its stale targets still leave; before, they stayed
// in the group for good.
func TestMovedBindingKeepsWhatItRegistered(t *testing.T) {
	arn := ""
	for i := 0; arn == "" || shard.Of(arn, 2) != 2; i++ {
		arn = fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/moved-%d/0123456789abcdef", i)
	}
	tests := []struct {
		name          string
		oldShardFirst bool // shard 1 runs (and marks the binding removed) before shard 2
		answer        string
		oldShardFails bool
	}{
		{"moved, new answer, old shard ran first", true, "10.0.0.2", false},
		{"moved, new answer, new shard ran first", false, "10.0.0.2", false},
		{"moved, same answer", true, "10.0.0.1", false},
		{"old shard unreadable", false, "10.0.0.2", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tgsync.DefaultPolicy()
			p.Shared = true
			src := mock.NewAnswers("db.internal.example", "10.0.0.1")
			groups := mock.NewMemGroups(arn)
			now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			bindings := []tgsync.Binding{{Name: "db", Source: src, TargetGroupARN: arn, Ports: []uint16{443}, Policy: p}}
			shard1 := &countingStore{Store: memstore.New()}
			shard2 := memstore.New()
			ctx := context.Background()
			one := &tgsync.Reconciler{Bindings: bindings, Groups: groups, Store: shard1, Now: clock}
			if _, err := one.Run(ctx, tgsync.RunOptions{}); err != nil {
				t.Fatal(err)
			}

			set := &shardSet{n: 2, base: &tgsync.Reconciler{Bindings: bindings, Groups: groups, Now: clock},
				stores: []tgsync.Store{shard1, shard2}, byK: map[int]*tgsync.Reconciler{}}
			src.Set(tc.answer)
			shard1.fail.Store(tc.oldShardFails)
			for run := range 6 {
				now = now.Add(time.Minute)
				if tc.oldShardFirst && !tc.oldShardFails {
					if _, err := set.reconciler(1).Run(ctx, tgsync.RunOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				before := shard1.loads.Load()
				res, err := set.reconciler(2).Run(ctx, tgsync.RunOptions{})
				if tc.oldShardFails {
					if err == nil {
						t.Fatalf("run %d: shard 2 ran without knowing what its moved binding registered", run)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if run == 0 && !res.StateWritten {
					t.Errorf("the first run of the new shard did not save the moved binding")
				}
				if run > 0 && shard1.loads.Load() != before {
					t.Errorf("run %d: shard 2 still reads shard 1 after it took the binding in", run)
				}
			}
			members, _ := groups.Describe(ctx, arn)
			want := []string{tc.answer + ":443"}
			if tc.oldShardFails {
				want = []string{"10.0.0.1:443"} // nothing changed
			}
			if got := targetStrings(members); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("group holds %v, want %v", got, want)
			}
			if tc.oldShardFails {
				return
			}
			st, _, _ := shard2.Load(ctx)
			b := st.Bindings["db"]
			if b == nil || !b.RemovedAt.IsZero() || len(b.Owned) != 1 {
				t.Errorf("shard 2 keeps %+v, want db owning its target", b)
			}
		})
	}
}

func targetStrings(ms []tgsync.ObservedTarget) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Target.String()
	}
	return out
}
