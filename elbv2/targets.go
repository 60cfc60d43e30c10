package elbv2

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync"
)

// Describe returns the members of an ip target group with their health.
// DescribeTargetHealth is not paginated: one call returns every target, so
// a steady-state Describe costs exactly one call (plus one
// DescribeTargetGroups per group per process, for the metadata).
func (a *Adapter) Describe(ctx context.Context, arn string) ([]tgsync.ObservedTarget, error) {
	md, err := a.ipTargets(ctx, arn)
	if err != nil {
		return nil, err
	}
	op := "describe target health of " + arn
	if err := a.describe.Wait(ctx); err != nil {
		return nil, fmt.Errorf("%s: waiting for the describe rate limit: %w", op, err)
	}
	out, err := a.api.DescribeTargetHealth(ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{
		TargetGroupArn: aws.String(arn),
	})
	if err != nil {
		return nil, a.mapError(op, "DescribeTargetHealth", arn, err)
	}
	observed := make([]tgsync.ObservedTarget, 0, len(out.TargetHealthDescriptions))
	for _, d := range out.TargetHealthDescriptions {
		o, err := observe(d, md.Port)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		observed = append(observed, o)
	}
	return observed, nil
}

// observe maps one description. A description without a port uses the
// target group's port, which is what AWS routes to.
func observe(d types.TargetHealthDescription, groupPort uint16) (tgsync.ObservedTarget, error) {
	if d.Target == nil {
		return tgsync.ObservedTarget{}, fmt.Errorf("a health description has no target")
	}
	id := aws.ToString(d.Target.Id)
	ip, err := netip.ParseAddr(id)
	if err != nil {
		return tgsync.ObservedTarget{}, fmt.Errorf("target id %q is not an IP address", id)
	}
	port := groupPort
	if p := aws.ToInt32(d.Target.Port); p != 0 {
		if p < 0 || p > 65535 {
			return tgsync.ObservedTarget{}, fmt.Errorf("target %s has port %d, outside 1-65535", id, p)
		}
		port = uint16(p)
	}
	o := tgsync.ObservedTarget{
		Target:           tgsync.Target{IP: ip.Unmap(), Port: port},
		AvailabilityZone: aws.ToString(d.Target.AvailabilityZone),
	}
	if h := d.TargetHealth; h != nil {
		o.State = tgsync.HealthState(h.State)
		o.Reason = string(h.Reason)
		o.Description = aws.ToString(h.Description)
	}
	return o, nil
}

// Register registers targets in order, in batches of at most BatchSize, and
// returns how many leading targets were registered. Targets outside the
// group's VPC need AvailabilityZone "all" (rule 7): with azAll, or once the
// group needed it in this process, every target goes with "all"; otherwise
// a batch that AWS refuses for want of an Availability Zone is sent again
// with "all", and the group is remembered. usedAZAll reports whether any
// target was registered with "all".
func (a *Adapter) Register(ctx context.Context, arn string, targets []tgsync.Target, azAll bool) (done int, usedAZAll bool, err error) {
	if len(targets) == 0 {
		return 0, false, nil
	}
	for i, t := range targets {
		if !t.Valid() {
			return 0, false, fmt.Errorf("register in %s: target %d (%s) has no valid IP address", arn, i, t)
		}
	}
	if _, err := a.ipTargets(ctx, arn); err != nil {
		return 0, false, err
	}
	all := azAll || a.needsAZAll(arn)
	for start := 0; start < len(targets); start += a.opts.BatchSize {
		batch := targets[start:min(start+a.opts.BatchSize, len(targets))]
		n, usedAll, err := a.registerBatch(ctx, arn, batch, all)
		done += n
		if usedAll {
			usedAZAll, all = true, true
		}
		if err != nil {
			return done, usedAZAll, err
		}
	}
	return done, usedAZAll, nil
}

// registerBatch sends one batch and applies the Availability Zone rule to
// it. It returns how many leading targets of the batch were registered.
func (a *Adapter) registerBatch(ctx context.Context, arn string, batch []tgsync.Target, all bool) (int, bool, error) {
	err := a.registerCall(ctx, arn, batch, all)
	if err == nil {
		return len(batch), all, nil
	}
	if !all && azRequired(err) {
		a.rememberAZAll(arn)
		all = true
		if err = a.registerCall(ctx, arn, batch, true); err == nil {
			return len(batch), true, nil
		}
	}
	if all && azAllRefused(err) {
		// The batch mixes addresses inside the VPC, which refuse "all",
		// with addresses outside it, which need it.
		return a.registerOneByOne(ctx, arn, batch)
	}
	return 0, false, a.mapError(fmt.Sprintf("register %d targets in %s", len(batch), arn), "RegisterTargets", arn, err)
}

// registerOneByOne registers each target alone, with "all" only where AWS
// asks for it. It is the slow path for a group whose source spans the VPC
// boundary.
func (a *Adapter) registerOneByOne(ctx context.Context, arn string, batch []tgsync.Target) (int, bool, error) {
	used, all := false, false
	for i, t := range batch {
		err := a.registerCall(ctx, arn, batch[i:i+1], all)
		switch {
		case err != nil && !all && azRequired(err):
			all = true
			err = a.registerCall(ctx, arn, batch[i:i+1], true)
		case err != nil && all && azAllRefused(err):
			all = false
			err = a.registerCall(ctx, arn, batch[i:i+1], false)
		}
		if err != nil {
			return i, used, a.mapError(fmt.Sprintf("register target %s in %s", t, arn), "RegisterTargets", arn, err)
		}
		used = used || all
	}
	return len(batch), used, nil
}

func (a *Adapter) registerCall(ctx context.Context, arn string, batch []tgsync.Target, all bool) error {
	if err := a.change.Wait(ctx); err != nil {
		return fmt.Errorf("register %d targets in %s: waiting for the change rate limit: %w", len(batch), arn, err)
	}
	descs := make([]types.TargetDescription, len(batch))
	for i, t := range batch {
		descs[i] = description(t, "")
		if all {
			descs[i].AvailabilityZone = aws.String(tgsync.AvailabilityZoneAll)
		}
	}
	_, err := a.api.RegisterTargets(ctx, &elasticloadbalancingv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(arn),
		Targets:        descs,
	})
	return err
}

// Deregister deregisters targets in order, in batches of at most BatchSize,
// and returns how many leading ones were deregistered. Each target goes
// with the Availability Zone its change carries, so that targets
// registered with "all" can leave.
func (a *Adapter) Deregister(ctx context.Context, arn string, changes []tgsync.Change) (done int, err error) {
	if len(changes) == 0 {
		return 0, nil
	}
	for i, c := range changes {
		if c.Action != tgsync.ActionDeregister && c.Action != "" {
			return 0, fmt.Errorf("deregister from %s: change %d (%s) is a %s", arn, i, c.Target, c.Action)
		}
		if !c.Target.Valid() {
			return 0, fmt.Errorf("deregister from %s: change %d (%s) has no valid IP address", arn, i, c.Target)
		}
	}
	if _, err := a.ipTargets(ctx, arn); err != nil {
		return 0, err
	}
	for start := 0; start < len(changes); start += a.opts.BatchSize {
		batch := changes[start:min(start+a.opts.BatchSize, len(changes))]
		op := fmt.Sprintf("deregister %d targets from %s", len(batch), arn)
		if err := a.change.Wait(ctx); err != nil {
			return done, fmt.Errorf("%s: waiting for the change rate limit: %w", op, err)
		}
		descs := make([]types.TargetDescription, len(batch))
		for i, c := range batch {
			descs[i] = description(c.Target, c.AvailabilityZone)
		}
		_, err := a.api.DeregisterTargets(ctx, &elasticloadbalancingv2.DeregisterTargetsInput{
			TargetGroupArn: aws.String(arn),
			Targets:        descs,
		})
		if err != nil {
			return done, a.mapError(op, "DeregisterTargets", arn, err)
		}
		done += len(batch)
	}
	return done, nil
}

// description renders a target for the API. Port 0 is left out so that AWS
// uses the target group's port.
func description(t tgsync.Target, az string) types.TargetDescription {
	d := types.TargetDescription{Id: aws.String(t.IP.Unmap().String())}
	if t.Port != 0 {
		d.Port = aws.Int32(int32(t.Port))
	}
	if az != "" {
		d.AvailabilityZone = aws.String(az)
	}
	return d
}
