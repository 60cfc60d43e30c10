package elbv2fake

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
)

// Defaults taken from AWS.
const (
	// DefaultDrainDelay is AWS's default deregistration delay.
	DefaultDrainDelay = 300 * time.Second
	// DefaultHealthyAfter is how long a new target stays initial before its
	// first verdict; real ALBs take at least interval × healthy threshold.
	DefaultHealthyAfter = 10 * time.Second
	// MaxTargets is AWS's quota of targets per target group.
	MaxTargets = 1000
)

// Reasons and descriptions DescribeTargetHealth reports.
const (
	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonNotInUse                 = "Target.NotInUse"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonNotRegistered            = "Target.NotRegistered"
)

var descriptions = map[string]string{
	ReasonRegistrationInProgress:   "Target registration is in progress",
	ReasonInitialHealthChecking:    "Initial health checks in progress",
	ReasonTimeout:                  "Request timed out",
	ReasonFailedHealthChecks:       "Health checks failed",
	ReasonResponseCodeMismatch:     "Health checks failed with these codes: [502]",
	ReasonNotInUse:                 "Target group is not configured to receive traffic from the load balancer",
	ReasonDeregistrationInProgress: "Target deregistration is in progress",
	ReasonNotRegistered:            "Target is not registered to the target group",
}

// Event kinds in History besides the API actions that cause them.
const (
	// EventDrained is a target leaving the group when its deregistration
	// delay ran out.
	EventDrained = "Drained"
	// EventHealth is a new health-check verdict for a target.
	EventHealth = "HealthChanged"
)

// Prober decides a target's health check. It is called on every describe
// once a target is past its initial period, so flipping what it returns
// turns a target unhealthy (or healthy) on the next describe.
type Prober func(ctx context.Context, t tgsync.Target) bool

// Healthy is the default prober: every target passes its health check.
func Healthy(context.Context, tgsync.Target) bool { return true }

// Options configure a World.
type Options struct {
	// Prober decides health checks; nil means Healthy.
	Prober Prober
	// RateLimits enables AWS-like API throttling; nil means unlimited.
	RateLimits *RateLimits
}

// GroupSpec describes a target group of type ip.
type GroupSpec struct {
	// Port is the group's port, used for targets registered without one.
	Port uint16
	// VPCPrefixes are the CIDRs of the group's VPC subnets. When set, an IP
	// outside them needs an Availability Zone, "all" or one of Zones (rule
	// 7). AWS compares with the subnets, not the VPC's CIDR blocks. Empty
	// means every IP is in the VPC.
	VPCPrefixes []netip.Prefix
	// Zones are the Availability Zones an in-VPC target is reported in,
	// picked by a hash of its IP, and those a target may name; empty means
	// us-east-1a, b and c.
	Zones []string
	// DrainDelay is the deregistration delay (AWS: 0–3600 s). Zero means
	// DefaultDrainDelay; negative means none (AWS's 0).
	DrainDelay time.Duration
	// HealthyAfter is the time a target stays initial before its first
	// verdict. Zero means DefaultHealthyAfter; negative means none.
	HealthyAfter time.Duration
	// UnhealthyReason is the reason a failed health check reports:
	// Target.Timeout (the default: a dead node does not answer),
	// Target.FailedHealthChecks or Target.ResponseCodeMismatch.
	UnhealthyReason string
	// StrictZoneOverride rejects an Availability Zone other than the one
	// AWS detects, such as "all", for an IP inside the VPC with the
	// ValidationError AWS returned for that in 2018; off, "all" and the
	// zones of Zones are accepted for every IP.
	StrictZoneOverride bool
}

// World is one AWS account and Region. It is safe for concurrent use.
type World struct {
	clock Clock

	mu       sync.Mutex
	prober   Prober
	groups   map[string]*group
	limits   *RateLimits
	buckets  map[string]*bucket
	faults   []*activeFault
	calls    elbv2.Calls
	history  []Event
	requests atomic.Uint64
}

type group struct {
	spec       GroupSpec
	attached   bool
	attachedAt time.Time
	targets    map[tgsync.Target]*member
}

// member is one registration of a target. A new registration (also of a
// draining target) is a new member, so that a verdict probed for an older
// one is never applied to it.
type member struct {
	zone         string
	registeredAt time.Time
	drainingAt   time.Time // zero unless draining
	verdict      tgsync.HealthState
}

// Event is one change in the world, for tests that assert on the sequence.
type Event struct {
	Time time.Time
	// Action is ActionRegister, ActionDeregister, EventDrained or
	// EventHealth.
	Action string
	ARN    string
	Target tgsync.Target
	// State is the state the target entered, Reason why.
	State  tgsync.HealthState
	Reason string
}

// New returns an empty world on the given clock (the wall clock when nil).
func New(clock Clock, opts Options) *World {
	if clock == nil {
		clock = realClock{}
	}
	w := &World{
		clock:  clock,
		prober: opts.Prober,
		groups: map[string]*group{},
	}
	if opts.RateLimits != nil {
		l := *opts.RateLimits
		w.limits = &l
		w.buckets = newBuckets(l, clock.Now())
	}
	return w
}

// Now is the world's time.
func (w *World) Now() time.Time { return w.clock.Now() }

// SetProber replaces the health-check prober; nil means Healthy.
func (w *World) SetProber(p Prober) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prober = p
}

// CreateTargetGroup adds an empty target group, attached to a load balancer.
func (w *World) CreateTargetGroup(arn string, spec GroupSpec) error {
	if arn == "" {
		return fmt.Errorf("create target group: empty ARN")
	}
	if spec.Port == 0 {
		return fmt.Errorf("create target group %s: port must be 1-65535", arn)
	}
	switch spec.UnhealthyReason {
	case "":
		spec.UnhealthyReason = ReasonTimeout
	case ReasonTimeout, ReasonFailedHealthChecks, ReasonResponseCodeMismatch:
	default:
		return fmt.Errorf("create target group %s: unhealthy reason %q: want %s, %s or %s",
			arn, spec.UnhealthyReason, ReasonTimeout, ReasonFailedHealthChecks, ReasonResponseCodeMismatch)
	}
	for _, p := range spec.VPCPrefixes {
		if !p.IsValid() {
			return fmt.Errorf("create target group %s: invalid VPC prefix %v", arn, p)
		}
	}
	switch {
	case spec.DrainDelay == 0:
		spec.DrainDelay = DefaultDrainDelay
	case spec.DrainDelay < 0:
		spec.DrainDelay = 0
	}
	switch {
	case spec.HealthyAfter == 0:
		spec.HealthyAfter = DefaultHealthyAfter
	case spec.HealthyAfter < 0:
		spec.HealthyAfter = 0
	}
	if len(spec.Zones) == 0 {
		spec.Zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	}
	spec.VPCPrefixes = slices.Clone(spec.VPCPrefixes)
	spec.Zones = slices.Clone(spec.Zones)
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.groups[arn]; ok {
		return fmt.Errorf("create target group %s: already exists", arn)
	}
	w.groups[arn] = &group{spec: spec, attached: true, attachedAt: now, targets: map[tgsync.Target]*member{}}
	return nil
}

// DeleteTargetGroup removes a target group; later calls on it fail with
// TargetGroupNotFound.
func (w *World) DeleteTargetGroup(arn string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.groups[arn]; !ok {
		return fmt.Errorf("delete target group %s: not found", arn)
	}
	delete(w.groups, arn)
	return nil
}

// SetAttached attaches the group to a load balancer or detaches it. A
// detached group's targets report unused / Target.NotInUse; on attaching,
// health checking starts over (initial for HealthyAfter).
func (w *World) SetAttached(arn string, attached bool) error {
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.groups[arn]
	if g == nil {
		return fmt.Errorf("attach target group %s: not found", arn)
	}
	if attached && !g.attached {
		g.attachedAt = now
		for _, m := range g.targets {
			m.verdict = ""
		}
	}
	g.attached = attached
	return nil
}

// Targets returns the group's targets as DescribeTargetHealth would, sorted,
// without counting a call or consulting faults and throttling; nil for an
// unknown group. It evaluates health like DescribeTargetHealth (the prober
// gets a background context), so verdicts it sees enter History.
func (w *World) Targets(arn string) []tgsync.ObservedTarget {
	out, _ := w.observe(context.Background(), arn)
	return out
}

// Calls returns the API calls made so far by action name. A call rejected by
// a fault or by throttling counts: AWS saw it.
func (w *World) Calls() map[string]int { return w.calls.Snapshot() }

// ResetCalls sets every call count to zero.
func (w *World) ResetCalls() { w.calls.Take() }

// History returns every change so far, oldest first. Events of lazily
// evaluated transitions carry the time they happened (a drain ending), or
// for health verdicts the time of the describe that probed them.
func (w *World) History() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.history)
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out
}

// ResetHistory forgets the events so far.
func (w *World) ResetHistory() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.history = nil
}

// due is a target waiting for a health-check verdict.
type due struct {
	target tgsync.Target
	member *member
}

// observe evaluates a group at the clock's time: it ends expired drains,
// probes the targets past their initial period (outside the lock, so a
// prober may take its time or look at the world) and lists the result.
func (w *World) observe(ctx context.Context, arn string) ([]tgsync.ObservedTarget, bool) {
	now := w.clock.Now()
	w.mu.Lock()
	g := w.groups[arn]
	if g == nil {
		w.mu.Unlock()
		return nil, false
	}
	w.expire(arn, g, now)
	var pending []due
	for t, m := range g.targets {
		if m.drainingAt.IsZero() && g.attached && !now.Before(g.checkStart(m).Add(g.spec.HealthyAfter)) {
			pending = append(pending, due{t, m})
		}
	}
	prober := w.prober
	w.mu.Unlock()
	if prober == nil {
		prober = Healthy
	}
	verdicts := make([]bool, len(pending))
	for i, d := range pending {
		verdicts[i] = prober(ctx, d.target)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	g = w.groups[arn]
	if g == nil {
		return nil, false
	}
	for i, d := range pending {
		if g.targets[d.target] != d.member || !d.member.drainingAt.IsZero() {
			continue // re-registered or deregistered meanwhile
		}
		state, reason := tgsync.HealthHealthy, ""
		if !verdicts[i] {
			state, reason = tgsync.HealthUnhealthy, g.spec.UnhealthyReason
		}
		if d.member.verdict != state {
			d.member.verdict = state
			w.record(Event{Time: now, Action: EventHealth, ARN: arn, Target: d.target, State: state, Reason: reason})
		}
	}
	return g.list(now), true
}

// expire removes the targets whose deregistration delay has passed.
func (w *World) expire(arn string, g *group, now time.Time) {
	for t, m := range g.targets {
		if m.drainingAt.IsZero() {
			continue
		}
		if end := m.drainingAt.Add(g.spec.DrainDelay); !now.Before(end) {
			delete(g.targets, t)
			w.record(Event{Time: end, Action: EventDrained, ARN: arn, Target: t, Reason: "deregistration delay ended"})
		}
	}
}

func (w *World) record(e Event) { w.history = append(w.history, e) }

// checkStart is when health checking of a member began: its registration,
// or the group's attachment to a load balancer if later.
func (g *group) checkStart(m *member) time.Time {
	if g.attachedAt.After(m.registeredAt) {
		return g.attachedAt
	}
	return m.registeredAt
}

// state is a member's health at now; see the package's state machine.
func (g *group) state(m *member, now time.Time) (tgsync.HealthState, string) {
	switch {
	case !m.drainingAt.IsZero():
		return tgsync.HealthDraining, ReasonDeregistrationInProgress
	case !g.attached:
		return tgsync.HealthUnused, ReasonNotInUse
	case now.Before(g.checkStart(m).Add(g.spec.HealthyAfter)):
		return tgsync.HealthInitial, ReasonRegistrationInProgress
	case m.verdict == tgsync.HealthHealthy:
		return tgsync.HealthHealthy, ""
	case m.verdict == tgsync.HealthUnhealthy:
		return tgsync.HealthUnhealthy, g.spec.UnhealthyReason
	default:
		return tgsync.HealthInitial, ReasonInitialHealthChecking
	}
}

// list returns the group's targets sorted by IP, then port.
func (g *group) list(now time.Time) []tgsync.ObservedTarget {
	out := make([]tgsync.ObservedTarget, 0, len(g.targets))
	for t, m := range g.targets {
		state, reason := g.state(m, now)
		out = append(out, tgsync.ObservedTarget{Target: t, AvailabilityZone: m.zone,
			State: state, Reason: reason, Description: descriptions[reason]})
	}
	slices.SortFunc(out, func(a, b tgsync.ObservedTarget) int { return a.Target.Compare(b.Target) })
	return out
}

// inVPC reports whether ip is in one of the group's VPC subnets.
func (g *group) inVPC(ip netip.Addr) bool {
	if len(g.spec.VPCPrefixes) == 0 {
		return true
	}
	for _, p := range g.spec.VPCPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// zoneOf is the Availability Zone AWS would detect for an in-VPC IP.
func (g *group) zoneOf(ip netip.Addr) string {
	h := fnv.New32a()
	b := ip.AsSlice()
	_, _ = h.Write(b)
	return g.spec.Zones[int(h.Sum32()%uint32(len(g.spec.Zones)))]
}
