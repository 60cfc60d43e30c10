package elbv2fake

import (
	"context"
	"errors"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
)

// adapter is the real elbv2 adapter on w, as tgsync runs it, with its
// client-side rate limits lifted so that only the world throttles.
func adapter(w *World) *elbv2.Adapter {
	return elbv2.New(w, elbv2.Unlimited())
}

// count turns what Register or Deregister returned into how many targets
// were applied.
func count(applied []tgsync.Change, err error) (int, error) { return len(applied), err }

// targets returns n distinct targets 10.0.x.y:443 inside 10.0.0.0/16.
func targets(n int) []tgsync.Target {
	out := make([]tgsync.Target, n)
	for i := range out {
		out[i] = tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)}), Port: 443}
	}
	return out
}

func changes(ts []tgsync.Target) []tgsync.Change {
	out := make([]tgsync.Change, len(ts))
	for i, t := range ts {
		out[i] = tgsync.Change{Action: tgsync.ActionDeregister, Target: t}
	}
	return out
}

// The world's API, called directly as another ELB client would.

func describeTargets(ctx context.Context, w *World, arn string) (*elb.DescribeTargetHealthOutput, error) {
	return w.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
}

func register(ctx context.Context, w *World, arn, zone string, ts ...tgsync.Target) error {
	_, err := w.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: zoned(zone, ts)})
	return err
}

func deregister(ctx context.Context, w *World, arn, zone string, ts ...tgsync.Target) error {
	_, err := w.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: zoned(zone, ts)})
	return err
}

func zoned(zone string, ts []tgsync.Target) []types.TargetDescription {
	ds := Descriptions(ts...)
	for i := range ds {
		if zone != "" {
			ds[i].AvailabilityZone = aws.String(zone)
		}
	}
	return ds
}

func hasCode(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}
