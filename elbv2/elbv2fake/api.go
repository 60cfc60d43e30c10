package elbv2fake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/tgsync/tgsync"
)

var _ tgsync.TargetGroups = (*World)(nil)

// Describe is DescribeTargetHealth: one call, no pagination (AWS returns
// every target of the group at once), targets sorted by IP, then port.
// Health is evaluated lazily at the clock's time; the prober gets ctx.
func (w *World) Describe(ctx context.Context, arn string) ([]tgsync.ObservedTarget, error) {
	if err := w.begin(ctx, ActionDescribe, arn, false); err != nil {
		return nil, fmt.Errorf("describe target health of %s: %w", arn, err)
	}
	out, ok := w.observe(ctx, arn)
	if !ok {
		return nil, fmt.Errorf("describe target health of %s: %w", arn, w.notFound(ActionDescribe))
	}
	return out, nil
}

// Register is RegisterTargets as the real adapter does it: batches of at
// most MaxBatch targets in order, returning how many leading targets were
// registered. Targets without a valid IP fail before any call. A target
// with port 0 is registered on the group's port, as AWS does when Port is
// omitted.
//
// With azAll every target is sent with AvailabilityZone "all". Without it,
// a batch holding an IP outside the group's VPC fails with AWS's
// ValidationError; like the real adapter (rule 7), Register then sends the
// batch again with "all", keeps "all" for the rest, and reports usedAZAll.
// When "all" is refused for an IP inside the VPC (GroupSpec.
// StrictZoneOverride), the batch is registered one target at a time with
// "all" only where AWS asks for it, as the adapter does. Every attempt is
// a call. Unlike the adapter, the world does not remember between calls
// that a group needed "all"; the reconciler's state does (rule 7).
//
// Registering a registered target changes nothing. Registering a draining
// target makes it a new registration: AWS cancels the deregistration and
// the target is initial again and goes through health checks from the
// start.
func (w *World) Register(ctx context.Context, arn string, changes []tgsync.Change) ([]tgsync.Change, error) {
	targets := make([]tgsync.Target, len(changes))
	azAll := len(changes) > 0
	for i, c := range changes {
		if !c.Target.Valid() {
			return nil, fmt.Errorf("register in %s: target %d (%s) has no valid IP address", arn, i, c.Target)
		}
		targets[i] = c.Target
		azAll = azAll && c.AvailabilityZone == tgsync.AvailabilityZoneAll
	}
	if len(targets) == 0 {
		return nil, nil
	}
	failAt := w.batchFault(ActionRegister, arn)
	all, done := azAll, 0
	var applied []tgsync.Change
	for i, start := 1, 0; start < len(targets); i, start = i+1, start+MaxBatch {
		batch := targets[start:min(start+MaxBatch, len(targets))]
		n, used, err := w.registerBatch(ctx, arn, batch, all, i == failAt)
		for _, c := range changes[done : done+n] {
			c.AvailabilityZone = ""
			if used {
				c.AvailabilityZone = tgsync.AvailabilityZoneAll
			}
			applied = append(applied, c)
		}
		done += n
		if used {
			all = true
		}
		if err != nil {
			return applied, fmt.Errorf("register %d targets in %s: %w", len(batch)-n, arn, err)
		}
	}
	return applied, nil
}

// registerBatch sends one batch with the Availability Zone rule applied and
// returns how many leading targets of it were registered.
func (w *World) registerBatch(ctx context.Context, arn string, batch []tgsync.Target, all, fail bool) (int, bool, error) {
	err := w.registerCall(ctx, arn, batch, all, fail)
	if err == nil {
		return len(batch), all, nil
	}
	if !all && isAZRequired(err) {
		all = true
		if err = w.registerCall(ctx, arn, batch, true, false); err == nil {
			return len(batch), true, nil
		}
	}
	if all && isAZAllRefused(err) {
		return w.registerOneByOne(ctx, arn, batch)
	}
	return 0, false, err
}

// registerOneByOne is the slow path for a batch that mixes addresses inside
// the VPC, which refuse "all", with addresses outside it, which need it.
func (w *World) registerOneByOne(ctx context.Context, arn string, batch []tgsync.Target) (int, bool, error) {
	used, all := false, false
	for i := range batch {
		err := w.registerCall(ctx, arn, batch[i:i+1], all, false)
		switch {
		case err != nil && !all && isAZRequired(err):
			all = true
			err = w.registerCall(ctx, arn, batch[i:i+1], true, false)
		case err != nil && all && isAZAllRefused(err):
			all = false
			err = w.registerCall(ctx, arn, batch[i:i+1], false, false)
		}
		if err != nil {
			return i, used, err
		}
		used = used || all
	}
	return len(batch), used, nil
}

// Deregister is DeregisterTargets in batches of at most MaxBatch, returning
// how many leading changes were applied. Each target starts draining for the
// group's DrainDelay and then leaves. A target outside the VPC must be
// deregistered with an Availability Zone (the "all" it was registered
// with, which Change.AvailabilityZone carries), else the batch fails with
// the ValidationError RegisterTargets gives; a zone other than the one the
// target was registered in fails it with InvalidTarget, and so does a target
// that is not registered (as moto does). Deregistering a draining target
// changes nothing.
func (w *World) Deregister(ctx context.Context, arn string, changes []tgsync.Change) ([]tgsync.Change, error) {
	for i, c := range changes {
		if c.Action != tgsync.ActionDeregister && c.Action != "" {
			return nil, fmt.Errorf("deregister from %s: change %d (%s) is a %s", arn, i, c.Target, c.Action)
		}
		if !c.Target.Valid() {
			return nil, fmt.Errorf("deregister from %s: change %d (%s) has no valid IP address", arn, i, c.Target)
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	failAt := w.batchFault(ActionDeregister, arn)
	var applied []tgsync.Change
	for i, start := 1, 0; start < len(changes); i, start = i+1, start+MaxBatch {
		batch := changes[start:min(start+MaxBatch, len(changes))]
		if err := w.deregisterBatch(ctx, arn, batch, i == failAt); err != nil {
			return applied, fmt.Errorf("deregister %d targets from %s: %w", len(batch), arn, err)
		}
		applied = append(applied, batch...)
	}
	return applied, nil
}

func (w *World) registerCall(ctx context.Context, arn string, batch []tgsync.Target, azAll, fail bool) error {
	if err := w.begin(ctx, ActionRegister, arn, fail); err != nil {
		return err
	}
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.groups[arn]
	if g == nil {
		return w.notFound(ActionRegister)
	}
	w.expire(arn, g, now)
	resolved := make([]tgsync.Target, len(batch))
	added := 0
	for i, t := range batch {
		t := g.resolve(t)
		in := g.inVPC(t.IP)
		switch {
		case !in && !azAll:
			return w.validation(ActionRegister, fmt.Sprintf(azRequiredMessage, t.IP))
		case in && azAll && g.spec.StrictZoneOverride:
			return w.validation(ActionRegister, fmt.Sprintf(azOverrideMessage, t.IP, g.zoneOf(t.IP)))
		}
		if _, ok := g.targets[t]; !ok && !containsBefore(resolved, i, t) {
			added++
		}
		resolved[i] = t
	}
	if len(g.targets)+added > MaxTargets {
		return w.tooManyTargets(ActionRegister)
	}
	for _, t := range resolved {
		old := g.targets[t]
		if old != nil && old.drainingAt.IsZero() {
			continue
		}
		zone := tgsync.AvailabilityZoneAll
		if !azAll {
			zone = g.zoneOf(t.IP)
		}
		g.targets[t] = &member{zone: zone, registeredAt: now}
		reason := "registered"
		if old != nil {
			reason = "registered again while draining"
		}
		state, _ := g.state(g.targets[t], now)
		w.record(Event{Time: now, Action: ActionRegister, ARN: arn, Target: t, State: state, Reason: reason})
	}
	return nil
}

func (w *World) deregisterBatch(ctx context.Context, arn string, batch []tgsync.Change, fail bool) error {
	if err := w.begin(ctx, ActionDeregister, arn, fail); err != nil {
		return err
	}
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.groups[arn]
	if g == nil {
		return w.notFound(ActionDeregister)
	}
	w.expire(arn, g, now)
	resolved := make([]tgsync.Target, len(batch))
	for i, c := range batch {
		t := g.resolve(c.Target)
		if !g.inVPC(t.IP) && c.AvailabilityZone == "" {
			return w.validation(ActionDeregister, fmt.Sprintf(azRequiredMessage, t.IP))
		}
		m := g.targets[t]
		if m == nil || c.AvailabilityZone != "" && c.AvailabilityZone != m.zone {
			return w.invalidTarget(ActionDeregister)
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
	return nil
}

// resolve fills in the group's port, as AWS does when Port is omitted.
func (g *group) resolve(t tgsync.Target) tgsync.Target {
	t.IP = t.IP.Unmap()
	if t.Port == 0 {
		t.Port = g.spec.Port
	}
	return t
}

func containsBefore(ts []tgsync.Target, n int, t tgsync.Target) bool {
	for _, u := range ts[:n] {
		if u == t {
			return true
		}
	}
	return false
}

// isAZRequired reports whether err is the ValidationError that asks for an
// Availability Zone for an IP outside the VPC.
func isAZRequired(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == CodeValidation &&
		strings.Contains(apiErr.ErrorMessage(), "Availability Zone") &&
		!strings.Contains(apiErr.ErrorMessage(), "is within the VPC")
}

// isAZAllRefused reports whether err refuses "all" for an IP inside the VPC.
func isAZAllRefused(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == CodeValidation &&
		strings.Contains(apiErr.ErrorMessage(), "is within the VPC")
}

// begin is what every API call goes through before it touches the group:
// the context, the call count, injected faults, the forced failure of a
// partial-batch fault, and throttling.
func (w *World) begin(ctx context.Context, action, arn string, fail bool) error {
	if ctx.Err() != nil {
		return canceled(ctx, action) // the SDK sends nothing on a done context
	}
	w.mu.Lock()
	w.calls[action]++
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
	case FaultInternalError:
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
	if fail {
		return w.internalFailure(action)
	}
	if !w.take(action) {
		return w.throttling(action)
	}
	return nil
}

// RegisterTargets registers targets with g, each with the zone "all" when
// azAll, and reports how many leading ones were registered and whether
// any went with "all": the shape tests that count targets want.
func RegisterTargets(ctx context.Context, g tgsync.TargetGroups, arn string, targets []tgsync.Target, azAll bool) (done int, usedAZAll bool, err error) {
	cs := make([]tgsync.Change, len(targets))
	for i, t := range targets {
		cs[i] = tgsync.Change{Action: tgsync.ActionRegister, Target: t}
		if azAll {
			cs[i].AvailabilityZone = tgsync.AvailabilityZoneAll
		}
	}
	applied, err := g.Register(ctx, arn, cs)
	for _, c := range applied {
		usedAZAll = usedAZAll || c.AvailabilityZone == tgsync.AvailabilityZoneAll
	}
	return len(applied), usedAZAll, err
}

// Count turns what Register or Deregister returned into how many targets
// were applied.
func Count(applied []tgsync.Change, err error) (int, error) { return len(applied), err }
