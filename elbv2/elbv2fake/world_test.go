package elbv2fake

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// These tests stand in for AWS target health as DescribeTargetHealth shows
// it over time, which moto cannot show: it reports every target healthy at
// once and removes deregistered targets immediately.

const testARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/test/0123456789abcdef"

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestWorld returns a world on a manual clock with one group and a
// prober the test can flip.
func newTestWorld(t *testing.T, spec GroupSpec, opts Options) (*World, *ManualClock) {
	t.Helper()
	clock := NewManualClock(t0)
	w := New(clock, opts)
	if spec.Port == 0 {
		spec.Port = 443
	}
	if err := w.CreateTargetGroup(testARN, spec); err != nil {
		t.Fatal(err)
	}
	return w, clock
}

// stateOf returns the state and reason DescribeTargetHealth gives one
// target, "" when it is gone.
func stateOf(t *testing.T, w *World, target tgsync.Target) (tgsync.HealthState, string) {
	t.Helper()
	out, err := describeTargets(context.Background(), w, testARN)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range out.TargetHealthDescriptions {
		if aws.ToString(d.Target.Id) == target.IP.String() && aws.ToInt32(d.Target.Port) == int32(target.Port) {
			return tgsync.HealthState(d.TargetHealth.State), string(d.TargetHealth.Reason)
		}
	}
	return "", ""
}

func TestHealthStateMachine(t *testing.T) {
	target := mock.Target("10.0.0.1:443")
	var alive atomic.Bool
	register := func(t *testing.T, w *World) {
		if err := register(context.Background(), w, testARN, "", target); err != nil {
			t.Fatal(err)
		}
	}
	deregister := func(t *testing.T, w *World) {
		if err := deregister(context.Background(), w, testARN, "", target); err != nil {
			t.Fatal(err)
		}
	}
	dies := func(*testing.T, *World) { alive.Store(false) }
	recovers := func(*testing.T, *World) { alive.Store(true) }
	detach := func(t *testing.T, w *World) {
		if err := w.SetAttached(testARN, false); err != nil {
			t.Fatal(err)
		}
	}
	attach := func(t *testing.T, w *World) {
		if err := w.SetAttached(testARN, true); err != nil {
			t.Fatal(err)
		}
	}
	type step struct {
		advance time.Duration
		do      func(*testing.T, *World)
		state   tgsync.HealthState // "" means not in the group
		reason  string
	}
	tests := []struct {
		name  string
		spec  GroupSpec
		alive bool
		steps []step
	}{
		{"initial then healthy", GroupSpec{}, true, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{9 * time.Second, nil, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{time.Second, nil, tgsync.HealthHealthy, ""},
			{time.Hour, nil, tgsync.HealthHealthy, ""},
		}},
		{"initial then unhealthy by the prober", GroupSpec{}, false, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{10 * time.Second, nil, tgsync.HealthUnhealthy, ReasonTimeout},
		}},
		{"unhealthy reason from the spec", GroupSpec{UnhealthyReason: ReasonFailedHealthChecks}, false, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{10 * time.Second, nil, tgsync.HealthUnhealthy, ReasonFailedHealthChecks},
		}},
		{"healthy, node dies, recovers", GroupSpec{HealthyAfter: 30 * time.Second}, true, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{30 * time.Second, nil, tgsync.HealthHealthy, ""},
			{time.Minute, dies, tgsync.HealthUnhealthy, ReasonTimeout},
			{time.Minute, recovers, tgsync.HealthHealthy, ""},
		}},
		{"deregister drains for the delay then leaves", GroupSpec{}, true, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{10 * time.Second, nil, tgsync.HealthHealthy, ""},
			{0, deregister, tgsync.HealthDraining, ReasonDeregistrationInProgress},
			{299 * time.Second, nil, tgsync.HealthDraining, ReasonDeregistrationInProgress},
			{time.Second, nil, "", ""},
		}},
		{"draining target registered again is health checked again", GroupSpec{DrainDelay: time.Minute}, true, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{10 * time.Second, nil, tgsync.HealthHealthy, ""},
			{0, deregister, tgsync.HealthDraining, ReasonDeregistrationInProgress},
			{30 * time.Second, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{10 * time.Second, nil, tgsync.HealthHealthy, ""},
			{time.Hour, nil, tgsync.HealthHealthy, ""},
		}},
		{"registering a registered target changes nothing", GroupSpec{}, true, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{8 * time.Second, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{2 * time.Second, nil, tgsync.HealthHealthy, ""},
			{0, register, tgsync.HealthHealthy, ""},
		}},
		{"no deregistration delay", GroupSpec{DrainDelay: -1}, true, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{0, deregister, "", ""},
		}},
		{"no initial period", GroupSpec{HealthyAfter: -1}, true, []step{
			{0, register, tgsync.HealthHealthy, ""},
		}},
		{"detached group is unused, attaching restarts checks", GroupSpec{}, true, []step{
			{0, register, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{20 * time.Second, detach, tgsync.HealthUnused, ReasonNotInUse},
			{time.Minute, attach, tgsync.HealthInitial, ReasonRegistrationInProgress},
			{10 * time.Second, nil, tgsync.HealthHealthy, ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alive.Store(tc.alive)
			w, clock := newTestWorld(t, tc.spec, Options{Prober: func(context.Context, tgsync.Target) bool { return alive.Load() }})
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				if s.do != nil {
					s.do(t, w)
				}
				state, reason := stateOf(t, w, target)
				if state != s.state || reason != s.reason {
					t.Fatalf("step %d at +%s: got %q/%q, want %q/%q", i, clock.Now().Sub(t0), state, reason, s.state, s.reason)
				}
			}
		})
	}
}

func TestTwoPortsOfOneIPAreTwoTargets(t *testing.T) {
	w, clock := newTestWorld(t, GroupSpec{}, Options{})
	ctx := context.Background()
	a, b := mock.Target("10.0.0.1:80"), mock.Target("10.0.0.1:443")
	if err := register(ctx, w, testARN, "", b, a); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	if err := deregister(ctx, w, testARN, "", a); err != nil {
		t.Fatal(err)
	}
	got := w.Targets(testARN)
	want := []struct {
		target tgsync.Target
		state  tgsync.HealthState
	}{{a, tgsync.HealthDraining}, {b, tgsync.HealthHealthy}}
	if len(got) != len(want) {
		t.Fatalf("got %d targets %v, want 2", len(got), got)
	}
	for i := range want {
		if got[i].Target != want[i].target || got[i].State != want[i].state {
			t.Errorf("target %d: got %s %s, want %s %s", i, got[i].Target, got[i].State, want[i].target, want[i].state)
		}
		if got[i].AvailabilityZone == "" || got[i].AvailabilityZone == tgsync.AvailabilityZoneAll {
			t.Errorf("target %s: zone %q, want a detected zone", got[i].Target, got[i].AvailabilityZone)
		}
	}
}

func TestDescribeIsSortedWithDescriptions(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{}, Options{})
	in := []tgsync.Target{mock.Target("10.0.0.10:443"), mock.Target("10.0.0.2:443"), mock.Target("[fd00::1]:443"), mock.Target("10.0.0.2:80")}
	if err := register(context.Background(), w, testARN, "", in...); err != nil {
		t.Fatal(err)
	}
	out, err := describeTargets(context.Background(), w, testARN)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range out.TargetHealthDescriptions {
		ap := netip.AddrPortFrom(netip.MustParseAddr(aws.ToString(d.Target.Id)), uint16(aws.ToInt32(d.Target.Port)))
		got = append(got, ap.String())
		if h := d.TargetHealth; h.State != types.TargetHealthStateEnumInitial || h.Reason != types.TargetHealthReasonEnumRegistrationInProgress ||
			aws.ToString(h.Description) != "Target registration is in progress" {
			t.Errorf("%s: health %s %s %q", ap, h.State, h.Reason, aws.ToString(h.Description))
		}
		if aws.ToString(d.HealthCheckPort) != fmt.Sprint(ap.Port()) || !strings.HasPrefix(aws.ToString(d.Target.AvailabilityZone), "us-east-1") {
			t.Errorf("%s: health check port %q, zone %q", ap, aws.ToString(d.HealthCheckPort), aws.ToString(d.Target.AvailabilityZone))
		}
	}
	want := []string{"10.0.0.2:80", "10.0.0.2:443", "10.0.0.10:443", "[fd00::1]:443"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestHistoryAndCalls(t *testing.T) {
	w, clock := newTestWorld(t, GroupSpec{DrainDelay: time.Minute}, Options{})
	ctx := context.Background()
	a := mock.Target("10.0.0.1:443")
	if err := register(ctx, w, testARN, "", a); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	w.Targets(testARN) // probes without counting a call
	if err := deregister(ctx, w, testARN, "", a); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	if _, err := describeTargets(ctx, w, testARN); err != nil {
		t.Fatal(err)
	}
	type ev struct {
		at     time.Duration
		action string
		state  tgsync.HealthState
	}
	var got []ev
	for _, e := range w.History() {
		if e.Target != a || e.ARN != testARN {
			t.Errorf("event for %s on %s", e.Target, e.ARN)
		}
		got = append(got, ev{e.Time.Sub(t0), e.Action, e.State})
	}
	want := []ev{
		{0, ActionRegister, tgsync.HealthInitial},
		{10 * time.Second, EventHealth, tgsync.HealthHealthy},
		{10 * time.Second, ActionDeregister, tgsync.HealthDraining},
		{70 * time.Second, EventDrained, ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("history\n got %v\nwant %v", got, want)
	}
	calls := w.Calls()
	wantCalls := map[string]int{ActionRegister: 1, ActionDeregister: 1, ActionDescribe: 1}
	for k, v := range wantCalls {
		if calls[k] != v {
			t.Errorf("calls[%s] = %d, want %d (all: %v)", k, calls[k], v, calls)
		}
	}
	w.ResetCalls()
	w.ResetHistory()
	if n := len(w.Calls()) + len(w.History()); n != 0 {
		t.Errorf("after reset: %v %v", w.Calls(), w.History())
	}
}

func TestGroupAdministration(t *testing.T) {
	w := New(nil, Options{})
	tests := []struct {
		name string
		arn  string
		spec GroupSpec
		ok   bool
	}{
		{"valid", testARN, GroupSpec{Port: 443}, true},
		{"duplicate", testARN, GroupSpec{Port: 443}, false},
		{"empty ARN", "", GroupSpec{Port: 443}, false},
		{"no port", testARN + "2", GroupSpec{}, false},
		{"bad reason", testARN + "3", GroupSpec{Port: 1, UnhealthyReason: "Target.Sad"}, false},
		{"bad prefix", testARN + "4", GroupSpec{Port: 1, VPCPrefixes: []netip.Prefix{{}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := w.CreateTargetGroup(tc.arn, tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("CreateTargetGroup: err %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if w.Targets("arn:unknown") != nil {
		t.Error("Targets of an unknown group is not nil")
	}
	if err := w.SetAttached("arn:unknown", true); err == nil {
		t.Error("SetAttached of an unknown group succeeded")
	}
	if err := w.DeleteTargetGroup(testARN); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteTargetGroup(testARN); err == nil {
		t.Error("second delete succeeded")
	}
	if _, err := describeTargets(context.Background(), w, testARN); !hasCode(err, CodeTargetGroupNotFound) {
		t.Errorf("describe of a deleted group: %v", err)
	}
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(t0)
	if got := c.Advance(time.Minute); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("Advance returned %s", got)
	}
	c.Set(t0)
	if !c.Now().Equal(t0) {
		t.Errorf("Now after Set = %s", c.Now())
	}
}

// TestConcurrentUse is for the race detector: API calls, observation and
// the clock moving at once.
func TestConcurrentUse(t *testing.T) {
	w, clock := newTestWorld(t, GroupSpec{DrainDelay: time.Second}, Options{RateLimits: &RateLimits{
		Describe: Bucket{Size: 1 << 20, PerSecond: 1}, Change: Bucket{Size: 1 << 20, PerSecond: 1}}})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, 1, byte(g)}), Port: 443}
			for range 50 {
				if err := register(ctx, w, testARN, "", target); err != nil {
					t.Error(err)
					return
				}
				if _, err := describeTargets(ctx, w, testARN); err != nil {
					t.Error(err)
					return
				}
				if err := deregister(ctx, w, testARN, "", target); err != nil {
					t.Error(err)
					return
				}
				clock.Advance(100 * time.Millisecond)
				w.Targets(testARN)
				w.Calls()
				w.History()
			}
		}()
	}
	wg.Wait()
	if got := w.Calls()[ActionRegister]; got != 400 {
		t.Errorf("RegisterTargets calls = %d, want 400", got)
	}
}
