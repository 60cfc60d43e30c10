package tgsync_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func targetsOf(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Target.String())
	}
	return out
}

func refusedOf(rs []Refusal) []string {
	var out []string
	for _, r := range rs {
		s := string(r.Action) + ":" + r.Rule
		if r.Target.IP.IsValid() {
			s += ":" + r.Target.String()
		}
		out = append(out, s)
	}
	return out
}

func missed(count int, ago time.Duration) Miss { return Miss{Count: count, Since: t0.Add(-ago)} }

func TestPlan(t *testing.T) {
	shared := DefaultPolicy()
	shared.Shared = true
	tight := DefaultPolicy()
	tight.AfterMisses, tight.AfterDuration, tight.WaitForHealthy = 1, 0, 0

	tests := []struct {
		name     string
		desired  Desired
		observed []ObservedTarget
		state    BindingState
		policy   Policy

		register   []string
		deregister []string
		refused    []string
		pending    []string
		misses     map[string]int // expected Next.Misses counts
		owned      []string       // expected Next.Owned keys (shared only)
	}{
		{
			name:     "empty group registers every address on every port",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.2", "10.0.0.1")}, Ports: []uint16{80, 443}},
			register: []string{"10.0.0.1:80", "10.0.0.1:443", "10.0.0.2:80", "10.0.0.2:443"},
		},
		{
			name:     "duplicate and v4-mapped addresses count once",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1", "::ffff:10.0.0.1", "10.0.0.1")}, Ports: []uint16{443}},
			register: []string{"10.0.0.1:443"},
		},
		{
			name:     "steady state changes nothing",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy)},
		},
		{
			name:     "DNS failure removes nothing and keeps miss counts",
			desired:  Desired{Err: errors.New("SERVFAIL"), Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthHealthy)},
			state:    BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.9:443"): missed(2, time.Hour)}},
			refused:  []string{"deregister:source-failed"},
			misses:   map[string]int{"10.0.0.9:443": 2},
		},
		{
			name:     "empty answer is a failure, not an order to empty the group",
			desired:  Desired{Answer: Answer{}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy)},
			state:    BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.1:443"): missed(5, time.Hour)}},
			refused:  []string{"deregister:source-failed"},
			misses:   map[string]int{"10.0.0.1:443": 5},
		},
		{
			name:     "all targets unhealthy but in the source: keep them all",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1", "10.0.0.2")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthUnhealthy), obs("10.0.0.2:443", HealthUnhealthy)},
		},
		{
			name:     "desired target that is draining is registered again",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthDraining)},
			register: []string{"10.0.0.1:443"},
		},
		{
			name:     "in the source but unhealthy: kept, miss record cleared",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1", "10.0.0.2")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.2:443", HealthUnhealthy)},
			state:    BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.2:443"): missed(2, time.Minute)}},
			misses:   map[string]int{},
		},
		{
			name:     "absent target waits: first miss",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthHealthy)},
			pending:  []string{"10.0.0.9:443"},
			misses:   map[string]int{"10.0.0.9:443": 1},
		},
		{
			name:     "enough misses but not long enough: still pending",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthHealthy)},
			state:    BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.9:443"): missed(5, time.Minute)}},
			pending:  []string{"10.0.0.9:443"},
			misses:   map[string]int{"10.0.0.9:443": 6},
		},
		{
			name:     "long enough but too few misses: still pending",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthHealthy)},
			state:    BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.9:443"): missed(1, time.Hour)}},
			pending:  []string{"10.0.0.9:443"},
			misses:   map[string]int{"10.0.0.9:443": 2},
		},
		{
			name:       "grace ran out: deregister",
			desired:    Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed:   []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthHealthy)},
			state:      BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.9:443"): missed(2, 3*time.Minute)}},
			deregister: []string{"10.0.0.9:443"},
			misses:     map[string]int{},
		},
		{
			name:    "absent target that is already draining is left alone",
			desired: Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthDraining),
				obs("10.0.0.8:443", HealthUnhealthyDraining)},
			state:  BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.9:443"): missed(9, time.Hour)}},
			misses: map[string]int{},
		},
		{
			name:    "maxFraction: at most half of the registered targets per run",
			desired: Desired{Answer: Answer{Addrs: mock.Addrs("10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4")}, Ports: []uint16{443}},
			observed: []ObservedTarget{
				obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.2:443", HealthHealthy),
				obs("10.0.0.3:443", HealthHealthy), obs("10.0.0.4:443", HealthHealthy),
				obs("10.0.1.1:443", HealthHealthy), obs("10.0.1.2:443", HealthHealthy),
				obs("10.0.1.3:443", HealthHealthy), obs("10.0.1.4:443", HealthHealthy),
			},
			policy: tight,
			// 8 registered, 50%: 4 may go; all 4 stale ones go.
			deregister: []string{"10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443", "10.0.0.4:443"},
			misses:     map[string]int{},
		},
		{
			name:    "maxFraction refuses beyond the budget, unhealthy ones go first",
			desired: Desired{Answer: Answer{Addrs: mock.Addrs("10.0.1.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{
				obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.2:443", HealthUnhealthy),
				obs("10.0.0.3:443", HealthHealthy), obs("10.0.1.1:443", HealthHealthy),
			},
			policy:     tight,
			deregister: []string{"10.0.0.2:443", "10.0.0.1:443"},
			refused:    []string{"deregister:max-fraction:10.0.0.3:443"},
			misses:     map[string]int{"10.0.0.3:443": 1},
		},
		{
			name:       "a group of one may still move: the budget is at least one",
			desired:    Desired{Answer: Answer{Addrs: mock.Addrs("10.0.1.1")}, Ports: []uint16{443}},
			observed:   []ObservedTarget{obs("10.0.0.1:443", HealthUnhealthy)},
			policy:     tight,
			register:   []string{"10.0.1.1:443"},
			deregister: []string{"10.0.0.1:443"},
			misses:     map[string]int{},
		},
		{
			name:     "the last healthy target stays until a new one is healthy",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.1.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.1.1:443", HealthInitial)},
			policy:   tight,
			refused:  []string{"deregister:last-healthy:10.0.0.1:443"},
			misses:   map[string]int{"10.0.0.1:443": 1},
		},
		{
			name:       "once the new target is healthy the old one may go",
			desired:    Desired{Answer: Answer{Addrs: mock.Addrs("10.0.1.1")}, Ports: []uint16{443}},
			observed:   []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.1.1:443", HealthHealthy)},
			policy:     tight,
			deregister: []string{"10.0.0.1:443"},
			misses:     map[string]int{},
		},
		{
			name:     "a public address is refused",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1", "203.0.113.7")}, Ports: []uint16{443}},
			register: []string{"10.0.0.1:443"},
			refused:  []string{"register:not-allowed:203.0.113.7:443"},
		},
		{
			name:     "an answer of only public addresses removes nothing",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("203.0.113.7")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy)},
			policy:   tight,
			refused:  []string{"register:not-allowed:203.0.113.7:443", "deregister:source-failed"},
		},
		{
			name:    "shared binding: foreign targets stay, owned stale ones go",
			desired: Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.5:443", HealthHealthy),
				obs("10.0.0.6:443", HealthHealthy)},
			state: BindingState{
				Owned:  map[Target]time.Time{mock.Target("10.0.0.1:443"): t0.Add(-time.Hour), mock.Target("10.0.0.6:443"): t0.Add(-time.Hour)},
				Misses: map[Target]Miss{mock.Target("10.0.0.6:443"): missed(3, time.Hour)},
			},
			policy:     shared,
			deregister: []string{"10.0.0.6:443"},
			misses:     map[string]int{},
			owned:      []string{"10.0.0.1:443"},
		},
		{
			name:     "shared binding owns what it registers and forgets what vanished",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.2")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.5:443", HealthHealthy)},
			state:    BindingState{Owned: map[Target]time.Time{mock.Target("10.0.0.7:443"): t0.Add(-time.Hour)}},
			policy:   shared,
			register: []string{"10.0.0.2:443"},
			misses:   map[string]int{},
			owned:    []string{"10.0.0.2:443"},
		},
		{
			name:     "IPv6: unique local addresses register, global ones are refused",
			desired:  Desired{Answer: Answer{Addrs: mock.Addrs("fd00:ec2::10", "2001:db8::1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("[fd00:ec2::9]:443", HealthHealthy)},
			register: []string{"[fd00:ec2::10]:443"},
			refused:  []string{"register:not-allowed:[2001:db8::1]:443"},
			pending:  []string{"[fd00:ec2::9]:443"},
			misses:   map[string]int{"[fd00:ec2::9]:443": 1},
		},
		{
			name:    "one port of an address leaves while the other stays",
			desired: Desired{Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}},
			observed: []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.1:80", HealthHealthy),
				obs("10.0.0.2:443", HealthHealthy)},
			policy:     tight,
			deregister: []string{"10.0.0.1:80"},
			misses:     map[string]int{"10.0.0.2:443": 1},
			refused:    []string{"deregister:max-fraction:10.0.0.2:443"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policy := tc.policy
			if policy.AfterMisses == 0 {
				policy = DefaultPolicy()
			}
			tc.desired.Source = "db.example.internal"
			before := tc.state.Clone()
			got := Plan(tc.desired, tc.observed, tc.state, policy, t0)

			check := func(what string, got, want []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			check("register", targetsOf(got.Register), tc.register)
			check("deregister", targetsOf(got.Deregister), tc.deregister)
			check("refused", refusedOf(got.Refused), tc.refused)
			var pending []string
			for _, p := range got.Pending {
				pending = append(pending, p.Target.String())
			}
			check("pending", pending, tc.pending)
			if tc.misses != nil {
				gotMisses := map[string]int{}
				for k, v := range got.Next.Misses {
					gotMisses[k.String()] = v.Count
				}
				if len(gotMisses) != len(tc.misses) {
					t.Errorf("misses = %v, want %v", gotMisses, tc.misses)
				}
				for k, v := range tc.misses {
					if gotMisses[k] != v {
						t.Errorf("misses[%s] = %d, want %d", k, gotMisses[k], v)
					}
				}
			}
			if policy.Shared {
				var owned []string
				for k := range got.Next.Owned {
					owned = append(owned, k.String())
				}
				slices.Sort(owned)
				check("owned", owned, tc.owned)
			}
			for _, c := range append(got.Register, got.Deregister...) {
				if c.Reason == "" {
					t.Errorf("%s %s has no reason", c.Action, c.Target)
				}
			}
			for _, r := range got.Refused {
				if r.Reason == "" || !strings.Contains(r.Reason, "db.example.internal") && r.Rule != RuleLastHealthy && r.Rule != RuleMaxFraction {
					t.Errorf("refusal %+v: reason should name the source", r)
				}
			}
			if !statesEqual(before, tc.state) {
				t.Errorf("Plan modified its input state")
			}
		})
	}
}

func statesEqual(a, b BindingState) bool {
	sa, sb := &State{Bindings: map[string]*BindingState{"x": &a}}, &State{Bindings: map[string]*BindingState{"x": &b}}
	return sa.Equal(sb)
}

// TestPlanGraceOverRuns walks one target out of the source run by run with
// the default policy: it stays for 3 misses and 3 minutes, then goes.
func TestPlanGraceOverRuns(t *testing.T) {
	policy := DefaultPolicy()
	desired := Desired{Source: "x", Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}}
	observed := []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.2:443", HealthHealthy)}
	var st BindingState
	for minute := 0; minute <= 3; minute++ {
		got := Plan(desired, observed, st, policy, t0.Add(time.Duration(minute)*time.Minute))
		wantGone := minute == 3
		if gone := len(got.Deregister) == 1; gone != wantGone {
			t.Fatalf("minute %d: deregister=%v, want %v (pending %+v)", minute, targetsOf(got.Deregister), wantGone, got.Pending)
		}
		if !wantGone && got.Pending[0].MissesLeft != max(0, 3-(minute+1)) {
			t.Errorf("minute %d: misses left %d", minute, got.Pending[0].MissesLeft)
		}
		st = got.Next
	}
}

func TestPlanSourceFailureKeepsOwnership(t *testing.T) {
	policy := DefaultPolicy()
	policy.Shared = true
	st := BindingState{Owned: map[Target]time.Time{mock.Target("10.0.0.1:443"): t0}}
	got := Plan(Desired{Source: "x", Err: errors.New("timeout")}, nil, st, policy, t0)
	if _, ok := got.Next.Owned[mock.Target("10.0.0.1:443")]; !ok {
		t.Fatalf("a failed source lost ownership: %+v", got.Next.Owned)
	}
}

func BenchmarkPlan1000(b *testing.B) {
	benchmarkPlan(b, 1000)
}

func benchmarkPlan(b *testing.B, n int) {
	// Half the group stays, a quarter is new, a quarter is stale and past
	// its grace: every branch of Plan runs.
	var answer []netip.Addr
	var observed []ObservedTarget
	misses := map[Target]Miss{}
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		t := Target{IP: a, Port: 443}
		switch i % 4 {
		case 0, 1:
			answer = append(answer, a)
			observed = append(observed, ObservedTarget{Target: t, State: HealthHealthy})
		case 2:
			answer = append(answer, a)
		case 3:
			observed = append(observed, ObservedTarget{Target: t, State: HealthHealthy})
			misses[t] = missed(3, time.Hour)
		}
	}
	desired := Desired{Source: "bench", Answer: Answer{Addrs: answer}, Ports: []uint16{443}}
	st := BindingState{Misses: misses}
	policy := DefaultPolicy()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Plan(desired, observed, st, policy, t0)
	}
}

// TestPlanClockStepsBack: a miss recorded "in the future" (the clock stepped
// back) restarts the duration; misses keep counting and nothing is negative.
func TestPlanClockStepsBack(t *testing.T) {
	st := BindingState{Misses: map[Target]Miss{mock.Target("10.0.0.9:443"): {Count: 2, Since: t0.Add(10 * time.Minute)}}}
	desired := Desired{Source: "x", Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}}
	observed := []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthHealthy)}
	got := Plan(desired, observed, st, DefaultPolicy(), t0)
	if len(got.Deregister) != 0 || len(got.Pending) != 1 {
		t.Fatalf("deregister %v pending %+v", targetsOf(got.Deregister), got.Pending)
	}
	p := got.Pending[0]
	if p.Misses != 3 || p.MissingFor != 0 || p.TimeLeft != 3*time.Minute || !got.Next.Misses[p.Target].Since.Equal(t0) {
		t.Fatalf("pending = %+v, next miss = %+v", p, got.Next.Misses[p.Target])
	}
}
