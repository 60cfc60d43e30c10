package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// errKilled is what a killed process's calls return: it makes no more.
var errKilled = errors.New("process killed")

// killSwitch ends a process at a random call, as kill -9 would: after the
// chosen call every call of the process fails without reaching AWS or the
// store. The chosen call itself either takes effect first (the process
// dies while the reply is on its way, the window between RegisterTargets
// and the state save) or does not.
type killSwitch struct {
	mu     sync.Mutex
	at     int  // the call that kills; 0: never
	before bool // the killing call has no effect
	calls  int
	dead   bool
}

// enter reports whether the call may go ahead, and whether it kills.
func (k *killSwitch) enter() (proceed, kills bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return false, false
	}
	k.calls++
	if k.at > 0 && k.calls == k.at {
		k.dead = true
		return !k.before, true
	}
	return true, false
}

func (k *killSwitch) killed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dead
}

// mortalGroups and mortalStore are one process's view of the ELB API and
// the state store: they stop at the kill.
type mortalGroups struct {
	tgsync.TargetGroups
	k *killSwitch
}

func (g mortalGroups) Describe(ctx context.Context, arn string) ([]tgsync.ObservedTarget, error) {
	proceed, kills := g.k.enter()
	if !proceed {
		return nil, errKilled
	}
	out, err := g.TargetGroups.Describe(ctx, arn)
	if kills {
		return nil, errKilled
	}
	return out, err
}

func (g mortalGroups) Register(ctx context.Context, arn string, cs []tgsync.Change) ([]tgsync.Change, error) {
	return g.change(func() ([]tgsync.Change, error) { return g.TargetGroups.Register(ctx, arn, cs) })
}

func (g mortalGroups) Deregister(ctx context.Context, arn string, cs []tgsync.Change) ([]tgsync.Change, error) {
	return g.change(func() ([]tgsync.Change, error) { return g.TargetGroups.Deregister(ctx, arn, cs) })
}

func (g mortalGroups) change(call func() ([]tgsync.Change, error)) ([]tgsync.Change, error) {
	proceed, kills := g.k.enter()
	if !proceed {
		return nil, errKilled
	}
	applied, err := call()
	if kills {
		return nil, errKilled
	}
	return applied, err
}

type mortalStore struct {
	tgsync.Store
	k *killSwitch
}

func (s mortalStore) Load(ctx context.Context) (*tgsync.State, string, error) {
	proceed, kills := s.k.enter()
	if !proceed {
		return nil, "", errKilled
	}
	st, rev, err := s.Store.Load(ctx)
	if kills {
		return nil, "", errKilled
	}
	return st, rev, err
}

func (s mortalStore) Save(ctx context.Context, st *tgsync.State, rev string) (string, error) {
	proceed, kills := s.k.enter()
	if !proceed {
		return "", errKilled
	}
	out, err := s.Store.Save(ctx, st, rev)
	if kills {
		return "", errKilled
	}
	return out, err
}

// stressFigures are what one stress run counted.
type stressFigures struct {
	runs, kills, conflicts, wrongful, leaked, missing int
}

// TestSharedGroupStress is rule 9 under load: three shared bindings on one
// target group, their DNS answers churning every minute (real DNS in the
// test process), one to three runs at once every minute, each a new
// process (nothing carried in memory) on one state with conditional saves,
// and a third of them killed at a random call, before or after its effect.
// No run may deregister a target any binding's answer holds, and once the
// churn stops the group must equal the union of the answers: nothing
// registered is ever forgotten, nothing wanted is missing.
func TestSharedGroupStress(t *testing.T) {
	seeds, rounds := 6, 120
	switch {
	case testing.Short():
		seeds, rounds = 2, 40
	case testenv.RaceDetector:
		// A run costs about four times as much under -race; half the
		// minutes keep the suite inside its time, and a plain
		// go test ./test/faults plays all of them.
		rounds = 60
	}
	var total stressFigures
	var mu sync.Mutex
	for seed := 1; seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			f := stress(t, uint64(seed), rounds)
			mu.Lock()
			defer mu.Unlock()
			total.runs += f.runs
			total.kills += f.kills
			total.conflicts += f.conflicts
			total.wrongful += f.wrongful
			total.leaked += f.leaked
			total.missing += f.missing
		})
	}
	t.Cleanup(func() {
		t.Logf("shared group stress: %d seeds × %d minutes: %d runs, %d killed, %d save conflicts, %d wrongful removals, %d targets leaked, %d missing",
			seeds, rounds, total.runs, total.kills, total.conflicts, total.wrongful, total.leaked, total.missing)
	})
}

func stress(t *testing.T, seed uint64, rounds int) stressFigures {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	clock := elbv2fake.NewManualClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	world := elbv2fake.New(clock, elbv2fake.Options{})
	const arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/stress/0000000000000001"
	if err := world.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: 443, DrainDelay: -1, HealthyAfter: -1}); err != nil {
		t.Fatal(err)
	}
	srv := testenv.DNS(t)
	resolver, err := dns.New(dns.Config{Servers: []string{srv.Addr()}, Timeout: time.Second, Lookups: 1})
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	policy := tgsync.DefaultPolicy()
	policy.Shared = true
	names := []string{"foo", "bar", "baz"}
	var bindings []tgsync.Binding
	answers := map[string][]netip.Addr{}
	for _, n := range names {
		host := n + ".stress.example.internal"
		bindings = append(bindings, tgsync.Binding{Name: n, Source: resolver.Source(host, dns.Families{dns.IPv4}),
			TargetGroupARN: arn, Ports: []uint16{443}, Policy: policy})
	}
	// The bindings draw from one small pool, so that their answers overlap
	// and targets pass from one to another.
	pick := func() []netip.Addr {
		var out []netip.Addr
		for i := range 12 {
			if rng.IntN(3) == 0 {
				out = append(out, netip.AddrFrom4([4]byte{10, 9, 0, byte(10 + i)}))
			}
		}
		if len(out) == 0 {
			out = append(out, netip.AddrFrom4([4]byte{10, 9, 0, byte(10 + rng.IntN(12))}))
		}
		return out
	}
	setAnswers := func(churn bool) {
		for _, n := range names {
			if churn && (answers[n] == nil || rng.IntN(2) == 0) {
				answers[n] = pick()
			}
			srv.SetA(n+".stress.example.internal", 60, answers[n]...)
		}
	}
	wanted := func() map[tgsync.Target]string {
		out := map[tgsync.Target]string{}
		for _, n := range names {
			for _, a := range answers[n] {
				out[tgsync.Target{IP: a, Port: 443}] = n
			}
		}
		return out
	}
	var f stressFigures
	var log []string
	round := func(procs int, killing bool) {
		clock.Advance(time.Minute)
		want := wanted()
		mark := len(world.History())
		var wg sync.WaitGroup
		results := make([]string, procs)
		var conflicts, kills atomic.Int64
		for p := range procs {
			k := &killSwitch{}
			if killing && rng.IntN(3) == 0 {
				k.at, k.before = 1+rng.IntN(5), rng.IntN(2) == 0
			}
			// Each process has its own adapter, as each has its own
			// SDK client.
			groups := elbv2.New(world, elbv2.Unlimited())
			rec := &tgsync.Reconciler{Bindings: bindings, Groups: mortalGroups{groups, k}, Store: mortalStore{store, k},
				Now: clock.Now, SaveAttempts: 3}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := rec.Run(context.Background(), tgsync.RunOptions{})
				conflicts.Add(int64(res.Conflicts))
				if k.killed() {
					kills.Add(1)
				}
				results[p] = fmt.Sprintf("proc %d: kill@%d(before=%t) killed=%t conflicts=%d err=%v", p, k.at, k.before, k.killed(), res.Conflicts, err)
			}()
		}
		wg.Wait()
		f.runs += procs
		f.kills += int(kills.Load())
		f.conflicts += int(conflicts.Load())
		for _, e := range world.History()[mark:] {
			if e.Action == elbv2fake.ActionDeregister {
				if who, ok := want[e.Target]; ok {
					f.wrongful++
					t.Errorf("minute %s: %s deregistered although %s's answer holds it", clock.Now().Format("15:04"), e.Target, who)
				}
			}
		}
		log = append(log, fmt.Sprintf("%s answers %v | %s", clock.Now().Format("15:04"), answers, strings.Join(results, "; ")))
	}
	for range rounds {
		setAnswers(true)
		round(1+rng.IntN(3), true)
	}
	// The churn stops: quiet runs, one at a time, until the grace of
	// every stale target ran out (3 misses and 3 minutes), and more.
	setAnswers(false)
	for range 8 {
		round(1, false)
	}
	want := wanted()
	got := map[tgsync.Target]bool{}
	for _, o := range world.Targets(arn) {
		if o.State.Draining() {
			continue
		}
		got[o.Target] = true
		if _, ok := want[o.Target]; !ok {
			f.leaked++
			t.Errorf("leaked: %s is in the group but in no answer", o.Target)
		}
	}
	for tg := range want {
		if !got[tg] {
			f.missing++
			t.Errorf("missing: %s is in an answer but not in the group", tg)
		}
	}
	if t.Failed() {
		t.Logf("seed %d history:\n%s", seed, strings.Join(log, "\n"))
	}
	if f.kills == 0 || f.conflicts == 0 {
		t.Errorf("the stress did not stress: %d kills, %d conflicts in %d runs", f.kills, f.conflicts, f.runs)
	}
	return f
}
