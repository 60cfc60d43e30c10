package tgsync_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// interfaces is a network-interface source in memory: it answers the
// addresses of the interfaces it holds, each with its interface's ID, as
// the eni package's sources do, or fails.
type interfaces struct {
	name string
	byID map[string][]string
	err  error
}

func (s *interfaces) String() string { return s.name }

func (s *interfaces) Resolve(context.Context) (Answer, error) {
	if s.err != nil {
		return Answer{}, s.err
	}
	a := Answer{Interfaces: map[netip.Addr]string{}}
	for id, ips := range s.byID {
		for _, ip := range ips {
			addr := netip.MustParseAddr(ip)
			a.Addrs = append(a.Addrs, addr)
			a.Interfaces[addr] = id
		}
	}
	slices.SortFunc(a.Addrs, netip.Addr.Compare)
	return a, nil
}

func TestUnion(t *testing.T) {
	dnsErr, ifErr := errors.New("SERVFAIL"), errors.New("throttled")
	eni := map[string][]string{"eni-1": {"10.0.0.1"}, "eni-2": {"10.0.0.2", "10.0.0.3"}}
	for _, tc := range []struct {
		name      string
		dns       []string
		dnsErr    error
		ifErr     error
		want      []netip.Addr
		partial   string // in Partial; "" for none
		err       bool
		agreement *Agreement
	}{
		{name: "both answer: the union", dns: []string{"10.0.0.1", "10.0.0.9"}, want: mock.Addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"),
			agreement: &Agreement{DNSOnly: mock.Addrs("10.0.0.9"), Interfaces: 3, SeenByDNS: 1}},
		{name: "DNS shows every interface", dns: []string{"10.0.0.3", "10.0.0.2", "10.0.0.1"}, want: mock.Addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"),
			agreement: &Agreement{Interfaces: 3, SeenByDNS: 3}},
		{name: "DNS failed: the interfaces, partial", dnsErr: dnsErr, want: mock.Addrs("10.0.0.1", "10.0.0.2", "10.0.0.3"), partial: "SERVFAIL"},
		{name: "interfaces failed: DNS, partial", dns: []string{"10.0.0.1"}, ifErr: ifErr, want: mock.Addrs("10.0.0.1"), partial: "throttled"},
		{name: "both failed", dnsErr: dnsErr, ifErr: ifErr, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mock.NewAnswers("logs.example.internal", tc.dns...)
			if tc.dnsErr != nil {
				d.Fail(tc.dnsErr)
			}
			src := Union(d, &interfaces{name: "network interfaces of logs", byID: eni, err: tc.ifErr})
			if got := src.String(); got != "logs.example.internal + network interfaces of logs" {
				t.Errorf("String() = %q", got)
			}
			a, err := src.Resolve(context.Background())
			if tc.err {
				if err == nil || !errors.Is(err, dnsErr) || !errors.Is(err, ifErr) {
					t.Fatalf("err = %v, want both failures", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Addrs, tc.want) {
				t.Errorf("addrs = %v, want %v", a.Addrs, tc.want)
			}
			switch {
			case tc.partial == "" && a.Partial != nil:
				t.Errorf("partial = %v", a.Partial)
			case tc.partial != "" && (a.Partial == nil || !strings.Contains(a.Partial.Error(), tc.partial)):
				t.Errorf("partial = %v, want %q", a.Partial, tc.partial)
			}
			if (a.Agreement == nil) != (tc.agreement == nil) || a.Agreement != nil &&
				(!slices.Equal(a.Agreement.DNSOnly, tc.agreement.DNSOnly) || a.Agreement.Interfaces != tc.agreement.Interfaces || a.Agreement.SeenByDNS != tc.agreement.SeenByDNS) {
				t.Errorf("agreement = %+v, want %+v", a.Agreement, tc.agreement)
			}
			if tc.ifErr == nil && a.Interfaces[netip.MustParseAddr("10.0.0.2")] != "eni-2" {
				t.Errorf("interfaces = %v", a.Interfaces)
			}
			if tc.dnsErr == nil && a.TTL != time.Minute {
				t.Errorf("TTL = %s, want DNS's minute", a.TTL)
			}
		})
	}
	if Union(nil, mock.NewAnswers("x")).String() != "x" || Union(mock.NewAnswers("y"), nil).String() != "y" {
		t.Error("a union with one source is that source")
	}
}

func TestAgreementShare(t *testing.T) {
	for _, tc := range []struct {
		a    Agreement
		want float64
	}{{Agreement{Interfaces: 12, SeenByDNS: 8}, 8.0 / 12}, {Agreement{Interfaces: 0}, 1}, {Agreement{Interfaces: 3, SeenByDNS: 3}, 1}} {
		if got := tc.a.Share(); got != tc.want {
			t.Errorf("%+v: share %g, want %g", tc.a, got, tc.want)
		}
	}
}

// TestPlanPartialAnswer: an answer some of whose sources failed registers
// what it holds, and removes nothing, counts no miss, forgets no
// ownership, whatever the grace says.
func TestPlanPartialAnswer(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	p.WaitForHealthy = 0 // the removal does not wait for 10.0.0.2's health
	stale := Target{IP: netip.MustParseAddr("10.0.0.9"), Port: 443}
	kept := Target{IP: netip.MustParseAddr("10.0.0.1"), Port: 443}
	due := Miss{Count: 5, Since: t0.Add(-10 * time.Minute), Last: t0.Add(-time.Minute)}
	state := BindingState{
		Owned:  map[Target]time.Time{stale: t0.Add(-time.Hour), kept: t0.Add(-time.Hour)},
		Misses: map[Target]Miss{stale: due, kept: {Count: 1, Since: t0.Add(-time.Minute), Last: t0.Add(-time.Minute)}},
	}
	observed := []ObservedTarget{{Target: stale, State: HealthHealthy}, {Target: kept, State: HealthHealthy}}
	for _, tc := range []struct {
		name    string
		partial error
		dereg   int
	}{
		{"full answer: the stale target leaves", nil, 1},
		{"partial answer: nothing leaves", errors.New("logs.example.internal failed: SERVFAIL"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Desired{Source: "logs + interfaces", Ports: []uint16{443},
				Answer: Answer{Addrs: mock.Addrs("10.0.0.1", "10.0.0.2"), Partial: tc.partial}}
			out := Plan(d, observed, state, p, t0)
			if len(out.Deregister) != tc.dereg {
				t.Fatalf("deregister = %v, want %d", out.Deregister, tc.dereg)
			}
			if len(out.Register) != 1 || out.Register[0].Target.IP != netip.MustParseAddr("10.0.0.2") {
				t.Fatalf("register = %v, want 10.0.0.2", out.Register)
			}
			if tc.partial == nil {
				return
			}
			if m := out.Next.Misses[stale]; m != due {
				t.Errorf("miss of the stale target = %+v, want it unchanged %+v", m, due)
			}
			if _, ok := out.Next.Misses[kept]; ok {
				t.Error("a target the answer holds kept its miss")
			}
			if _, ok := out.Next.Owned[stale]; !ok {
				t.Error("the stale target is no longer owned")
			}
			if !slices.ContainsFunc(out.Refused, func(f Refusal) bool {
				return f.Rule == RuleSourceFailed && strings.Contains(f.Reason, "SERVFAIL") && strings.Contains(f.Reason, "removing nothing")
			}) {
				t.Errorf("refusals = %+v, want a source-failed one that names the failure", out.Refused)
			}
		})
	}
}

// unionWorld is one binding whose source unites DNS and interfaces.
func unionWorld(t *testing.T) (*world, *mock.Answers, *interfaces) {
	t.Helper()
	w := newWorld(DefaultPolicy())
	d := mock.NewAnswers("logs.example.internal")
	ifs := &interfaces{name: "network interfaces of logs", byID: map[string][]string{}}
	w.r.Bindings[0].Source = Union(d, ifs)
	return w, d, ifs
}

// TestReconcileUnion: a binding with both sources holds what either shows,
// misses a target only when both miss it, and a failed source removes
// nothing; the state remembers which interface each address came from.
func TestReconcileUnion(t *testing.T) {
	w, d, ifs := unionWorld(t)
	d.Set("10.0.0.1", "10.0.0.2")
	ifs.byID = map[string][]string{"eni-1": {"10.0.0.1"}, "eni-2": {"10.0.0.2"}, "eni-3": {"10.0.0.3"}}
	res := w.run(t)
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443"}) {
		t.Fatalf("members = %v, want what either source shows", got)
	}
	if a := res.Bindings[0].Answer.Agreement; a == nil || a.Interfaces != 3 || a.SeenByDNS != 2 {
		t.Fatalf("agreement = %+v", a)
	}
	st, _, _ := w.store.Load(context.Background())
	if got := st.BindingsWithInterface("eni-3"); !slices.Equal(got, []string{"db"}) {
		t.Fatalf("bindings with eni-3 = %v", got)
	}

	// DNS drops 10.0.0.2, the interfaces still hold it: no miss.
	d.Set("10.0.0.1")
	res = w.run(t)
	if p := res.Bindings[0].Plan.Pending; len(p) != 0 {
		t.Fatalf("pending = %+v, want none: the interfaces hold every target", p)
	}

	// The interfaces fail: DNS's address stays, nothing is missed, and
	// the binding fails.
	ifs.err = errors.New("throttled")
	d.Set("10.0.0.1")
	for range 5 {
		res = w.run(t)
	}
	b := res.Bindings[0]
	if !b.Failed() || !strings.Contains(b.Err.Error(), "throttled") {
		t.Fatalf("binding err = %v, want the failure of the interfaces", b.Err)
	}
	if got := w.groups.Members(arnA); len(got) != 3 {
		t.Fatalf("members = %v: a failed source removed a target", got)
	}
	st, _, _ = w.store.Load(context.Background())
	if n := len(st.Bindings["db"].Misses); n != 0 {
		t.Fatalf("misses = %v, want none while a source fails", st.Bindings["db"].Misses)
	}
	if got := st.BindingsWithInterface("eni-3"); !slices.Equal(got, []string{"db"}) {
		t.Fatalf("bindings with eni-3 = %v, want db still: a partial answer keeps the interfaces", got)
	}

	// Both answer again without 10.0.0.3: it is missed, and leaves after
	// its grace.
	ifs.err = nil
	ifs.byID = map[string][]string{"eni-1": {"10.0.0.1"}, "eni-2": {"10.0.0.2"}}
	for range 4 {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.2:443"}) {
		t.Fatalf("members = %v, want 10.0.0.3 gone after both sources missed it", got)
	}
	st, _, _ = w.store.Load(context.Background())
	if got := st.BindingsWithInterface("eni-3"); len(got) != 0 {
		t.Fatalf("bindings with eni-3 = %v after it left every answer", got)
	}
}

// TestSharedCallsPerRun: sources of different bindings that ask the same
// question in one run share one call; the next run asks again.
func TestSharedCallsPerRun(t *testing.T) {
	var calls atomic.Int64
	shared := func(name, key string) Source {
		return &mock.Source{Name: name, ResolveFn: func(ctx context.Context) (Answer, error) {
			return Shared(ctx, key, func(context.Context) (Answer, error) {
				calls.Add(1)
				return Answer{Addrs: mock.Addrs("10.0.0.1")}, nil
			})
		}}
	}
	w := newWorld(DefaultPolicy())
	p := DefaultPolicy()
	p.Shared = true
	w.r.Bindings = []Binding{
		{Name: "a", Source: shared("a", "lb-1"), TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
		{Name: "b", Source: shared("b", "lb-1"), TargetGroupARN: arnB, Ports: []uint16{443}, Policy: p},
		{Name: "c", Source: shared("c", "lb-2"), TargetGroupARN: arnB, Ports: []uint16{443}, Policy: p},
	}
	w.run(t)
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls in one run, want 2: one per distinct question", n)
	}
	w.run(t)
	if n := calls.Load(); n != 4 {
		t.Fatalf("%d calls after two runs, want 4", n)
	}
	if _, err := Shared(context.Background(), "k", func(context.Context) (int, error) { calls.Add(1); return 1, nil }); err != nil || calls.Load() != 5 {
		t.Fatal("outside a run every call is made")
	}
}

// TestPartialAnswerKeepsClaims: while some of a shared binding's sources
// fail, the targets of its last full answer stay claimed, so that another
// binding of the group does not remove one the failed source showed.
func TestPartialAnswerKeepsClaims(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	d := mock.NewAnswers("logs.example.internal", "10.0.0.1", "10.0.0.2")
	ifs := &interfaces{name: "interfaces", byID: map[string][]string{"eni-1": {"10.0.0.1"}}}
	other := mock.NewAnswers("other.example.internal", "10.0.0.2")
	w := newWorld(p)
	w.r.Bindings = []Binding{
		{Name: "logs", Source: Union(d, ifs), TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
		{Name: "other", Source: other, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
	}
	w.run(t)
	// other no longer wants 10.0.0.2, and logs' DNS, which showed it,
	// fails: logs' last answer still claims it.
	other.Set("10.0.0.3")
	d.Fail(errors.New("SERVFAIL"))
	for range 6 {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Contains(got, "10.0.0.2:443") {
		t.Fatalf("members = %v: 10.0.0.2 left while the source that showed it failed", got)
	}
}
