package elbv2fake

import (
	"context"
	"testing"
	"time"

	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/tgsync/tgsync/internal/mock"
)

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
			target := mock.Target("10.0.0.1:443")
			call := func(action string) error {
				switch action {
				case ActionDescribe:
					_, err := describeTargets(ctx, w, testARN)
					return err
				case ActionDescribeGroups:
					_, err := w.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{testARN}})
					return err
				case ActionRegister:
					return register(ctx, w, testARN, "", target)
				}
				// Deregistering an absent target is InvalidTarget, which
				// is not throttling; what matters is the bucket.
				err := deregister(ctx, w, testARN, "", target)
				if hasCode(err, CodeInvalidTarget) {
					return nil
				}
				return err
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
