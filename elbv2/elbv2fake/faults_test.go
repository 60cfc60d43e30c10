package elbv2fake

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/tgsync/tgsync/internal/mock"
)

// These tests stand in for AWS misbehaving, which moto never does on
// demand: throttling, 5xx, slow and hung calls, connection resets and
// target groups deleted behind tgsync's back.

// callAction makes one call of the action against testARN.
func callAction(ctx context.Context, w *World, action string) error {
	switch action {
	case ActionDescribe:
		_, err := describeTargets(ctx, w, testARN)
		return err
	case ActionDescribeGroups:
		_, err := w.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{testARN}})
		return err
	case ActionRegister:
		return register(ctx, w, testARN, "", mock.Target("10.0.0.1:443"))
	default:
		return deregister(ctx, w, testARN, "", mock.Target("10.0.0.1:443"))
	}
}

func TestFaultErrors(t *testing.T) {
	tests := []struct {
		kind    FaultKind
		timeout time.Duration
		check   func(error) bool
		what    string
	}{
		{FaultThrottle, 0, func(err error) bool {
			var apiErr smithy.APIError
			return hasCode(err, CodeThrottling) && errors.As(err, &apiErr) && apiErr.ErrorMessage() == "Rate exceeded" && status(err) == 400
		}, "Throttling: Rate exceeded, 400"},
		{FaultInternalError, 0, func(err error) bool {
			return hasCode(err, CodeInternalFailure) && status(err) == 500
		}, "InternalFailure, 500"},
		{FaultUnavailable, 0, func(err error) bool {
			return hasCode(err, CodeServiceUnavailable) && status(err) == 503
		}, "ServiceUnavailable, 503"},
		{FaultNotFound, 0, func(err error) bool {
			var nf *types.TargetGroupNotFoundException
			return hasCode(err, CodeTargetGroupNotFound) && errors.As(err, &nf)
		}, "TargetGroupNotFound"},
		{FaultConnReset, 0, func(err error) bool {
			var opErr *net.OpError
			var sendErr *smithyhttp.RequestSendError
			return errors.Is(err, syscall.ECONNRESET) && errors.As(err, &opErr) && errors.As(err, &sendErr)
		}, "ECONNRESET in a net.OpError in a RequestSendError"},
		{FaultHang, 20 * time.Millisecond, func(err error) bool {
			var c *smithy.CanceledError
			return errors.Is(err, context.DeadlineExceeded) && errors.As(err, &c)
		}, "canceled, context deadline exceeded"},
	}
	for _, tc := range tests {
		for _, action := range []string{ActionDescribe, ActionDescribeGroups, ActionRegister, ActionDeregister} {
			t.Run(tc.kind.String()+"/"+action, func(t *testing.T) {
				w, _ := newTestWorld(t, GroupSpec{}, Options{})
				// Deregister needs a registered target.
				if err := register(context.Background(), w, testARN, "", mock.Target("10.0.0.1:443")); err != nil {
					t.Fatal(err)
				}
				if err := w.Inject(Fault{Kind: tc.kind, Action: action, ARN: testARN, Times: 2}); err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				for i := range 2 {
					callCtx, cancel := ctx, context.CancelFunc(func() {})
					if tc.timeout > 0 {
						callCtx, cancel = context.WithTimeout(ctx, tc.timeout)
					}
					err := callAction(callCtx, w, action)
					cancel()
					if err == nil || !tc.check(err) {
						t.Fatalf("call %d: error %v, want %s", i+1, err, tc.what)
					}
				}
				if err := callAction(ctx, w, action); err != nil {
					t.Fatalf("third call after a fault of 2: %v", err)
				}
				want := 3
				if action == ActionRegister {
					want++ // the setup's registration
				}
				if got := w.Calls()[action]; got != want {
					t.Errorf("%s calls = %d, want %d: failed calls count", action, got, want)
				}
			})
		}
	}
}

func status(err error) int {
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) {
		return 0
	}
	return respErr.HTTPStatusCode()
}

func TestFaultSelection(t *testing.T) {
	other := testARN + "-other"
	tests := []struct {
		name  string
		fault Fault
		// want is, per call in order, whether it fails.
		calls []string
		arns  []string
		want  []bool
	}{
		{"one action only", Fault{Kind: FaultThrottle, Action: ActionRegister},
			[]string{ActionDescribe, ActionRegister, ActionDescribe, ActionRegister}, nil, []bool{false, true, false, true}},
		{"every action", Fault{Kind: FaultInternalError, Times: 3},
			[]string{ActionDescribe, ActionRegister, ActionDeregister, ActionDescribe}, nil, []bool{true, true, true, false}},
		{"one group only", Fault{Kind: FaultNotFound, ARN: other},
			[]string{ActionDescribe, ActionDescribe}, []string{testARN, other}, []bool{false, true}},
		{"until cleared", Fault{Kind: FaultUnavailable, Action: ActionDescribe},
			[]string{ActionDescribe, ActionDescribe, ActionDescribe}, nil, []bool{true, true, true}},
		{"every action is DescribeTargetGroups too", Fault{Kind: FaultThrottle, Times: 2},
			[]string{ActionDescribeGroups, ActionDescribe, ActionDescribeGroups}, nil, []bool{true, true, false}},
		{"one group's DescribeTargetGroups", Fault{Kind: FaultNotFound, ARN: other},
			[]string{ActionDescribeGroups, ActionDescribeGroups}, []string{testARN, other}, []bool{false, true}},
		{"a partial batch counts change calls only, and again after failing", Fault{Kind: FaultPartialBatch, Batch: 2},
			[]string{ActionRegister, ActionDescribe, ActionDescribeGroups, ActionDeregister, ActionRegister, ActionRegister},
			nil, []bool{false, false, false, true, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			if err := w.CreateTargetGroup(other, GroupSpec{Port: 443}); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, arn := range []string{testARN, other} {
				if err := register(ctx, w, arn, "", targets(10)...); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Inject(tc.fault); err != nil {
				t.Fatal(err)
			}
			for i, action := range tc.calls {
				arn := testARN
				if tc.arns != nil {
					arn = tc.arns[i]
				}
				var err error
				switch action {
				case ActionDescribe:
					_, err = describeTargets(ctx, w, arn)
				case ActionDescribeGroups:
					_, err = w.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
				case ActionRegister:
					err = register(ctx, w, arn, "", targets(1)...)
				default:
					err = deregister(ctx, w, arn, "", targets(10)[i])
				}
				if (err != nil) != tc.want[i] {
					t.Errorf("call %d (%s on %s): err %v, want failure %v", i+1, action, arn, err, tc.want[i])
				}
			}
			w.ClearFaults()
			if _, err := describeTargets(ctx, w, testARN); err != nil {
				t.Errorf("after ClearFaults: %v", err)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	tests := []struct {
		name    string
		latency time.Duration
		timeout time.Duration
		wantErr error
	}{
		{"shorter than the timeout", 5 * time.Millisecond, time.Minute, nil},
		{"longer than the timeout", time.Hour, 20 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			if err := w.Inject(Fault{Kind: FaultLatency, Latency: tc.latency}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			_, err := describeTargets(ctx, w, testARN)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Describe: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && time.Since(start) < tc.latency {
				t.Errorf("call returned after %s, before its latency %s", time.Since(start), tc.latency)
			}
		})
	}
	t.Run("adds to a failing fault", func(t *testing.T) {
		w, _ := newTestWorld(t, GroupSpec{}, Options{})
		for _, f := range []Fault{{Kind: FaultLatency, Latency: time.Hour}, {Kind: FaultThrottle}} {
			if err := w.Inject(f); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := describeTargets(ctx, w, testARN); !errors.Is(err, context.Canceled) {
			t.Errorf("Describe on a canceled context: %v", err)
		}
		if n := w.Calls()[ActionDescribe]; n != 0 {
			t.Errorf("a call on a done context was counted: %d", n)
		}
	})
}

func TestInjectRejects(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
	}{
		{"no kind", Fault{}},
		{"unknown kind", Fault{Kind: 99}},
		{"unknown action", Fault{Kind: FaultThrottle, Action: "DescribeLoadBalancers"}},
		{"negative times", Fault{Kind: FaultThrottle, Times: -1}},
		{"latency without duration", Fault{Kind: FaultLatency}},
		{"latency on another kind", Fault{Kind: FaultThrottle, Latency: time.Second}},
		{"partial batch without batch", Fault{Kind: FaultPartialBatch}},
		{"partial batch of describe", Fault{Kind: FaultPartialBatch, Action: ActionDescribe, Batch: 1}},
		{"partial batch of describe groups", Fault{Kind: FaultPartialBatch, Action: ActionDescribeGroups, Batch: 1}},
		{"batch on another kind", Fault{Kind: FaultThrottle, Batch: 2}},
	}
	w := New(nil, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := w.Inject(tc.fault); err == nil {
				t.Errorf("Inject(%+v) accepted", tc.fault)
			}
		})
	}
}

// TestThrottleBuckets stands in for AWS's per-account API throttling,
// which moto does not do: token buckets refilled over time.
func TestThrottleBuckets(t *testing.T) {
	type step struct {
		advance time.Duration
		action  string
		ok      int // calls that pass before the next one is throttled
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"describe bucket 40, refill 10/s", []step{
			{0, ActionDescribe, 40},
			{100 * time.Millisecond, ActionDescribe, 1},
			{time.Second, ActionDescribe, 10},
			{time.Hour, ActionDescribe, 40}, // the bucket holds no more than 40
		}},
		{"change bucket 20, refill 4/s, shared by register and deregister", []step{
			{0, ActionRegister, 20},
			{0, ActionDeregister, 0},
			{250 * time.Millisecond, ActionDeregister, 1},
			{time.Second, ActionRegister, 4},
			{time.Minute, ActionDeregister, 20},
		}},
		{"describe bucket shared by DescribeTargetGroups", []step{
			{0, ActionDescribeGroups, 40},
			{0, ActionDescribe, 0},
			{time.Second, ActionDescribe, 10},
		}},
		{"buckets are separate", []step{
			{0, ActionRegister, 20},
			{0, ActionDescribe, 40},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limits := AWSRateLimits()
			w, clock := newTestWorld(t, GroupSpec{DrainDelay: -1}, Options{RateLimits: &limits})
			ctx := context.Background()
			call := func(action string) error {
				// Deregistering an absent target is InvalidTarget, which
				// is not throttling; what matters is the bucket.
				if err := callAction(ctx, w, action); !hasCode(err, CodeInvalidTarget) {
					return err
				}
				return nil
			}
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				for n := range s.ok {
					if err := call(s.action); err != nil {
						t.Fatalf("step %d: call %d of %d: %v", i, n+1, s.ok, err)
					}
				}
				if err := call(s.action); !hasCode(err, CodeThrottling) {
					t.Fatalf("step %d: call %d: %v, want Throttling", i, s.ok+1, err)
				}
			}
		})
	}
}

func TestNoThrottlingByDefault(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{}, Options{})
	for i := range 500 {
		if _, err := describeTargets(context.Background(), w, testARN); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
}
