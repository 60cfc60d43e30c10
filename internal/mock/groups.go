package mock

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/tgsync/tgsync"
)

// The API actions MemGroups counts, one per call.
const (
	ActionDescribe   = "DescribeTargetHealth"
	ActionRegister   = "RegisterTargets"
	ActionDeregister = "DeregisterTargets"
)

// MemGroups is target groups in memory. It stands in for the elbv2 API
// where a test needs the groups to keep what they were told and not AWS's
// rules: a registered target is in the group at once, healthy unless
// Joined says otherwise (as moto does; AWS starts it initial), and a
// deregistered one leaves at once (AWS drains it first). It counts the
// calls by the API action each stands for. It is safe for concurrent use;
// set Joined and Zone before the first call.
type MemGroups struct {
	// Joined is the state a registered target is in, JoinedReason its
	// reason; "" means healthy.
	Joined       tgsync.HealthState
	JoinedReason string
	// Zone is the Availability Zone reported for a target that carried
	// none.
	Zone string

	mu     sync.Mutex
	groups map[string]map[tgsync.Target]tgsync.ObservedTarget
	calls  map[string]int
}

var _ tgsync.TargetGroups = (*MemGroups)(nil)

// NewMemGroups returns empty target groups with the given ARNs.
func NewMemGroups(arns ...string) *MemGroups {
	g := &MemGroups{groups: map[string]map[tgsync.Target]tgsync.ObservedTarget{}, calls: map[string]int{}}
	for _, arn := range arns {
		g.groups[arn] = map[tgsync.Target]tgsync.ObservedTarget{}
	}
	return g
}

// Put adds t to the group arn in state h, or sets its state, without
// counting a call. The group is made if it does not exist.
func (g *MemGroups) Put(arn string, t tgsync.Target, h tgsync.HealthState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.groups[arn] == nil {
		g.groups[arn] = map[tgsync.Target]tgsync.ObservedTarget{}
	}
	g.groups[arn][t] = tgsync.ObservedTarget{Target: t, State: h, AvailabilityZone: g.Zone}
}

// Remove takes t out of the group arn without counting a call, as a
// person or another tool would.
func (g *MemGroups) Remove(arn string, t tgsync.Target) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.groups[arn], t)
}

// Describe returns the members of the group, ordered by target.
func (g *MemGroups) Describe(_ context.Context, arn string) ([]tgsync.ObservedTarget, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	group, err := g.group(ActionDescribe, arn)
	if err != nil {
		return nil, err
	}
	return slices.SortedFunc(maps.Values(group), func(a, b tgsync.ObservedTarget) int { return a.Target.Compare(b.Target) }), nil
}

// Register adds every target to the group, in the Joined state.
func (g *MemGroups) Register(_ context.Context, arn string, targets []tgsync.Change) ([]tgsync.Change, error) {
	return g.change(ActionRegister, arn, targets, func(group map[tgsync.Target]tgsync.ObservedTarget, c tgsync.Change) {
		state, zone := g.Joined, c.AvailabilityZone
		if state == "" {
			state = tgsync.HealthHealthy
		}
		if zone == "" {
			zone = g.Zone
		}
		group[c.Target] = tgsync.ObservedTarget{Target: c.Target, AvailabilityZone: zone, State: state, Reason: g.JoinedReason}
	})
}

// Deregister removes every target from the group at once.
func (g *MemGroups) Deregister(_ context.Context, arn string, targets []tgsync.Change) ([]tgsync.Change, error) {
	return g.change(ActionDeregister, arn, targets, func(group map[tgsync.Target]tgsync.ObservedTarget, c tgsync.Change) {
		delete(group, c.Target)
	})
}

// change counts a call of action and applies every change to the group
// arn names, all of them or none when the group does not exist.
func (g *MemGroups) change(action, arn string, targets []tgsync.Change, apply func(map[tgsync.Target]tgsync.ObservedTarget, tgsync.Change)) ([]tgsync.Change, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	group, err := g.group(action, arn)
	if err != nil {
		return nil, err
	}
	for _, c := range targets {
		apply(group, c)
	}
	return targets, nil
}

// group counts a call of action and returns the group arn names; g.mu
// must be held.
func (g *MemGroups) group(action, arn string) (map[tgsync.Target]tgsync.ObservedTarget, error) {
	g.calls[action]++
	group, ok := g.groups[arn]
	if !ok {
		return nil, notFound(arn)
	}
	return group, nil
}

// Members lists the targets of a group as ip:port, in order, without
// counting a call.
func (g *MemGroups) Members(arn string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for t := range g.groups[arn] {
		out = append(out, t.String())
	}
	slices.Sort(out)
	return out
}

// Calls returns how many calls of each action were made since the start
// or ResetCalls.
func (g *MemGroups) Calls() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.calls)
}

// ResetCalls sets every count back to zero.
func (g *MemGroups) ResetCalls() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.calls)
}

func notFound(arn string) error { return fmt.Errorf("target group %s not found", arn) }

// RegisterTargets registers targets through g, each in the zone "all"
// when azAll, as an adapter's tests call it, and reports how many leading
// ones were registered and whether any went with "all".
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
