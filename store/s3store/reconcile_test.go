package s3store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/testenv"
)

// gate makes two runs overlap: no Save proceeds until two Loads happened,
// so both runs plan from the same revision. Saves then go one at a time.
// That serialisation stands in for S3, where a conditional write is atomic:
// moto 5.2.1 checks the condition and writes without a lock, so two
// truly simultaneous conditional PUTs could both succeed there, which S3
// never allows.
type gate struct {
	loads      atomic.Int32
	bothLoaded chan struct{}
	saveMu     sync.Mutex
	conflicts  atomic.Int32
}

// store is base behind the gate.
func (g *gate) store(base tgsync.Store) *mock.Store {
	return &mock.Store{
		LoadFn: func(ctx context.Context) (*tgsync.State, string, error) {
			s, rev, err := base.Load(ctx)
			if g.loads.Add(1) == 2 {
				close(g.bothLoaded)
			}
			return s, rev, err
		},
		SaveFn: func(ctx context.Context, s *tgsync.State, rev string) (string, error) {
			select {
			case <-g.bothLoaded:
			case <-ctx.Done():
				return "", fmt.Errorf("waiting for the other run to load: %w", ctx.Err())
			}
			g.saveMu.Lock()
			defer g.saveMu.Unlock()
			next, err := base.Save(ctx, s, rev)
			if errors.Is(err, tgsync.ErrConflict) {
				g.conflicts.Add(1)
			}
			return next, err
		},
	}
}

// TestTwoWritersOneWins runs two reconcilers at once against one state
// object in moto, each with its own binding. Both plan from the same state;
// the second save gets 412, reloads, plans again and saves. Nothing either
// run learned may be lost.
func TestTwoWritersOneWins(t *testing.T) {
	client, _ := motoClient(t)
	bucket := newBucket(t, client)
	ctx := testenv.Context(t, time.Minute)
	const key = "shared/tgsync-state.json"

	// Earlier state from both bindings, so that each run must carry the
	// other's binding over.
	base := tgsync.NewState()
	since := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	staleA, staleB := mock.Target("10.1.0.9:443"), mock.Target("10.2.0.9:5044")
	base.Binding("alpha").Misses = map[tgsync.Target]tgsync.Miss{staleA: {Count: 1, Since: since}}
	base.Binding("beta").Owned = map[tgsync.Target]time.Time{staleB: since}
	base.Binding("beta").Misses = map[tgsync.Target]tgsync.Miss{staleB: {Count: 1, Since: since}}
	if _, err := New(client, bucket, key).Save(ctx, base, ""); err != nil {
		t.Fatal(err)
	}

	// The elbv2 adapter and moto are not needed to show what the store
	// must get right: the groups are in memory, and registrations are
	// counted so that double work after a replan shows.
	mem := mock.NewMemGroups()
	mem.Joined, mem.Zone = tgsync.HealthInitial, "us-east-1a"
	const arnA, arnB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/alpha/1", "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/beta/2"
	mem.Put(arnA, staleA, tgsync.HealthHealthy)
	mem.Put(arnB, staleB, tgsync.HealthHealthy)
	foreign := mock.Target("10.2.0.50:5044") // not beta's: it is shared
	mem.Put(arnB, foreign, tgsync.HealthHealthy)
	var registeredMu sync.Mutex
	registered := map[tgsync.Target]int{}
	groups := mock.TargetGroupsOf(mem)
	groups.RegisterFn = func(ctx context.Context, arn string, cs []tgsync.Change) ([]tgsync.Change, error) {
		applied, err := mem.Register(ctx, arn, cs)
		registeredMu.Lock()
		defer registeredMu.Unlock()
		for _, c := range applied {
			registered[c.Target]++
		}
		return applied, err
	}

	shared := tgsync.DefaultPolicy()
	shared.Shared = true
	g := &gate{bothLoaded: make(chan struct{})}
	store := g.store(New(client, bucket, key))
	recs := []*tgsync.Reconciler{
		{Groups: groups, Store: store, Bindings: []tgsync.Binding{{
			Name: "alpha", TargetGroupARN: arnA, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy(),
			Source: mock.Fixed("vpc-search-abc.us-east-1.es.amazonaws.com", "10.1.0.1", "10.1.0.2"),
		}}},
		{Groups: groups, Store: store, Bindings: []tgsync.Binding{{
			Name: "beta", TargetGroupARN: arnB, Ports: []uint16{5044}, Policy: shared,
			Source: mock.Fixed("internal-alb-123.us-east-1.elb.amazonaws.com", "10.2.0.1"),
		}}},
	}
	results := make([]tgsync.RunResult, len(recs))
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.Run(ctx, tgsync.RunOptions{})
		}()
	}
	wg.Wait()

	conflicts := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		if failed := res.Failed(); len(failed) > 0 {
			t.Fatalf("run %d: failed bindings %v: %+v", i, failed, res.Bindings)
		}
		if !res.StateWritten {
			t.Errorf("run %d did not write state", i)
		}
		conflicts += res.Conflicts
	}
	// beta is shared and registers: it saves its intent before the
	// call and its result after, so its two saves may each lose to
	// alpha's one; every conflict is a replan that loads again.
	if conflicts < 1 || conflicts > 2 || g.conflicts.Load() != int32(conflicts) {
		t.Fatalf("want one or two conflicts, runs report %d, the store saw %d", conflicts, g.conflicts.Load())
	}
	if want := int32(2 + conflicts); g.loads.Load() != want {
		t.Errorf("want %d loads (two runs and a replan per conflict), got %d", want, g.loads.Load())
	}

	final, _, err := New(client, bucket, key).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alpha, beta := final.Bindings["alpha"], final.Bindings["beta"]
	if alpha == nil || beta == nil {
		t.Fatalf("a binding was lost: %v", final.Bindings)
	}
	// Each stale target was missed once more: exactly once, not twice for
	// the replanned run, and not reset by the other run's save.
	for name, got := range map[string]tgsync.Miss{"alpha": alpha.Misses[staleA], "beta": beta.Misses[staleB]} {
		if got.Count != 2 || !got.Since.Equal(since) {
			t.Errorf("%s: miss %+v, want count 2 since %s", name, got, since)
		}
	}
	if _, ok := beta.Misses[foreign]; ok {
		t.Errorf("beta counted a miss for a target it does not own")
	}
	// Beta is shared: it owns what it registered and still what it had.
	for _, tg := range []tgsync.Target{mock.Target("10.2.0.1:5044"), staleB} {
		if _, ok := beta.Owned[tg]; !ok {
			t.Errorf("beta lost ownership of %s: %v", tg, beta.Owned)
		}
	}
	if alpha.Answer == nil || len(alpha.Answer.Addrs) != 2 || beta.Answer == nil || len(beta.Answer.Addrs) != 1 {
		t.Errorf("source answers lost: alpha %+v beta %+v", alpha.Answer, beta.Answer)
	}
	// The registrations happened once, although one run planned twice.
	for _, s := range []string{"10.1.0.1:443", "10.1.0.2:443", "10.2.0.1:5044"} {
		if n := registered[mock.Target(s)]; n != 1 {
			t.Errorf("%s registered %d times, want once", s, n)
		}
	}
	// Both runs report what they registered, the replanned one included.
	for i, res := range results {
		if n := len(res.Bindings[0].Registered); n == 0 {
			t.Errorf("run %d reports no registrations", i)
		}
	}
	// The history of both bindings records the registrations, also those
	// applied in the attempt whose save lost.
	t.Run("history", func(t *testing.T) { checkHistory(t, alpha, beta) })
}

func checkHistory(t *testing.T, alpha, beta *tgsync.BindingState) {
	var lost []string
	for name, b := range map[string]*tgsync.BindingState{"alpha": alpha, "beta": beta} {
		regs := 0
		for _, e := range b.History {
			if e.Action == tgsync.ActionRegister && !e.Refused {
				regs++
			}
		}
		if regs == 0 {
			lost = append(lost, name)
		}
	}
	if len(lost) > 0 {
		t.Errorf("history of %v lost the registrations made before the conflict", lost)
	}
}
