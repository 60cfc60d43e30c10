package mock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

func addrStrings(a tgsync.Answer) []string {
	var out []string
	for _, ip := range a.Addrs {
		out = append(out, ip.String())
	}
	return out
}

func TestAnswers(t *testing.T) {
	servfail := errors.New("SERVFAIL")
	tests := []struct {
		name  string
		setup func(a *Answers)
		want  []string // each Resolve's addresses, or "error"
	}{
		{"as made", func(*Answers) {}, []string{"10.0.0.1", "10.0.0.1"}},
		{"set", func(a *Answers) { a.Set("10.0.0.2", "10.0.0.3") }, []string{"10.0.0.2 10.0.0.3", "10.0.0.2 10.0.0.3"}},
		{"set nothing", func(a *Answers) { a.Set() }, []string{"", ""}},
		{"script repeats its last answer", func(a *Answers) { a.Script([]string{"10.0.0.4"}, []string{"10.0.0.5"}) },
			[]string{"10.0.0.4", "10.0.0.5", "10.0.0.5"}},
		{"fail", func(a *Answers) { a.Fail(servfail) }, []string{"error", "error"}},
		{"set after fail", func(a *Answers) { a.Fail(servfail); a.Set("10.0.0.6") }, []string{"10.0.0.6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAnswers("db.example.internal", "10.0.0.1")
			tc.setup(a)
			var got []string
			for range tc.want {
				ans, err := a.Resolve(context.Background())
				switch {
				case errors.Is(err, servfail):
					got = append(got, "error")
					continue
				case err != nil:
					t.Fatal(err)
				}
				if ans.TTL != time.Minute || ans.Queries != 1 {
					t.Errorf("answer TTL %s in %d queries, want 1m0s in 1", ans.TTL, ans.Queries)
				}
				got = append(got, strings.Join(addrStrings(ans), " "))
			}
			if !slices.Equal(got, tc.want) || a.String() != "db.example.internal" {
				t.Errorf("%s answered %q, want %q", a, got, tc.want)
			}
		})
	}
}

func TestFixed(t *testing.T) {
	s := Fixed("search.internal", "10.0.0.11", "10.0.0.12")
	for range 2 {
		a, err := s.Resolve(context.Background())
		if err != nil || !slices.Equal(addrStrings(a), []string{"10.0.0.11", "10.0.0.12"}) || a.TTL != time.Minute {
			t.Fatalf("Resolve = %+v, %v", a, err)
		}
		a.Addrs[0] = a.Addrs[1] // the caller's copy
	}
	if s.String() != "search.internal" {
		t.Errorf("name %q", s)
	}
}

const arn = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/a/1"

func change(s, zone string) tgsync.Change {
	return tgsync.Change{Target: Target(s), AvailabilityZone: zone}
}

func TestMemGroups(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		joined    tgsync.HealthState
		wantState tgsync.HealthState
	}{
		{"healthy at once, as moto", "", tgsync.HealthHealthy},
		{"initial, as AWS", tgsync.HealthInitial, tgsync.HealthInitial},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewMemGroups(arn)
			g.Joined, g.JoinedReason, g.Zone = tc.joined, "Elb.RegistrationInProgress", "us-east-1a"
			g.Put(arn, Target("10.0.0.9:443"), tgsync.HealthDraining)
			if _, err := g.Register(ctx, arn, []tgsync.Change{change("10.0.0.1:443", ""), change("10.0.0.2:443", "all")}); err != nil {
				t.Fatal(err)
			}
			got, err := g.Describe(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			want := []tgsync.ObservedTarget{
				{Target: Target("10.0.0.1:443"), AvailabilityZone: "us-east-1a", State: tc.wantState, Reason: "Elb.RegistrationInProgress"},
				{Target: Target("10.0.0.2:443"), AvailabilityZone: "all", State: tc.wantState, Reason: "Elb.RegistrationInProgress"},
				{Target: Target("10.0.0.9:443"), AvailabilityZone: "us-east-1a", State: tgsync.HealthDraining},
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Describe =\n %+v\nwant\n %+v", got, want)
			}
			if _, err := g.Deregister(ctx, arn, []tgsync.Change{change("10.0.0.1:443", "")}); err != nil {
				t.Fatal(err)
			}
			if m := g.Members(arn); !slices.Equal(m, []string{"10.0.0.2:443", "10.0.0.9:443"}) {
				t.Errorf("after deregistering: %v", m)
			}
			calls := map[string]int{ActionDescribe: 1, ActionRegister: 1, ActionDeregister: 1}
			if fmt.Sprint(g.Calls()) != fmt.Sprint(calls) {
				t.Errorf("calls %v, want %v", g.Calls(), calls)
			}
			g.ResetCalls()
			if len(g.Calls()) != 0 {
				t.Errorf("calls after a reset: %v", g.Calls())
			}
		})
	}
}

func TestMemGroupsUnknownGroup(t *testing.T) {
	ctx := context.Background()
	g := NewMemGroups()
	for name, call := range map[string]func() error{
		"describe": func() error { _, err := g.Describe(ctx, arn); return err },
		"register": func() error { _, err := g.Register(ctx, arn, []tgsync.Change{change("10.0.0.1:443", "")}); return err },
		"deregister": func() error {
			_, err := g.Deregister(ctx, arn, []tgsync.Change{change("10.0.0.1:443", "")})
			return err
		},
	} {
		if err := call(); err == nil || err.Error() != "target group "+arn+" not found" {
			t.Errorf("%s of an unknown group: %v", name, err)
		}
	}
	if m := g.Members(arn); len(m) != 0 {
		t.Errorf("a call made the group: %v", m)
	}
}

func TestMemStore(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		lose      int
		wantSaved []bool // for each save from the revision loaded just before
		wantSaves int
	}{
		{0, []bool{true, true}, 2},
		{1, []bool{false, true}, 1},
		{3, []bool{false, false, false, true}, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.lose), func(t *testing.T) {
			s := NewMemStore()
			s.LoseSaves(tc.lose)
			var got []bool
			for range tc.wantSaved {
				st, rev, err := s.Load(ctx)
				if err != nil {
					t.Fatal(err)
				}
				st.Binding("db").LastError = "x"
				_, err = s.Save(ctx, st, rev)
				if err != nil && !errors.Is(err, tgsync.ErrConflict) {
					t.Fatal(err)
				}
				got = append(got, err == nil)
			}
			if !slices.Equal(got, tc.wantSaved) {
				t.Errorf("saved %v, want %v", got, tc.wantSaved)
			}
			if s.Saves() != tc.wantSaves {
				t.Errorf("%d saves counted, want %d", s.Saves(), tc.wantSaves)
			}
		})
	}
}

func TestMemStoreOtherWriter(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	if _, err := s.Save(ctx, tgsync.NewState(), ""); err != nil {
		t.Fatal(err)
	}
	before, rev, _ := s.Load(ctx)
	if err := s.OtherWriter(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, before, rev); !errors.Is(err, tgsync.ErrConflict) {
		t.Errorf("save after another writer: %v, want a conflict", err)
	}
	if after := s.Snapshot(); !after.Equal(before) || s.Saves() != 1 || s.Revision() != "2" {
		t.Errorf("the other writer changed the state, or was counted: saves %d, revision %q", s.Saves(), s.Revision())
	}
}

// TestOf: each Of mock passes every call to its base, and one function
// replaced changes only that call.
func TestOf(t *testing.T) {
	ctx := context.Background()
	groups := NewMemGroups(arn)
	g := TargetGroupsOf(groups)
	g.DescribeFn = func(context.Context, string) ([]tgsync.ObservedTarget, error) { return nil, errors.New("throttled") }
	if _, err := g.Register(ctx, arn, []tgsync.Change{change("10.0.0.1:443", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Deregister(ctx, arn, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Describe(ctx, arn); err == nil {
		t.Error("the replaced describe was not called")
	}
	if c := groups.Calls(); c[ActionRegister] != 1 || c[ActionDeregister] != 1 || c[ActionDescribe] != 0 {
		t.Errorf("base calls %v", c)
	}

	mem := NewMemStore()
	s := StoreOf(mem)
	if _, err := s.Save(ctx, tgsync.NewState(), ""); err != nil || mem.Saves() != 1 {
		t.Fatalf("save through StoreOf: %v, %d saves", err, mem.Saves())
	}
	if _, rev, err := s.Load(ctx); err != nil || rev != "1" {
		t.Errorf("load through StoreOf: revision %q, %v", rev, err)
	}

	src := SourceOf(NewAnswers("db", "10.0.0.1"))
	if a, err := src.Resolve(ctx); err != nil || src.String() != "db" || len(a.Addrs) != 1 {
		t.Errorf("SourceOf: %s answered %+v, %v", src, a, err)
	}
}
