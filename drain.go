package tgsync

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Task is a task that is about to stop and whose addresses must leave the
// target groups before it does: what a Fargate Spot interruption notice
// says.
type Task struct {
	// ARN identifies the task; repeated events for one task are told
	// apart by Version.
	ARN string
	// Version is the event's detail.version, which ECS increases with
	// every change of the task. Zero means unknown and turns the version
	// check off.
	Version int64
	// IPs are the task's addresses; every target on any of them leaves,
	// on every port.
	IPs []netip.Addr
	// Reason goes into every change, so that the log says why a target
	// left.
	Reason string
	// EventTime is when the event was sent. A drain refuses a task
	// without one, or with one more than MaxClockSkew ahead.
	EventTime time.Time
}

// DrainSkip is a target of a stopping task that a drain leaves alone, and
// why.
type DrainSkip struct {
	Target Target
	State  HealthState
	Reason string
}

// DrainRecord is what State remembers of a drained task.
type DrainRecord struct {
	// Version is the newest event version acted on.
	Version int64 `json:"version"`
	// At is when the drain acted on it.
	At time.Time `json:"at"`
}

// Bounds of the drain records kept in State: a record is kept for
// DrainRetention (ECS stops a task within minutes of the notice, so a day
// is ample), and at most DrainRecordLimit of them, which bounds the state
// of a busy account.
const (
	DrainRetention   = 24 * time.Hour
	DrainRecordLimit = 1000
)

// DefaultMaxEventAge is how old an interruption notice may be and still be
// acted on. A Spot task stops about two minutes after its notice; after
// that its IP may be handed to another task, which a late event (an
// async retry, a delayed delivery) must not deregister.
const DefaultMaxEventAge = 5 * time.Minute

// MaxClockSkew is how far in the future an event's time may lie and still
// be acted on. EventBridge stamps the time from AWS's clock, and ours may
// be behind it by a little; an event further ahead was not sent by
// EventBridge, and acting on it would defeat the age check.
const MaxClockSkew = time.Minute

// ErrEventRefused marks a drain refused for what its event says: no time,
// or a time in the future. It is bad input, which a retry refuses again,
// not a failed call.
var ErrEventRefused = errors.New("event refused")

// PlanDrain decides which members of one target group leave because their
// IP belongs to a stopping task. It is pure: no I/O, and its inputs are not
// modified.
//
//	member                          | effect
//	--------------------------------+-----------------------------------------
//	IP of the task, any port        | deregister, with reason
//	IP of the task, already draining | skipped: it is already leaving
//	any other IP                    | untouched and not listed
//
// Both lists are sorted by IP, then port. IPv4-mapped IPv6 addresses
// match their IPv4 form.
func PlanDrain(observed []ObservedTarget, ips []netip.Addr, reason string) (deregister []Change, skipped []DrainSkip) {
	want := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		want[ip.Unmap()] = true
	}
	seen := make(map[Target]bool, len(observed))
	for _, o := range observed {
		t := Target{IP: o.IP.Unmap(), Port: o.Port}
		if !want[t.IP] || seen[t] {
			continue
		}
		seen[t] = true
		if o.State.Draining() {
			why := "already " + string(o.State)
			if o.Reason != "" {
				why += " (" + o.Reason + ")"
			}
			skipped = append(skipped, DrainSkip{Target: t, State: o.State, Reason: why + "; not deregistering it again"})
			continue
		}
		deregister = append(deregister, Change{Action: ActionDeregister, Target: t, AvailabilityZone: o.AvailabilityZone, Reason: reason})
	}
	slices.SortFunc(deregister, func(a, b Change) int { return a.Target.Compare(b.Target) })
	slices.SortFunc(skipped, func(a, b DrainSkip) int { return a.Target.Compare(b.Target) })
	return deregister, skipped
}

// Drainer deregisters the targets of stopping tasks from a fixed set of
// target groups.
type Drainer struct {
	Groups TargetGroups
	// Store is optional. With it, the drainer remembers the newest event
	// version acted on per task and skips events that are not newer
	// without any AWS call. Without it, a repeated event still makes no
	// change call: it finds the targets draining or gone.
	Store           Store
	TargetGroupARNs []string
	// DryRun describes and plans but changes neither the target groups
	// nor the state.
	DryRun bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxEventAge skips events sent longer ago than this (see
	// DefaultMaxEventAge, which zero means); negative turns the check off,
	// but not the refusal of events without a time or from the future.
	MaxEventAge time.Duration
}

// DrainResult is what one Drain did.
type DrainResult struct {
	Task    string
	Version int64
	DryRun  bool
	// Skipped says why the event was not acted on at all (already
	// handled, too old); empty when it was acted on.
	Skipped string
	// Groups holds one entry per configured target group, in order.
	Groups []GroupDrain
	// StateWritten is set when the version was remembered in the store.
	StateWritten bool
	// Logged is set when the drain entered the state's DrainLog, which
	// it does when it deregistered something or a group failed.
	Logged   bool
	Duration time.Duration
}

// GroupDrain is what one Drain did to one target group.
type GroupDrain struct {
	TargetGroupARN string
	// Planned are the task's targets found in the group and not draining.
	Planned []Change
	// Deregistered are the planned targets that were deregistered; empty
	// in a dry run.
	Deregistered []Change
	// Skipped are the task's targets that were left alone.
	Skipped []DrainSkip
	// Absent are the task's IPs that have no target in the group.
	Absent []netip.Addr
	// Err is the group's failure; other groups carry on.
	Err error
}

// Failed lists the target groups whose drain failed.
func (r DrainResult) Failed() []string {
	var out []string
	for _, g := range r.Groups {
		if g.Err != nil {
			out = append(out, g.TargetGroupARN)
		}
	}
	return out
}

// drainConcurrency bounds the target groups worked on at once: enough to
// make a typical handful one round trip, few enough to stay under the
// account's describe bucket.
const drainConcurrency = 8

// Drain deregisters every target on any of the task's IPs, on every port,
// from every configured target group: one Describe per group, then at most
// one Deregister with the matching targets. A failure in one group does
// not stop the others; the returned error joins every failure, and the
// result says per group what was deregistered, skipped, and why.
//
// An event whose version is not newer than one already acted on for the
// task (with a Store), or that is older than MaxEventAge, is skipped
// without any AWS call and without error. An event without a time, or
// dated more than MaxClockSkew ahead, is refused without any AWS call with
// an error that wraps ErrEventRefused, even with the age check off. The
// version is remembered only when every group succeeded, so that a retry
// of a failed event acts again.
func (d *Drainer) Drain(ctx context.Context, task Task) (res DrainResult, err error) {
	start := d.now()
	res = DrainResult{Task: task.ARN, Version: task.Version, DryRun: d.DryRun}
	defer func() { res.Duration = d.now().Sub(start) }()
	if err := d.check(task); err != nil {
		return res, err
	}
	if err := checkEventTime(task, start); err != nil {
		return res, err
	}
	maxAge := d.MaxEventAge
	if maxAge == 0 {
		maxAge = DefaultMaxEventAge
	}
	if age := start.Sub(task.EventTime); !task.EventTime.IsZero() && maxAge > 0 && age > maxAge {
		res.Skipped = fmt.Sprintf("the event was sent %s ago, more than %s: the task has stopped by now and its IP may belong to another task, so nothing is deregistered",
			age.Round(time.Second), maxAge)
		return res, nil
	}

	var errs []error
	var loaded *State
	var rev string
	if d.Store != nil {
		st, r, err := d.Store.Load(ctx)
		switch {
		case err != nil:
			// The notice is urgent and draining twice is harmless: go on
			// without the version check.
			errs = append(errs, fmt.Errorf("drain task %s: load state (draining without the version check): %w", task.ARN, err))
		case task.Version > 0 && st.Drains[task.ARN].Version >= task.Version:
			rec := st.Drains[task.ARN]
			res.Skipped = fmt.Sprintf("version %d is not newer than version %d acted on at %s: a repeated or out-of-order event changes nothing",
				task.Version, rec.Version, rec.At.UTC().Format(time.RFC3339))
			return res, nil
		default:
			loaded, rev = st, r
		}
	}

	res.Groups = d.drainGroups(ctx, task)
	failed := false
	for _, g := range res.Groups {
		if g.Err != nil {
			errs = append(errs, g.Err)
			failed = true
		}
	}
	remember := !failed && task.Version > 0
	entries := drainEntries(task, res.Groups, start)
	if loaded != nil && !d.DryRun && (remember || len(entries) > 0) {
		rec := drainRecord{task: task, remember: remember, entries: entries, groups: res.Groups}
		written, err := d.recordDrain(ctx, loaded, rev, rec)
		res.StateWritten, res.Logged = written && remember, written && len(entries) > 0
		if err != nil {
			errs = append(errs, fmt.Errorf("drain task %s: record it in the state: %w", task.ARN, err))
		}
	}
	return res, errors.Join(errs...)
}

func (d *Drainer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// check rejects what no drain can act on, before any call.
func (d *Drainer) check(task Task) error {
	switch {
	case d.Groups == nil:
		return errors.New("drain: no target group API configured")
	case len(d.TargetGroupARNs) == 0:
		return errors.New("drain: no target group configured")
	case task.ARN == "":
		return errors.New("drain: the task has no ARN")
	case len(task.IPs) == 0:
		return fmt.Errorf("drain task %s: the task has no IP address", task.ARN)
	case task.Version < 0:
		return fmt.Errorf("drain task %s: version %d is negative", task.ARN, task.Version)
	}
	for _, ip := range task.IPs {
		if !(Target{IP: ip}).Valid() {
			return fmt.Errorf("drain task %s: %q is not a usable IP address", task.ARN, ip)
		}
	}
	return nil
}

// checkEventTime refuses an event without a time or dated more than
// MaxClockSkew ahead of now, whatever MaxEventAge says: the age check
// cannot tell such an event from a fresh one, and it would deregister an
// address that may belong to another task by now. EventBridge sets the time
// of every event, so a saved event replayed with the age check off still
// has one, in the past.
func checkEventTime(task Task, now time.Time) error {
	switch ahead := task.EventTime.Sub(now); {
	case task.EventTime.IsZero():
		return fmt.Errorf("drain task %s: %w: the event has no time, so tgsync cannot tell a fresh interruption from a late one whose IP may belong to another task by now; EventBridge sets time on every event: pass the event as it was delivered",
			task.ARN, ErrEventRefused)
	case ahead > MaxClockSkew:
		return fmt.Errorf("drain task %s: %w: the event's time %s is %s in the future, more than the %s of clock skew allowed: it was not sent by EventBridge, or this machine's clock is wrong; nothing is deregistered",
			task.ARN, ErrEventRefused, task.EventTime.UTC().Format(time.RFC3339), roughly(ahead), MaxClockSkew)
	}
	return nil
}

// roughly renders a duration for a message: to the second, or in days
// beyond two.
func roughly(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 2*day {
		return fmt.Sprintf("%d days", d/day)
	}
	return d.Round(time.Second).String()
}

// drainGroups works on the configured groups concurrently and returns
// their results in configuration order, each group once.
func (d *Drainer) drainGroups(ctx context.Context, task Task) []GroupDrain {
	var arns []string
	for _, a := range d.TargetGroupARNs {
		if !slices.Contains(arns, a) {
			arns = append(arns, a)
		}
	}
	out := make([]GroupDrain, len(arns))
	var eg errgroup.Group
	eg.SetLimit(drainConcurrency)
	for i, arn := range arns {
		eg.Go(func() error { out[i] = d.drainGroup(ctx, task, arn); return nil })
	}
	_ = eg.Wait()
	return out
}

func (d *Drainer) drainGroup(ctx context.Context, task Task, arn string) GroupDrain {
	g := GroupDrain{TargetGroupARN: arn}
	observed, err := d.Groups.Describe(ctx, arn)
	if err != nil {
		g.Err = fmt.Errorf("drain task %s: %w", task.ARN, err)
		return g
	}
	g.Planned, g.Skipped = PlanDrain(observed, task.IPs, task.Reason)
	present := make(map[netip.Addr]bool, len(observed))
	for _, o := range observed {
		present[o.IP.Unmap()] = true
	}
	for _, ip := range uniqueAddrs(task.IPs) {
		if !present[ip] {
			g.Absent = append(g.Absent, ip)
		}
	}
	if d.DryRun || len(g.Planned) == 0 {
		return g
	}
	applied, err := d.Groups.Deregister(ctx, arn, g.Planned)
	g.Deregistered = applied
	if err != nil {
		g.Err = fmt.Errorf("drain task %s: %w", task.ARN, err)
	}
	return g
}

// drainRecord is what a drain writes to the state: the task's version
// when remember is set, and its entries in the drain log.
type drainRecord struct {
	task     Task
	remember bool
	entries  []DrainEntry
	groups   []GroupDrain
}

// recordDrain saves what the drain did, reloading and merging when another
// writer saved in between. It reports whether it wrote.
func (d *Drainer) recordDrain(ctx context.Context, st *State, rev string, rec drainRecord) (bool, error) {
	const attempts = 3
	task := rec.task
	saveCtx, cancel := saveContext(ctx, true)
	defer cancel()
	for attempt := 1; ; attempt++ {
		remember := rec.remember && st.Drains[task.ARN].Version < task.Version
		if !remember && len(rec.entries) == 0 {
			return false, nil // another writer remembered it already
		}
		next := st.Clone()
		if remember {
			next.rememberDrain(task.ARN, task.Version, d.now())
		}
		next.logDrain(rec.entries, rec.groups, d.now())
		_, err := d.Store.Save(saveCtx, next, rev)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, ErrConflict) || attempt == attempts {
			return false, err
		}
		if st, rev, err = d.Store.Load(saveCtx); err != nil {
			return false, fmt.Errorf("reload after a conflict: %w", err)
		}
	}
}

// rememberDrain records a task's version and forgets records older than
// DrainRetention, then the oldest beyond DrainRecordLimit.
func (s *State) rememberDrain(arn string, version int64, now time.Time) {
	if s.Drains == nil {
		s.Drains = map[string]DrainRecord{}
	}
	s.Drains[arn] = DrainRecord{Version: version, At: now}
	for k, r := range s.Drains {
		if now.Sub(r.At) > DrainRetention {
			delete(s.Drains, k)
		}
	}
	if over := len(s.Drains) - DrainRecordLimit; over > 0 {
		keys := make([]string, 0, len(s.Drains))
		for k := range s.Drains {
			if k != arn {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b string) int {
			if c := s.Drains[a].At.Compare(s.Drains[b].At); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys[:over] {
			delete(s.Drains, k)
		}
	}
}
