package elbv2

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

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
	if err := a.budget.waitDescribe(ctx); err != nil {
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

// Register registers targets in order, in batches of at most BatchSize,
// each with the Availability Zone it carries, and returns the leading ones
// registered with the zone each was registered with. A target outside the
// group's VPC needs AvailabilityZone "all" (rule 7): a batch that AWS
// refuses for want of a zone is sent again with "all" where the caller
// gave none, and the group is remembered, so that the rest of this call
// and later ones send "all" from the start. A batch that mixes addresses
// inside the VPC (which refuse "all") and outside it goes one by one.
func (a *Adapter) Register(ctx context.Context, arn string, targets []tgsync.Change) ([]tgsync.Change, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	if err := checkChanges("register in", arn, tgsync.ActionRegister, targets); err != nil {
		return nil, err
	}
	if _, err := a.ipTargets(ctx, arn); err != nil {
		return nil, err
	}
	pending := slices.Clone(targets)
	if a.needsAZAll(arn) {
		zoneAllWhereNone(pending)
	}
	var applied []tgsync.Change
	for batch := range slices.Chunk(pending, a.opts.BatchSize) {
		if a.needsAZAll(arn) {
			zoneAllWhereNone(batch)
		}
		done, err := a.registerBatch(ctx, arn, batch)
		applied = append(applied, done...)
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// checkChanges refuses changes that are not of the action or have no
// address AWS can take, before any call.
func checkChanges(op, arn string, action tgsync.Action, cs []tgsync.Change) error {
	for i, c := range cs {
		if c.Action != action && c.Action != "" {
			return fmt.Errorf("%s %s: change %d (%s) is a %s", op, arn, i, c.Target, c.Action)
		}
		if !c.Target.Valid() {
			return fmt.Errorf("%s %s: change %d (%s) has no valid IP address", op, arn, i, c.Target)
		}
	}
	return nil
}

// zoneAllWhereNone gives "all" to every change without a zone.
func zoneAllWhereNone(cs []tgsync.Change) {
	for i := range cs {
		if cs[i].AvailabilityZone == "" {
			cs[i].AvailabilityZone = tgsync.AvailabilityZoneAll
		}
	}
}

func hasZone(cs []tgsync.Change, zone string) bool {
	return slices.ContainsFunc(cs, func(c tgsync.Change) bool { return c.AvailabilityZone == zone })
}

// registerBatch sends one batch and applies the Availability Zone rule to
// it. It returns the leading changes registered.
func (a *Adapter) registerBatch(ctx context.Context, arn string, batch []tgsync.Change) ([]tgsync.Change, error) {
	err := a.registerCall(ctx, arn, batch)
	if err == nil {
		return batch, nil
	}
	if azRequired(err) && hasZone(batch, "") {
		a.rememberAZAll(arn)
		zoneAllWhereNone(batch)
		if err = a.registerCall(ctx, arn, batch); err == nil {
			return batch, nil
		}
	}
	if azAllRefused(err) && hasZone(batch, tgsync.AvailabilityZoneAll) {
		// The batch mixes addresses inside the VPC, which refuse "all",
		// with addresses outside it, which need it.
		return a.registerOneByOne(ctx, arn, batch)
	}
	return nil, a.mapError(fmt.Sprintf("register %d targets in %s", len(batch), arn), "RegisterTargets", arn, err)
}

// registerOneByOne registers each target alone, with "all" only where AWS
// asks for it, starting each from the zone the one before it needed. It is
// the slow path for a group whose source spans the VPC boundary.
func (a *Adapter) registerOneByOne(ctx context.Context, arn string, batch []tgsync.Change) ([]tgsync.Change, error) {
	applied := make([]tgsync.Change, 0, len(batch))
	zone := ""
	for _, c := range batch {
		c.AvailabilityZone = zone
		err := a.registerCall(ctx, arn, []tgsync.Change{c})
		switch {
		case err != nil && zone == "" && azRequired(err):
			zone = tgsync.AvailabilityZoneAll
		case err != nil && zone == tgsync.AvailabilityZoneAll && azAllRefused(err):
			zone = ""
		}
		if err != nil && c.AvailabilityZone != zone {
			c.AvailabilityZone = zone
			err = a.registerCall(ctx, arn, []tgsync.Change{c})
		}
		if err != nil {
			return applied, a.mapError(fmt.Sprintf("register target %s in %s", c.Target, arn), "RegisterTargets", arn, err)
		}
		applied = append(applied, c)
	}
	return applied, nil
}

func (a *Adapter) registerCall(ctx context.Context, arn string, batch []tgsync.Change) error {
	if err := a.budget.waitChange(ctx); err != nil {
		return fmt.Errorf("register %d targets in %s: waiting for the change rate limit: %w", len(batch), arn, err)
	}
	_, err := a.api.RegisterTargets(ctx, &elasticloadbalancingv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(arn),
		Targets:        descriptions(batch),
	})
	return err
}

// Deregister deregisters targets in order, in batches of at most BatchSize,
// and returns the leading ones deregistered. Each target goes with the
// Availability Zone its change carries, so that targets registered with
// "all" can leave.
func (a *Adapter) Deregister(ctx context.Context, arn string, changes []tgsync.Change) ([]tgsync.Change, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	if err := checkChanges("deregister from", arn, tgsync.ActionDeregister, changes); err != nil {
		return nil, err
	}
	if _, err := a.ipTargets(ctx, arn); err != nil {
		return nil, err
	}
	var applied []tgsync.Change
	for batch := range slices.Chunk(changes, a.opts.BatchSize) {
		op := fmt.Sprintf("deregister %d targets from %s", len(batch), arn)
		if err := a.budget.waitChange(ctx); err != nil {
			return applied, fmt.Errorf("%s: waiting for the change rate limit: %w", op, err)
		}
		_, err := a.api.DeregisterTargets(ctx, &elasticloadbalancingv2.DeregisterTargetsInput{
			TargetGroupArn: aws.String(arn),
			Targets:        descriptions(batch),
		})
		if err != nil {
			return applied, a.mapError(op, "DeregisterTargets", arn, err)
		}
		applied = append(applied, batch...)
	}
	return applied, nil
}

// descriptions renders changes for the API.
func descriptions(cs []tgsync.Change) []types.TargetDescription {
	out := make([]types.TargetDescription, len(cs))
	for i, c := range cs {
		out[i] = description(c.Target, c.AvailabilityZone)
	}
	return out
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
