package tgsync_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// TestPlanNeverRegistersReservedAddresses: loopback, link-local, multicast,
// broadcast and AWS's own service addresses are refused whatever the
// allowed ranges say, even 0.0.0.0/0 and ::/0, and even inside the default
// fc00::/7 (fd00:ec2::254 is the instance metadata service).
func TestPlanNeverRegistersReservedAddresses(t *testing.T) {
	everything := DefaultPolicy()
	everything.AllowedPrefixes = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	tests := []struct {
		addr   string
		policy Policy
		what   string
	}{
		{"fd00:ec2::254", DefaultPolicy(), "the instance metadata service"},
		{"fd00:ec2::253", DefaultPolicy(), "the Amazon DNS server"},
		{"fd00:ec2::123", DefaultPolicy(), "the Amazon Time Sync Service"},
		{"127.0.0.1", everything, "loopback"},
		{"127.8.9.10", everything, "loopback"},
		{"::1", everything, "loopback"},
		{"0.0.0.0", everything, "unspecified (this network)"},
		{"::", everything, "unspecified"},
		{"169.254.169.254", everything, "the instance metadata service"},
		{"169.254.169.253", everything, "the Amazon DNS server"},
		{"169.254.169.123", everything, "the Amazon Time Sync Service"},
		{"169.254.170.2", everything, "the ECS task metadata and credentials endpoint"},
		{"169.254.1.1", everything, "link-local"},
		{"fe80::1", everything, "link-local"},
		{"224.0.0.251", everything, "multicast"},
		{"ff02::1", everything, "multicast"},
		{"255.255.255.255", everything, "broadcast"},
		{"::ffff:169.254.169.254", everything, "the instance metadata service"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			d := Desired{Source: "db.example.internal", Answer: Answer{Addrs: mock.Addrs(tc.addr, "10.0.0.1")}, Ports: []uint16{443}}
			got := Plan(d, nil, BindingState{}, tc.policy, t0)
			if regs := targetsOf(got.Register); !slices.Equal(regs, []string{"10.0.0.1:443"}) {
				t.Fatalf("register = %v, want only 10.0.0.1:443", regs)
			}
			if len(got.Refused) != 1 || got.Refused[0].Rule != RuleReserved {
				t.Fatalf("refused = %+v, want one %s refusal", got.Refused, RuleReserved)
			}
			if w := ReservedFor(netip.MustParseAddr(tc.addr)); w != tc.what {
				t.Errorf("ReservedFor = %q, want %q", w, tc.what)
			}
		})
	}
	// Ordinary private and unique local addresses stay registrable.
	for _, a := range []string{"10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd00:ec2::10", "fd12::1"} {
		if !DefaultPolicy().Allows(netip.MustParseAddr(a)) {
			t.Errorf("%s is refused by the default policy", a)
		}
	}
}

// TestPlanSharedGroupClaims is rule 9: within one target group, a target
// another binding's answer holds is never deregistered, and ownership
// passes to the binding that wants it.
func TestPlanSharedGroupClaims(t *testing.T) {
	shared := DefaultPolicy()
	shared.Shared = true
	tight := shared
	tight.AfterMisses, tight.AfterDuration, tight.WaitForHealthy = 1, 0, 0
	x := mock.Target("10.0.0.9:443")
	observed := []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.9:443", HealthHealthy), obs("10.0.0.2:443", HealthHealthy)}
	answer := Answer{Addrs: mock.Addrs("10.0.0.1")}
	ownsX := BindingState{
		Owned:  map[Target]time.Time{mock.Target("10.0.0.1:443"): t0.Add(-time.Hour), x: t0.Add(-time.Hour)},
		Misses: map[Target]Miss{x: missed(5, time.Hour)},
	}
	tests := []struct {
		name       string
		others     Claims
		state      BindingState
		answer     Answer
		deregister []string
		owned      []string
		misses     int
	}{
		{
			name:       "nobody else wants it: removed after its grace",
			state:      ownsX,
			answer:     answer,
			deregister: []string{"10.0.0.9:443"},
			owned:      []string{"10.0.0.1:443"},
		},
		{
			name:   "another binding wants it and owns it: ownership passes, no miss",
			others: Claims{Wanted: map[Target]Claim{x: {Binding: "foo", Current: true}}, Owned: map[Target]bool{x: true}},
			state:  ownsX,
			answer: answer,
			owned:  []string{"10.0.0.1:443"},
		},
		{
			name:   "another binding wants it but does not own it yet: kept and owned, no miss",
			others: Claims{Wanted: map[Target]Claim{x: {Binding: "foo", Current: true}}},
			state:  ownsX,
			answer: answer,
			owned:  []string{"10.0.0.1:443", "10.0.0.9:443"},
		},
		{
			name:   "another binding's last answer holds it while its source fails: kept and owned",
			others: Claims{Wanted: map[Target]Claim{x: {Binding: "foo"}}, Owned: map[Target]bool{x: true}},
			state:  ownsX,
			answer: answer,
			owned:  []string{"10.0.0.1:443", "10.0.0.9:443"},
		},
		{
			name:   "a target another binding registered and this one wants: owned too",
			others: Claims{Owned: map[Target]bool{x: true}},
			answer: Answer{Addrs: mock.Addrs("10.0.0.1", "10.0.0.9")},
			owned:  []string{"10.0.0.9:443"},
		},
		{
			name:   "a foreign target this binding wants is not taken over",
			answer: Answer{Addrs: mock.Addrs("10.0.0.1", "10.0.0.9")},
			owned:  nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Desired{Source: "bar.example.internal", Answer: tc.answer, Ports: []uint16{443}, Others: tc.others}
			got := Plan(d, observed, tc.state, tight, t0)
			if regs := targetsOf(got.Deregister); !slices.Equal(regs, tc.deregister) {
				t.Errorf("deregister = %v, want %v", regs, tc.deregister)
			}
			var owned []string
			for k := range got.Next.Owned {
				owned = append(owned, k.String())
			}
			slices.Sort(owned)
			if !slices.Equal(owned, tc.owned) {
				t.Errorf("owned = %v, want %v", owned, tc.owned)
			}
			if n := len(got.Next.Misses); n != tc.misses {
				t.Errorf("misses = %v, want %d", got.Next.Misses, tc.misses)
			}
		})
	}
}

// TestPlanKeepsIntentsForTheirGrace: a shared binding keeps owning a target
// it was about to register while the target is not in the group, for
// IntentGrace: another run may be registering it right now.
func TestPlanKeepsIntentsForTheirGrace(t *testing.T) {
	shared := DefaultPolicy()
	shared.Shared = true
	x := mock.Target("10.0.0.9:443")
	d := Desired{Source: "x", Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}}
	observed := []ObservedTarget{obs("10.0.0.1:443", HealthHealthy)}
	for _, tc := range []struct {
		age  time.Duration
		kept bool
	}{
		{time.Minute, true},
		{IntentGrace - time.Second, true},
		{IntentGrace, false},
		{time.Hour, false},
		{-time.Hour, true}, // a clock that stepped back keeps it longer, never shorter
	} {
		st := BindingState{Owned: map[Target]time.Time{x: t0.Add(-tc.age), mock.Target("10.0.0.1:443"): t0}}
		got := Plan(d, observed, st, shared, t0)
		if _, kept := got.Next.Owned[x]; kept != tc.kept {
			t.Errorf("intent %s old: kept = %v, want %v", tc.age, kept, tc.kept)
		}
	}
}

// TestPlanRemovalRunDespiteJitter is rule 2 on a jittery schedule: at one
// run a minute with the defaults, a target missed from run 1 on is removed
// at run 4, whether each run comes early or late by up to 12 s (the
// estimate of Miss.Absence holds while two runs drift apart by less than
// 24 s).
func TestPlanRemovalRunDespiteJitter(t *testing.T) {
	desired := Desired{Source: "x", Answer: Answer{Addrs: mock.Addrs("10.0.0.1")}, Ports: []uint16{443}}
	observed := []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.2:443", HealthHealthy)}
	for _, jitter := range []time.Duration{0, 500 * time.Millisecond, 5 * time.Second, 12 * time.Second} {
		for seed := uint64(1); seed <= 50; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(jitter)))
			var st BindingState
			removedAt := 0
			for run := 1; run <= 6 && removedAt == 0; run++ {
				j := time.Duration(0)
				if jitter > 0 {
					j = time.Duration(rng.Int64N(int64(2*jitter))) - jitter
				}
				got := Plan(desired, observed, st, DefaultPolicy(), t0.Add(time.Duration(run)*time.Minute+j))
				if len(got.Deregister) > 0 {
					removedAt = run
				}
				st = got.Next
			}
			if removedAt != 4 {
				t.Errorf("jitter ±%s, seed %d: removed at run %d, want 4", jitter, seed, removedAt)
			}
		}
	}
}

// TestMissAbsence pins the estimate of how long a target has been gone.
func TestMissAbsence(t *testing.T) {
	for _, tc := range []struct {
		m    Miss
		now  time.Time
		want time.Duration
	}{
		{Miss{}, t0, 0},
		{Miss{Count: 1, Since: t0, Last: t0}, t0, 0},
		{Miss{Count: 2, Since: t0, Last: t0.Add(time.Minute)}, t0.Add(time.Minute), 90 * time.Second},
		{Miss{Count: 4, Since: t0, Last: t0.Add(3 * time.Minute)}, t0.Add(3 * time.Minute), 210 * time.Second},
		// A state written before Last existed: from the first miss alone.
		{Miss{Count: 4, Since: t0}, t0.Add(3 * time.Minute), 3 * time.Minute},
		// A clock that stepped back: never negative.
		{Miss{Count: 3, Since: t0.Add(time.Hour), Last: t0.Add(time.Hour)}, t0, 0},
	} {
		if got := tc.m.Absence(tc.now); got != tc.want {
			t.Errorf("%+v at %s: absence %s, want %s", tc.m, tc.now.Sub(t0), got, tc.want)
		}
	}
	// Counted restarts a miss whose first record lies in the future.
	m := Miss{Count: 2, Since: t0.Add(time.Hour), Last: t0.Add(time.Hour)}.Counted(t0, 30*time.Second)
	if m.Count != 3 || !m.Since.Equal(t0) || !m.Last.Equal(t0) {
		t.Errorf("counted after the clock stepped back = %+v", m)
	}
	_ = fmt.Sprint()
}

// TestPlanMakeBeforeBreak: a stale target whose grace ran out waits while
// a target the binding registered is still in its first health check
// (initial), for at most WaitForHealthy; it goes once the new target left
// initial, healthy or not, or the hold ran out, and the reason says which.
func TestPlanMakeBeforeBreak(t *testing.T) {
	policy := DefaultPolicy()
	policy.AfterMisses, policy.AfterDuration = 1, 0
	stale, fresh := mock.Target("10.0.0.1:443"), mock.Target("10.0.0.2:443")
	// 10.0.0.3 stays healthy, so the stale target is never the last
	// healthy one (rule 5 is not what holds it).
	answer := Desired{Source: "x", Answer: Answer{Addrs: mock.Addrs("10.0.0.2", "10.0.0.3")}, Ports: []uint16{443}}
	tests := []struct {
		name    string
		fresh   HealthState // "" means not in the group
		joined  time.Duration
		noHold  bool
		gone    bool
		reason  string
		joining bool // fresh is still joining after the plan
	}{
		{name: "registered now: the stale target waits", fresh: "", gone: false, reason: "still in its first health check", joining: true},
		{name: "still initial after a minute: waits", fresh: HealthInitial, joined: time.Minute, gone: false, reason: "4m0s of the hold left", joining: true},
		{name: "healthy: the stale target goes", fresh: HealthHealthy, joined: time.Minute, gone: true},
		{name: "unhealthy: left initial, the stale target goes", fresh: HealthUnhealthy, joined: time.Minute, gone: true},
		{name: "initial past the hold: goes, and says so", fresh: HealthInitial, joined: 6 * time.Minute, gone: true, reason: "did not pass its first health check within 5m0s"},
		{name: "no hold configured", fresh: "", noHold: true, gone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy
			if tc.noHold {
				p.WaitForHealthy = 0
			}
			observed := []ObservedTarget{obs("10.0.0.1:443", HealthHealthy), obs("10.0.0.3:443", HealthHealthy)}
			st := BindingState{}
			if tc.fresh != "" {
				observed = append(observed, obs("10.0.0.2:443", tc.fresh))
				st.Joining = map[Target]time.Time{fresh: t0.Add(-tc.joined)}
			}
			got := Plan(answer, observed, st, p, t0)
			if gone := slices.Equal(targetsOf(got.Deregister), []string{stale.String()}); gone != tc.gone {
				t.Fatalf("deregister = %v refused = %v, want gone=%v", targetsOf(got.Deregister), refusedOf(got.Refused), tc.gone)
			}
			var reason string
			for _, c := range got.Deregister {
				reason = c.Reason
			}
			for _, r := range got.Refused {
				if r.Rule == RuleMakeBefore {
					reason = r.Reason
				}
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not say %q", reason, tc.reason)
			}
			if _, j := got.Next.Joining[fresh]; j != tc.joining {
				t.Errorf("joining after the plan = %v, want %v", got.Next.Joining, tc.joining)
			}
		})
	}
}
