package elbv2

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

const (
	fakeARN   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fake/0000000000000001"
	fakeOther = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fake/0000000000000002"
)

func fakeAdapter(f *fakeELB, opts Options) *Adapter {
	if opts.DescribeRate == 0 {
		opts.DescribeRate = rate.Inf
	}
	if opts.ChangeRate == 0 {
		opts.ChangeRate = rate.Inf
	}
	return New(f, opts)
}

// TestAZRule covers rule 7 against the AWS behaviour the fake stands in
// for: RegisterTargets refuses an IP outside the VPC without a zone, and
// refuses "all" for an IP inside it.
func TestAZRule(t *testing.T) {
	tests := []struct {
		name      string
		message   string
		register  []string
		azAll     bool
		wantCalls int
		wantUsed  bool
		wantZones map[string]string
	}{
		{
			name:      "outside the VPC: retried with all",
			register:  []string{"192.168.1.10:443", "192.168.1.11:443"},
			wantCalls: 2,
			wantUsed:  true,
			wantZones: map[string]string{"192.168.1.10:443": "all", "192.168.1.11:443": "all"},
		},
		{
			name:      "outside the VPC, the other AWS wording",
			message:   "You must specify a valid Availability Zone or select 'all' for all enabled Availability zones, since the IP address '%s' is outside the VPC",
			register:  []string{"172.16.0.5:443"},
			wantCalls: 2,
			wantUsed:  true,
			wantZones: map[string]string{"172.16.0.5:443": "all"},
		},
		{
			name:      "azAll sends all from the start",
			register:  []string{"192.168.1.10:443"},
			azAll:     true,
			wantCalls: 1,
			wantUsed:  true,
			wantZones: map[string]string{"192.168.1.10:443": "all"},
		},
		{
			name:      "inside the VPC: no zone",
			register:  []string{"10.0.1.10:443", "10.0.2.10:443"},
			wantCalls: 1,
			wantZones: map[string]string{"10.0.1.10:443": "us-east-1a", "10.0.2.10:443": "us-east-1a"},
		},
		{
			// none: required; all: refused; then one by one: 10.0.1.10
			// without a zone, 192.168.1.10 without (required) and with all.
			name:      "a batch spanning the VPC boundary goes one by one",
			register:  []string{"10.0.1.10:443", "192.168.1.10:443"},
			wantCalls: 5,
			wantUsed:  true,
			wantZones: map[string]string{"10.0.1.10:443": "us-east-1a", "192.168.1.10:443": "all"},
		},
		{
			// all: refused; one by one: 10.0.1.10 without a zone,
			// 10.0.1.11 likewise.
			name:      "azAll with addresses inside the VPC",
			register:  []string{"10.0.1.10:443", "10.0.1.11:443"},
			azAll:     true,
			wantCalls: 3,
			wantZones: map[string]string{"10.0.1.10:443": "us-east-1a", "10.0.1.11:443": "us-east-1a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeELB()
			if tc.message != "" {
				f.azMessage = tc.message
			}
			f.addGroup(fakeARN, "ip", 443)
			a := fakeAdapter(f, Options{})
			done, used, err := mock.RegisterTargets(context.Background(), a, fakeARN, targets(t, tc.register...), tc.azAll)
			if err != nil || done != len(tc.register) || used != tc.wantUsed {
				t.Fatalf("Register = %d, %v, %v; want %d, %v, nil", done, used, err, len(tc.register), tc.wantUsed)
			}
			if got := f.count("RegisterTargets"); got != tc.wantCalls {
				t.Errorf("RegisterTargets calls = %d, want %d", got, tc.wantCalls)
			}
			if got := f.zones(fakeARN); !maps.Equal(got, tc.wantZones) {
				t.Errorf("zones = %v, want %v", got, tc.wantZones)
			}
			obs, err := a.Describe(context.Background(), fakeARN)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range obs {
				if o.AvailabilityZone != tc.wantZones[o.Target.String()] {
					t.Errorf("Describe: %s in zone %q, want %q", o.Target, o.AvailabilityZone, tc.wantZones[o.Target.String()])
				}
			}
		})
	}
}

func TestAZRuleRememberedPerGroup(t *testing.T) {
	f := newFakeELB()
	f.addGroup(fakeARN, "ip", 443)
	f.addGroup(fakeOther, "ip", 443)
	a := fakeAdapter(f, Options{})
	ctx := context.Background()
	steps := []struct {
		arn       string
		target    string
		wantCalls int // RegisterTargets calls this step
	}{
		{fakeARN, "192.168.1.10:443", 2},   // learns that the group needs all
		{fakeARN, "192.168.1.11:443", 1},   // remembered: all at once
		{fakeOther, "192.168.1.12:443", 2}, // another group learns for itself
		{fakeOther, "192.168.1.13:443", 1},
	}
	for i, s := range steps {
		before := f.count("RegisterTargets")
		done, used, err := mock.RegisterTargets(ctx, a, s.arn, targets(t, s.target), false)
		if err != nil || done != 1 || !used {
			t.Fatalf("step %d: Register = %d, %v, %v; want 1, true, nil", i, done, used, err)
		}
		if got := f.count("RegisterTargets") - before; got != s.wantCalls {
			t.Errorf("step %d: %d RegisterTargets calls, want %d", i, got, s.wantCalls)
		}
	}
	last := f.registered[len(f.registered)-1]
	if last["192.168.1.13"] != "all" {
		t.Errorf("last call sent zone %q, want all", last["192.168.1.13"])
	}
}

// TestPartialFailure stands in for AWS failing one call of several (after
// the SDK's own retries, which the fake does not model): the adapter stops
// there and reports how many leading targets were done.
func TestPartialFailure(t *testing.T) {
	tests := []struct {
		name     string
		op       string
		failCall int
		err      error
		binding  string
		wantDone int
		wantCode string
		wantMsg  []string
	}{
		{
			name: "throttled on the second register batch", op: "RegisterTargets", failCall: 2,
			err:      genericError("RegisterTargets", "Throttling", "Rate exceeded"),
			wantDone: 200, wantCode: "Throttling",
			wantMsg: []string{"register 200 targets in " + fakeARN, "rate exceeded even after retries; lower the rate limits or spread the schedule"},
		},
		{
			name: "throttled on the third deregister batch", op: "DeregisterTargets", failCall: 3,
			err:      genericError("DeregisterTargets", "Throttling", "Rate exceeded"),
			wantDone: 400, wantCode: "Throttling",
			wantMsg: []string{"deregister 50 targets from " + fakeARN, "rate exceeded even after retries"},
		},
		{
			name: "invalid target", op: "RegisterTargets", failCall: 1, binding: "kibana",
			err:      apiError("RegisterTargets", &types.InvalidTargetException{Message: aws.String("The following targets are not in a running state")}),
			wantDone: 0, wantCode: "InvalidTarget",
			wantMsg: []string{"binding kibana: register 200 targets", "AWS refused a target as invalid"},
		},
		{
			name: "quota", op: "RegisterTargets", failCall: 3,
			err:      apiError("RegisterTargets", &types.TooManyTargetsException{Message: aws.String("You've reached the limit on the number of targets.")}),
			wantDone: 400, wantCode: "TooManyTargets",
			wantMsg: []string{"quota of targets (1,000 per target group"},
		},
		{
			name: "access denied", op: "DeregisterTargets", failCall: 1,
			err: genericError("DeregisterTargets", "AccessDenied",
				"User: arn:aws:sts::123456789012:assumed-role/tgsync/fn is not authorized to perform: elasticloadbalancing:DeregisterTargets"),
			wantDone: 0, wantCode: "AccessDenied",
			wantMsg: []string{"access denied: the IAM policy of the caller must allow elasticloadbalancing:DeregisterTargets on " + fakeARN},
		},
		{
			name: "access denied to a describe action", op: "DescribeTargetHealth", failCall: 1,
			err: genericError("DescribeTargetHealth", "AccessDenied",
				"User: arn:aws:sts::123456789012:assumed-role/tgsync/fn is not authorized to perform: elasticloadbalancing:DescribeTargetHealth"),
			wantDone: 0, wantCode: "AccessDenied",
			wantMsg: []string{"describe target health of " + fakeARN, `must allow elasticloadbalancing:DescribeTargetHealth on Resource "*"`},
		},
		{
			name: "other validation error passes through", op: "RegisterTargets", failCall: 2,
			err:      validationError("RegisterTargets", "Port must be between 1 and 65535"),
			wantDone: 200, wantCode: "ValidationError",
			wantMsg: []string{"AWS rejected the request", "Port must be between 1 and 65535"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeELB()
			f.addGroup(fakeARN, "ip", 80)
			f.fail = func(op string, n int) error {
				if op == tc.op && n == tc.failCall {
					return tc.err
				}
				return nil
			}
			a := fakeAdapter(f, Options{Binding: func(string) string { return tc.binding }})
			ts := manyTargets(450, 80)
			var done int
			var err error
			switch tc.op {
			case "RegisterTargets":
				done, _, err = mock.RegisterTargets(context.Background(), a, fakeARN, ts, false)
			case "DescribeTargetHealth":
				_, err = a.Describe(context.Background(), fakeARN)
			default:
				f.fail = nil
				if _, _, err := mock.RegisterTargets(context.Background(), a, fakeARN, ts, false); err != nil {
					t.Fatal(err)
				}
				f.fail = func(op string, n int) error {
					if op == tc.op && n == tc.failCall {
						return tc.err
					}
					return nil
				}
				done, err = count(a.Deregister(context.Background(), fakeARN, deregistrations(ts)))
			}
			if err == nil {
				t.Fatal("no error")
			}
			if done != tc.wantDone {
				t.Errorf("done = %d, want %d", done, tc.wantDone)
			}
			if got := f.count(tc.op); got != tc.failCall {
				t.Errorf("%s calls = %d, want %d (stop at the failure)", tc.op, got, tc.failCall)
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.wantCode {
				t.Errorf("error does not unwrap to API error %s: %v", tc.wantCode, err)
			}
		})
	}
}

func TestRateLimiterHonoursContext(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, a *Adapter) (int, error)
		// lastCall is the call after which the adapter waits for a token.
		lastCall string
		wantDone int
	}{
		{
			name: "describe",
			call: func(ctx context.Context, a *Adapter) (int, error) {
				obs, err := a.Describe(ctx, fakeARN)
				return len(obs), err
			},
			lastCall: "DescribeTargetGroups",
		},
		{
			name: "register stops between batches",
			call: func(ctx context.Context, a *Adapter) (int, error) {
				done, _, err := mock.RegisterTargets(ctx, a, fakeARN, manyTargets(450, 80), false)
				return done, err
			},
			lastCall: "RegisterTargets",
			wantDone: 200,
		},
		{
			name: "deregister stops between batches",
			call: func(ctx context.Context, a *Adapter) (int, error) {
				return count(a.Deregister(ctx, fakeARN, deregistrations(manyTargets(450, 80))))
			},
			lastCall: "DeregisterTargets",
			wantDone: 200,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeELB()
			f.addGroup(fakeARN, "ip", 80)
			// The context ends during the last call the tokens allow: the
			// adapter's next step is to wait for a token.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.fail = func(op string, n int) error {
				if op == tc.lastCall && n == 1 {
					cancel()
				}
				return nil
			}
			// One token each, and the next in about three hours. The
			// metadata lookup takes the describe token.
			a := New(f, Options{DescribeRate: 1e-4, DescribeBurst: 1, ChangeRate: 1e-4, ChangeBurst: 1})
			type result struct {
				done int
				err  error
			}
			ch := make(chan result, 1)
			go func() { done, err := tc.call(ctx, a); ch <- result{done, err} }()
			select {
			case r := <-ch:
				if !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "rate limit") {
					t.Errorf("error = %v; want a rate-limit wait ended by context.Canceled", r.err)
				}
				if r.done != tc.wantDone {
					t.Errorf("done = %d, want %d", r.done, tc.wantDone)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the limiter did not give up when the context was cancelled")
			}
		})
	}

	t.Run("a deadline the limiter cannot meet fails at once", func(t *testing.T) {
		f := newFakeELB()
		f.addGroup(fakeARN, "ip", 80)
		a := New(f, Options{DescribeRate: 1e-4, DescribeBurst: 1, ChangeRate: rate.Inf})
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if _, err := a.Describe(ctx, fakeARN); err == nil || !strings.Contains(err.Error(), "describe rate limit") {
			t.Fatalf("Describe = %v; want a rate-limit error", err)
		}
		if got := f.count("DescribeTargetHealth"); got != 0 {
			t.Errorf("DescribeTargetHealth sent %d times past the limiter", got)
		}
	})
}

func TestDescribeMapping(t *testing.T) {
	f := newFakeELB()
	f.addGroup(fakeARN, "ip", 9200)
	a := fakeAdapter(f, Options{})
	ctx := context.Background()
	if _, _, err := mock.RegisterTargets(ctx, a, fakeARN, targets(t, "10.0.3.4:9200", "10.0.3.5:9300", "[fd00::5]:9200"), false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		noPorts bool
		want    []string
	}{
		{"ports as described", false, []string{"10.0.3.4:9200", "10.0.3.5:9300", "[fd00::5]:9200"}},
		{"no port falls back to the group's", true, []string{"10.0.3.4:9200", "10.0.3.5:9200", "[fd00::5]:9200"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.noPorts = tc.noPorts
			f.mu.Unlock()
			obs, err := a.Describe(ctx, fakeARN)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(obs))
			for i, o := range obs {
				got[i] = o.Target.String()
				if o.State != tgsync.HealthInitial || o.Reason != "Elb.RegistrationInProgress" ||
					o.Description != "Target registration is in progress" {
					t.Errorf("%s: %+v", o.Target, o)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("observed %v, want %v", got, tc.want)
			}
		})
	}
	// The fake reports zones as AWS does; moto reports none.
	for _, o := range mustDescribe(t, a) {
		want := "us-east-1a"
		if o.Target.IP.Is6() {
			want = "all" // fd00::5 is outside 10.0.0.0/16
		}
		if o.AvailabilityZone != want {
			t.Errorf("%s: zone %q, want %q", o.Target, o.AvailabilityZone, want)
		}
	}
}

func mustDescribe(t *testing.T, a *Adapter) []tgsync.ObservedTarget {
	t.Helper()
	obs, err := a.Describe(context.Background(), fakeARN)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func TestObserveBadDescriptions(t *testing.T) {
	tests := []struct {
		name string
		d    types.TargetHealthDescription
		want string
	}{
		{"no target", types.TargetHealthDescription{}, "has no target"},
		{"not an IP", types.TargetHealthDescription{Target: &types.TargetDescription{Id: aws.String("i-0abc")}}, `target id "i-0abc" is not an IP address`},
		{"port out of range", types.TargetHealthDescription{Target: &types.TargetDescription{Id: aws.String("10.0.0.1"), Port: aws.Int32(70000)}}, "outside 1-65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := observe(tc.d, 80); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("observe = %v; want an error containing %q", err, tc.want)
			}
		})
	}
	o, err := observe(types.TargetHealthDescription{Target: &types.TargetDescription{Id: aws.String("::ffff:10.0.0.7")}}, 80)
	if err != nil || o.Target.String() != "10.0.0.7:80" {
		t.Errorf("IPv4-mapped id: %v, %v; want 10.0.0.7:80", o.Target, err)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		call func(a *Adapter) error
		want string
	}{
		{"register a zero target", func(a *Adapter) error {
			_, _, err := mock.RegisterTargets(context.Background(), a, fakeARN, []tgsync.Target{{Port: 80}}, false)
			return err
		}, "has no valid IP address"},
		{"deregister a register change", func(a *Adapter) error {
			_, err := a.Deregister(context.Background(), fakeARN, []tgsync.Change{{Action: tgsync.ActionRegister, Target: targets(t, "10.0.0.1:80")[0]}})
			return err
		}, "is a register"},
		{"deregister a zero target", func(a *Adapter) error {
			_, err := a.Deregister(context.Background(), fakeARN, []tgsync.Change{{Action: tgsync.ActionDeregister}})
			return err
		}, "has no valid IP address"},
		{"describe an empty ARN", func(a *Adapter) error {
			_, err := a.Describe(context.Background(), "")
			return err
		}, "target group ARN is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeELB()
			f.addGroup(fakeARN, "ip", 80)
			a := fakeAdapter(f, Options{})
			if err := tc.call(a); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one containing %q", err, tc.want)
			}
			if got := f.count("RegisterTargets") + f.count("DeregisterTargets") + f.count("DescribeTargetHealth"); got != 0 {
				t.Errorf("%d calls sent for bad input", got)
			}
		})
	}
	// Nothing to do costs nothing.
	f := newFakeELB()
	a := fakeAdapter(f, Options{})
	if done, used, err := mock.RegisterTargets(context.Background(), a, fakeARN, nil, true); done != 0 || used || err != nil {
		t.Errorf("Register(nil) = %d, %v, %v", done, used, err)
	}
	if done, err := count(a.Deregister(context.Background(), fakeARN, nil)); done != 0 || err != nil {
		t.Errorf("Deregister(nil) = %d, %v", done, err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls for empty input: %v", f.calls)
	}
}
