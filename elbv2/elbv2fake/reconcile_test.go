package elbv2fake

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// This test runs the real tgsync.Reconciler and the real elbv2 adapter on a
// World, standing in for an AWS target group whose targets take time to
// turn healthy and drain for the deregistration delay, which moto cannot
// show.

// listSource is a tgsync.Source whose answer the test changes.
type listSource struct {
	mu    sync.Mutex
	addrs []netip.Addr
}

func (s *listSource) set(addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs = nil
	for _, a := range addrs {
		s.addrs = append(s.addrs, netip.MustParseAddr(a))
	}
}

func (s *listSource) Resolve(context.Context) (tgsync.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tgsync.Answer{Addrs: slices.Clone(s.addrs), TTL: time.Minute, Queries: 1}, nil
}

func (s *listSource) String() string { return "test-source" }

// memStore is a tgsync.Store in memory with the conflict check of the real
// stores.
type memStore struct {
	mu   sync.Mutex
	data []byte
	rev  int
}

func (m *memStore) Load(context.Context) (*tgsync.State, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return tgsync.NewState(), "", nil
	}
	s, err := tgsync.DecodeState(m.data)
	return s, strconv.Itoa(m.rev), err
}

func (m *memStore) Save(_ context.Context, s *tgsync.State, revision string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	current := ""
	if m.data != nil {
		current = strconv.Itoa(m.rev)
	}
	if revision != current {
		return "", tgsync.ErrConflict
	}
	data, err := tgsync.EncodeState(s)
	if err != nil {
		return "", err
	}
	m.data, m.rev = data, m.rev+1
	return strconv.Itoa(m.rev), nil
}

// runStep is one reconcile run after the clock advanced.
type runStep struct {
	name    string
	advance time.Duration
	source  []string
	// registered and deregistered are the targets the run changed.
	registered, deregistered []string
	// group is the group after the run: target=state.
	group []string
}

func TestReconcilerOnTheWorld(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	w, clock := newTestWorld(t, GroupSpec{VPCPrefixes: vpc}, Options{})
	src := &listSource{}
	store := &memStore{}
	r := &tgsync.Reconciler{
		Bindings: []tgsync.Binding{{
			Name: "search", Source: src, TargetGroupARN: testARN,
			Ports: []uint16{443, 9200}, Policy: tgsync.DefaultPolicy(),
		}},
		Groups: adapter(w),
		Store:  store,
		Now:    clock.Now,
	}
	ctx := context.Background()
	steps := []runStep{
		{"first run registers every address on both ports, 10.1.0.7 with zone all", 0,
			[]string{"10.0.0.1", "10.0.0.2", "10.1.0.7"},
			[]string{"10.0.0.1:443", "10.0.0.1:9200", "10.0.0.2:443", "10.0.0.2:9200", "10.1.0.7:443", "10.1.0.7:9200"}, nil,
			[]string{"10.0.0.1:443=initial", "10.0.0.1:9200=initial", "10.0.0.2:443=initial", "10.0.0.2:9200=initial", "10.1.0.7:443=initial", "10.1.0.7:9200=initial"}},
		{"targets turn healthy, nothing to do", 30 * time.Second,
			[]string{"10.0.0.1", "10.0.0.2", "10.1.0.7"}, nil, nil,
			[]string{"10.0.0.1:443=healthy", "10.0.0.1:9200=healthy", "10.0.0.2:443=healthy", "10.0.0.2:9200=healthy", "10.1.0.7:443=healthy", "10.1.0.7:9200=healthy"}},
		{"10.0.0.2 and 10.1.0.7 leave the source: first miss", time.Minute,
			[]string{"10.0.0.1"}, nil, nil,
			[]string{"10.0.0.1:443=healthy", "10.0.0.1:9200=healthy", "10.0.0.2:443=healthy", "10.0.0.2:9200=healthy", "10.1.0.7:443=healthy", "10.1.0.7:9200=healthy"}},
		{"second miss", 90 * time.Second,
			[]string{"10.0.0.1"}, nil, nil,
			[]string{"10.0.0.1:443=healthy", "10.0.0.1:9200=healthy", "10.0.0.2:443=healthy", "10.0.0.2:9200=healthy", "10.1.0.7:443=healthy", "10.1.0.7:9200=healthy"}},
		{"third miss after 3 minutes: half of six removed, 10.0.0.2 first", 90 * time.Second,
			[]string{"10.0.0.1"}, nil, []string{"10.0.0.2:443", "10.0.0.2:9200", "10.1.0.7:443"},
			[]string{"10.0.0.1:443=healthy", "10.0.0.1:9200=healthy", "10.0.0.2:443=draining", "10.0.0.2:9200=draining", "10.1.0.7:443=draining", "10.1.0.7:9200=healthy"}},
		{"the last one follows in the next run", time.Minute,
			[]string{"10.0.0.1"}, nil, []string{"10.1.0.7:9200"},
			[]string{"10.0.0.1:443=healthy", "10.0.0.1:9200=healthy", "10.0.0.2:443=draining", "10.0.0.2:9200=draining", "10.1.0.7:443=draining", "10.1.0.7:9200=draining"}},
		{"10.0.0.2 comes back while draining: registered again", time.Minute,
			[]string{"10.0.0.1", "10.0.0.2"}, []string{"10.0.0.2:443", "10.0.0.2:9200"}, nil,
			[]string{"10.0.0.1:443=healthy", "10.0.0.1:9200=healthy", "10.0.0.2:443=initial", "10.0.0.2:9200=initial", "10.1.0.7:443=draining", "10.1.0.7:9200=draining"}},
		{"the drain of 10.1.0.7 ends", 5 * time.Minute,
			[]string{"10.0.0.1", "10.0.0.2"}, nil, nil,
			[]string{"10.0.0.1:443=healthy", "10.0.0.1:9200=healthy", "10.0.0.2:443=healthy", "10.0.0.2:9200=healthy"}},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		src.set(s.source...)
		res, err := r.Run(ctx, tgsync.RunOptions{})
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, s.name, err)
		}
		b := res.Bindings[0]
		if b.Err != nil {
			t.Fatalf("step %d (%s): binding failed: %v", i, s.name, b.Err)
		}
		if got := changedTargets(b.Registered); !slices.Equal(got, s.registered) {
			t.Errorf("step %d (%s): registered %v, want %v", i, s.name, got, s.registered)
		}
		if got := changedTargets(b.Deregistered); !slices.Equal(got, s.deregistered) {
			t.Errorf("step %d (%s): deregistered %v, want %v", i, s.name, got, s.deregistered)
		}
		var group []string
		for _, o := range w.Targets(testARN) {
			group = append(group, o.Target.String()+"="+string(o.State))
		}
		if !slices.Equal(group, s.group) {
			t.Errorf("step %d (%s): group\n got %v\nwant %v", i, s.name, group, s.group)
		}
	}

	// Rule 7: the address outside the VPC made the binding remember "all".
	st, _, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Binding("search").AZAll {
		t.Error("state does not remember that the group needs AvailabilityZone all")
	}
	// No target was deregistered while its address was in the source, nor
	// before the 3-minute grace.
	for _, e := range w.History() {
		if e.Action != ActionDeregister {
			continue
		}
		since, gone := leftAt(steps, e.Target.IP, e.Time, t0)
		if !gone {
			t.Errorf("%s deregistered at %s while in the source", e.Target, e.Time)
		} else if e.Time.Sub(since) < 3*time.Minute {
			t.Errorf("%s deregistered %s after leaving the source, before the grace", e.Target, e.Time.Sub(since))
		}
	}
	calls := w.Calls()
	if calls[ActionDescribe] != len(steps) {
		t.Errorf("DescribeTargetHealth calls = %d, want one per run (%d)", calls[ActionDescribe], len(steps))
	}
	// The first run's batch fails on 10.1.0.7 and is sent again with "all";
	// the re-registration of 10.0.0.2 is the third.
	if calls[ActionRegister] != 3 || calls[ActionDeregister] != 2 {
		t.Errorf("calls %v, want 3 RegisterTargets and 2 DeregisterTargets", calls)
	}
	// The adapter asks for the group's port and type once, at the first
	// run; the state remembers them too.
	if calls[ActionDescribeGroups] != 1 {
		t.Errorf("DescribeTargetGroups calls = %d, want 1", calls[ActionDescribeGroups])
	}
}

// leftAt replays the steps' sources to find when ip last left the source
// before at; gone is false when it was in the source at that time.
func leftAt(steps []runStep, ip netip.Addr, at, start time.Time) (since time.Time, gone bool) {
	now := start
	in := false
	for _, s := range steps {
		now = now.Add(s.advance)
		if now.After(at) {
			break
		}
		has := slices.Contains(s.source, ip.String())
		if in && !has {
			since = now
		}
		in = has
	}
	return since, !in
}

func changedTargets(cs []tgsync.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Target.String())
	}
	return out
}
