package elbv2fake

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
)

// A World is what the elbv2 adapter calls, in place of the SDK client.
var _ elbv2.API = (*World)(nil)

// VPCID is the VPC DescribeTargetGroups reports for every group.
const VPCID = "vpc-0fa4e7b2c91d35a68"

// DescribeTargetHealth answers with every target of the group in one page
// (AWS does not paginate it), sorted by IP, then port, or with the targets
// in.Targets names, in their order: one that is not registered is unused
// with Target.NotRegistered. Health is evaluated lazily at the clock's
// time; the prober gets ctx.
func (w *World) DescribeTargetHealth(ctx context.Context, in *elb.DescribeTargetHealthInput, _ ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error) {
	if in == nil {
		in = &elb.DescribeTargetHealthInput{}
	}
	if err := checkParams(ActionDescribe, in.TargetGroupArn, in.Targets, false); err != nil {
		return nil, err
	}
	arn := *in.TargetGroupArn
	if err := w.begin(ctx, ActionDescribe, arn); err != nil {
		return nil, err
	}
	w.mu.Lock()
	g := w.groups[arn]
	w.mu.Unlock()
	if g == nil {
		return nil, w.notFound(ActionDescribe)
	}
	asked := make([]tgsync.Target, len(in.Targets))
	for i, d := range in.Targets {
		t, invalid := target(d, g.spec.Port) // the spec never changes
		if invalid != "" {
			return nil, w.validation(ActionDescribe, invalid)
		}
		asked[i] = t
	}
	obs, ok := w.observe(ctx, arn)
	if !ok {
		return nil, w.notFound(ActionDescribe)
	}
	out := &elb.DescribeTargetHealthOutput{}
	if len(asked) == 0 {
		for _, o := range obs {
			out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, healthDescription(o))
		}
		return out, nil
	}
	for _, t := range asked {
		i := slices.IndexFunc(obs, func(o tgsync.ObservedTarget) bool { return o.Target == t })
		o := tgsync.ObservedTarget{Target: t, State: tgsync.HealthUnused, Reason: ReasonNotRegistered,
			Description: descriptions[ReasonNotRegistered]}
		if i >= 0 {
			o = obs[i]
		}
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, healthDescription(o))
	}
	return out, nil
}

// healthDescription renders a target as DescribeTargetHealth does; a
// healthy one has no reason and no description.
func healthDescription(o tgsync.ObservedTarget) types.TargetHealthDescription {
	h := &types.TargetHealth{State: types.TargetHealthStateEnum(o.State), Reason: types.TargetHealthReasonEnum(o.Reason)}
	if o.Description != "" {
		h.Description = aws.String(o.Description)
	}
	port := strconv.Itoa(int(o.Target.Port))
	d := types.TargetHealthDescription{
		Target:          &types.TargetDescription{Id: aws.String(o.Target.IP.String()), Port: aws.Int32(int32(o.Target.Port))},
		HealthCheckPort: aws.String(port),
		TargetHealth:    h,
	}
	if o.AvailabilityZone != "" {
		d.Target.AvailabilityZone = aws.String(o.AvailabilityZone)
	}
	return d
}

// RegisterTargets registers the targets, each on its port or, without one,
// on the group's, as AWS does. AWS checks the whole call before it changes
// anything: an IP outside the group's VPC without an Availability Zone
// fails it with the ValidationError that asks for one, and so does "all"
// for an IP inside the VPC when GroupSpec.StrictZoneOverride is set; going
// past MaxTargets fails it with TooManyTargets.
//
// Registering a registered target changes nothing. Registering a draining
// target makes it a new registration: AWS cancels the deregistration and
// the target is initial again and goes through health checks from the
// start.
func (w *World) RegisterTargets(ctx context.Context, in *elb.RegisterTargetsInput, _ ...func(*elb.Options)) (*elb.RegisterTargetsOutput, error) {
	if in == nil {
		in = &elb.RegisterTargetsInput{}
	}
	arn, g, now, err := w.startChange(ctx, ActionRegister, in.TargetGroupArn, in.Targets)
	if err != nil {
		return nil, err
	}
	defer w.mu.Unlock()
	type registration struct {
		target tgsync.Target
		zone   string
	}
	regs := make([]registration, 0, len(in.Targets))
	added := 0
	for _, d := range in.Targets {
		t, invalid := target(d, g.spec.Port)
		if invalid != "" {
			return nil, w.validation(ActionRegister, invalid)
		}
		zone, invalid := g.registrationZone(t.IP, aws.ToString(d.AvailabilityZone))
		if invalid != "" {
			return nil, w.validation(ActionRegister, invalid)
		}
		seen := slices.ContainsFunc(regs, func(r registration) bool { return r.target == t })
		if _, ok := g.targets[t]; !ok && !seen {
			added++
		}
		regs = append(regs, registration{t, zone})
	}
	if len(g.targets)+added > MaxTargets {
		return nil, w.tooManyTargets(ActionRegister)
	}
	for _, r := range regs {
		old := g.targets[r.target]
		if old != nil && old.drainingAt.IsZero() {
			continue
		}
		m := &member{zone: r.zone, registeredAt: now}
		g.targets[r.target] = m
		reason := "registered"
		if old != nil {
			reason = "registered again while draining"
		}
		state, _ := g.state(m, now)
		w.record(Event{Time: now, Action: ActionRegister, ARN: arn, Target: r.target, State: state, Reason: reason})
	}
	return &elb.RegisterTargetsOutput{}, nil
}

// startChange checks a RegisterTargets or DeregisterTargets call and
// passes it through begin, then returns the group with w.mu held, which
// the caller unlocks, its ended drains expired at the clock's time.
func (w *World) startChange(ctx context.Context, action string, arnp *string, targets []types.TargetDescription) (arn string, g *group, now time.Time, err error) {
	if err := checkParams(action, arnp, targets, true); err != nil {
		return "", nil, now, err
	}
	arn = *arnp
	if err := w.begin(ctx, action, arn); err != nil {
		return "", nil, now, err
	}
	now = w.clock.Now()
	w.mu.Lock()
	if g = w.groups[arn]; g == nil {
		w.mu.Unlock()
		return "", nil, now, w.notFound(action)
	}
	w.expire(arn, g, now)
	return arn, g, now, nil
}

// registrationZone is the zone a target registers in: the one AWS detects
// for an IP inside the VPC, "all" or a zone of the group for an IP outside
// it, which must name one. A zone AWS refuses gives the ValidationError's
// message instead.
func (g *group) registrationZone(ip netip.Addr, az string) (zone, invalid string) {
	inside := g.inVPC(ip)
	switch {
	case az == "" && inside:
		return g.zoneOf(ip), ""
	case az == "":
		return "", fmt.Sprintf(azRequiredMessage, ip)
	case az != tgsync.AvailabilityZoneAll && !slices.Contains(g.spec.Zones, az):
		return "", fmt.Sprintf(azInvalidMessage, az)
	case inside && az != g.zoneOf(ip) && g.spec.StrictZoneOverride:
		return "", fmt.Sprintf(azOverrideMessage, ip, az, g.zoneOf(ip))
	}
	return az, ""
}

// DeregisterTargets starts the drain of each target, for the group's
// DrainDelay, after which it leaves. A target outside the VPC must be
// deregistered with an Availability Zone (the "all" it was registered
// with), else the call fails with the ValidationError RegisterTargets
// gives; a zone other than the one the target was registered in fails it
// with InvalidTarget, and so does a target that is not registered (as moto
// does). Deregistering a draining target changes nothing.
func (w *World) DeregisterTargets(ctx context.Context, in *elb.DeregisterTargetsInput, _ ...func(*elb.Options)) (*elb.DeregisterTargetsOutput, error) {
	if in == nil {
		in = &elb.DeregisterTargetsInput{}
	}
	arn, g, now, err := w.startChange(ctx, ActionDeregister, in.TargetGroupArn, in.Targets)
	if err != nil {
		return nil, err
	}
	defer w.mu.Unlock()
	resolved := make([]tgsync.Target, len(in.Targets))
	for i, d := range in.Targets {
		t, invalid := target(d, g.spec.Port)
		if invalid != "" {
			return nil, w.validation(ActionDeregister, invalid)
		}
		az := aws.ToString(d.AvailabilityZone)
		if !g.inVPC(t.IP) && az == "" {
			return nil, w.validation(ActionDeregister, fmt.Sprintf(azRequiredMessage, t.IP))
		}
		m := g.targets[t]
		if m == nil || az != "" && az != m.zone {
			return nil, w.invalidTarget(ActionDeregister)
		}
		resolved[i] = t
	}
	for _, t := range resolved {
		m := g.targets[t]
		if !m.drainingAt.IsZero() {
			continue
		}
		m.drainingAt = now
		w.record(Event{Time: now, Action: ActionDeregister, ARN: arn, Target: t,
			State: tgsync.HealthDraining, Reason: ReasonDeregistrationInProgress})
	}
	w.expire(arn, g, now) // a zero delay ends the drain at once
	return &elb.DeregisterTargetsOutput{}, nil
}

// DescribeTargetGroups describes the groups in.TargetGroupArns or in.Names
// name, or every group when neither is given, in one page: HTTP target
// groups of type ip and address type ipv4 in VPC VPCID, on the port of
// their GroupSpec. A name or ARN that matches no group fails the call with
// TargetGroupNotFound, as in AWS. The world has no load balancers:
// LoadBalancerArns is empty, and filtering by LoadBalancerArn is refused.
func (w *World) DescribeTargetGroups(ctx context.Context, in *elb.DescribeTargetGroupsInput, _ ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error) {
	if in == nil {
		in = &elb.DescribeTargetGroupsInput{}
	}
	// Faults limited to a group apply to a call that asks for it alone.
	arn := ""
	if len(in.TargetGroupArns) == 1 {
		arn = in.TargetGroupArns[0]
	}
	if err := w.begin(ctx, ActionDescribeGroups, arn); err != nil {
		return nil, err
	}
	switch {
	case in.LoadBalancerArn != nil:
		return nil, w.validation(ActionDescribeGroups, "elbv2fake has no load balancers: describe target groups by ARN or name")
	case len(in.TargetGroupArns) > 0 && len(in.Names) > 0:
		return nil, w.validation(ActionDescribeGroups, "Target group names and target group ARNs cannot be specified at the same time")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	all := slices.Sorted(maps.Keys(w.groups))
	arns := slices.Clone(in.TargetGroupArns)
	for _, name := range in.Names {
		i := slices.IndexFunc(all, func(a string) bool { return groupName(a) == name })
		if i < 0 {
			return nil, w.notFound(ActionDescribeGroups)
		}
		arns = append(arns, all[i])
	}
	if len(in.TargetGroupArns)+len(in.Names) == 0 {
		arns = all
	}
	out := &elb.DescribeTargetGroupsOutput{}
	for _, a := range arns {
		g := w.groups[a]
		if g == nil {
			return nil, w.notFound(ActionDescribeGroups)
		}
		out.TargetGroups = append(out.TargetGroups, types.TargetGroup{
			TargetGroupArn:  aws.String(a),
			TargetGroupName: aws.String(groupName(a)),
			TargetType:      types.TargetTypeEnumIp,
			Protocol:        types.ProtocolEnumHttp,
			Port:            aws.Int32(int32(g.spec.Port)),
			VpcId:           aws.String(VPCID),
			IpAddressType:   types.TargetGroupIpAddressTypeEnumIpv4,
		})
	}
	return out, nil
}

// groupName is the name part of a target group ARN,
// arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID, or the
// ARN itself when it has none.
func groupName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// checkParams does what the SDK client's parameter validation does before
// it sends anything: a call without its required fields fails with
// smithy.InvalidParamsError, and counts as no call.
func checkParams(action string, arn *string, targets []types.TargetDescription, targetsRequired bool) error {
	invalid := smithy.InvalidParamsError{Context: action + "Input"}
	if arn == nil {
		invalid.Add(smithy.NewErrParamRequired("TargetGroupArn"))
	}
	if targets == nil && targetsRequired {
		invalid.Add(smithy.NewErrParamRequired("Targets"))
	}
	for i, d := range targets {
		if d.Id == nil {
			invalid.Add(smithy.NewErrParamRequired(fmt.Sprintf("Targets[%d].Id", i)))
		}
	}
	if invalid.Len() > 0 {
		return &smithy.OperationError{ServiceID: ServiceID, OperationName: action, Err: invalid}
	}
	return nil
}

// target reads a target description: an IP address and a port, the
// group's when it has none. One AWS refuses gives the ValidationError's
// message instead.
func target(d types.TargetDescription, groupPort uint16) (t tgsync.Target, invalid string) {
	id := aws.ToString(d.Id)
	ip, err := netip.ParseAddr(id)
	if err != nil || ip.Zone() != "" {
		return tgsync.Target{}, fmt.Sprintf(ipInvalidMessage, id)
	}
	if d.Port == nil {
		return tgsync.Target{IP: ip.Unmap(), Port: groupPort}, ""
	}
	if p := *d.Port; p < 1 || p > 65535 {
		return tgsync.Target{}, fmt.Sprintf(portInvalidMessage, p)
	}
	return tgsync.Target{IP: ip.Unmap(), Port: uint16(*d.Port)}, ""
}

// begin is what every API call goes through before it touches the world:
// the context, the call count, injected faults and throttling.
func (w *World) begin(ctx context.Context, action, arn string) error {
	if ctx.Err() != nil {
		return canceled(ctx, action) // the SDK sends nothing on a done context
	}
	w.mu.Lock()
	w.calls.Record("", action)
	latency, kind := w.pickFaults(action, arn)
	w.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return canceled(ctx, action)
		case <-t.C:
		}
	}
	switch kind {
	case FaultThrottle:
		return w.throttling(action)
	case FaultInternalError, FaultPartialBatch:
		return w.internalFailure(action)
	case FaultUnavailable:
		return w.serviceUnavailable(action)
	case FaultHang:
		<-ctx.Done()
		return canceled(ctx, action)
	case FaultConnReset:
		return connReset(action)
	case FaultNotFound:
		return w.notFound(action)
	}
	if !w.take(action) {
		return w.throttling(action)
	}
	return nil
}

// Descriptions renders targets as the API takes them, without an
// Availability Zone, for tests that call the world as another client of
// ELB would (seeding targets that tgsync did not register).
func Descriptions(ts ...tgsync.Target) []types.TargetDescription {
	out := make([]types.TargetDescription, len(ts))
	for i, t := range ts {
		out[i] = types.TargetDescription{Id: aws.String(t.IP.String()), Port: aws.Int32(int32(t.Port))}
		if t.Port == 0 {
			out[i].Port = nil
		}
	}
	return out
}
