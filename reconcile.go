package tgsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Source is where a binding learns the addresses it should hold.
type Source interface {
	// Resolve makes one observation. An error means the source failed and
	// nothing may be removed because of it.
	Resolve(ctx context.Context) (Answer, error)
	// String names the source in reasons and logs.
	String() string
}

// TargetGroups is the part of the elbv2 API a reconcile needs.
type TargetGroups interface {
	// Describe returns the members of a target group with their health.
	Describe(ctx context.Context, arn string) ([]ObservedTarget, error)
	// Register registers targets in order, in batches, each with the
	// Availability Zone it carries. A target without one that AWS wants
	// one for (an address outside the group's VPC, rule 7) goes with
	// AvailabilityZoneAll. It returns the leading targets registered, each
	// with the zone it was registered with.
	Register(ctx context.Context, arn string, targets []Change) (applied []Change, err error)
	// Deregister deregisters targets in order, in batches, each with the
	// zone it carries (a target registered with "all" leaves with "all"),
	// and returns the leading ones deregistered.
	Deregister(ctx context.Context, arn string, targets []Change) (applied []Change, err error)
}

// GroupInfoCache is implemented by TargetGroups adapters that look a group
// up (DescribeTargetGroups) before they describe or change it. The
// reconciler hands them what the state remembers, so that a steady run of
// a new process costs one describe per group, and keeps what they learn.
type GroupInfoCache interface {
	GroupInfo(arn string) (GroupInfo, bool)
	RememberGroupInfo(arn string, info GroupInfo)
}

// Store keeps State between runs. Load never returns a nil State without
// an error: NewState() when nothing is stored yet. The revision is opaque:
// a store returns it from Load and expects it back in Save, which fails
// with ErrConflict when another writer saved in between. An empty revision
// means no state was stored yet.
type Store interface {
	Load(ctx context.Context) (s *State, revision string, err error)
	Save(ctx context.Context, s *State, revision string) (newRevision string, err error)
}

// Binding ties one source to one target group on one or more ports.
type Binding struct {
	Name           string
	Source         Source
	TargetGroupARN string
	Ports          []uint16
	Policy         Policy
	// AZAll registers every target with AvailabilityZone "all" from the
	// start, for sources known to be outside the group's VPC.
	AZAll bool
}

// Reconciler runs the bindings: observe, plan, apply, save.
type Reconciler struct {
	Bindings []Binding
	Groups   TargetGroups
	Store    Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Concurrency bounds the target groups worked on at once; 0 means 4.
	Concurrency int
	// DescribeEvery is how often a group is described when nothing else
	// calls for it (see describeReason); the runs between plan on the
	// observation the state keeps. Zero describes every group every run.
	DescribeEvery time.Duration
	// SaveAttempts bounds the reload-and-replan loop on ErrConflict; 0
	// means DefaultSaveAttempts.
	SaveAttempts int

	mu      sync.Mutex
	unsaved appliedLog // applied by a run whose save failed
}

// BindingResult is what happened to one binding in a run.
type BindingResult struct {
	Binding        string
	Source         string
	TargetGroupARN string
	// Answer is the source's answer when SourceErr is nil.
	Answer    Answer
	SourceErr error
	// Observed is the target group as the run saw it before its changes:
	// described now, or as the state kept it (DescribeReason says which);
	// Described tells an empty group from one that was not observed.
	Observed  []ObservedTarget
	Described bool
	// ObservedAt is when the describe that Observed comes from ran: now
	// when the run described the group, else that of the stored
	// observation (Observation.DescribedAt), not the time tgsync last
	// changed it.
	ObservedAt time.Time
	// DescribeReason says why the group was described ("" when the stored
	// observation served).
	DescribeReason string
	Plan           Decision
	// Registered and Deregistered are the changes that were applied.
	Registered   []Change
	Deregistered []Change
	// Err is the binding's failure: source, describe or apply.
	Err error
	// Unfinished is set when the deadline stopped the binding.
	Unfinished bool
	Duration   time.Duration
	// APICalls counts the AWS API calls sent for the binding, retries
	// included, when the adapters report them with CountAPICall.
	APICalls int

	azAll bool // the group turned out to need AvailabilityZone "all"
}

// Planned reports whether the binding got as far as a plan, so that
// Observed is a real observation: a plan always desires or refuses
// something.
func (r BindingResult) Planned() bool {
	return r.Described || r.SourceErr == nil && (len(r.Plan.Desired) > 0 || len(r.Plan.Refused) > 0)
}

// Failed reports whether the binding counts as failed for exit codes.
func (r BindingResult) Failed() bool { return r.Err != nil || r.Unfinished }

// RunResult is what a run did.
type RunResult struct {
	Started  time.Time
	Duration time.Duration
	Bindings []BindingResult
	// StateWritten is set when the run saved a changed state.
	StateWritten bool
	// Conflicts counts the saves another writer beat.
	Conflicts int
	// State is the state after the run (what was saved, or would be).
	State *State
}

// Failed lists the bindings that failed or did not finish.
func (r RunResult) Failed() []string {
	var names []string
	for _, b := range r.Bindings {
		if b.Failed() {
			names = append(names, b.Binding)
		}
	}
	return names
}

// callCounterKey carries the API call counter of the binding being worked
// on.
type callCounterKey struct{}

// CountAPICall records one AWS API call against the binding whose work ctx
// belongs to, so that a result can say what each binding cost. Adapters
// call it from their SDK middleware, once per attempt sent; for other
// contexts it does nothing.
func CountAPICall(ctx context.Context) {
	if n, ok := ctx.Value(callCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}

// DefaultSaveAttempts is how many times a run plans and saves before it
// gives up on conflicts. A run of a shared binding that registers saves
// twice (its intent, then its result), so runs at once meet twice the
// conflicts of dedicated ones; a replan before any change costs no AWS
// call.
const DefaultSaveAttempts = 5

// ErrUnknownBinding is returned when Run is asked for a binding that is not
// configured.
var ErrUnknownBinding = errors.New("unknown binding")

// RunOptions are the settings of one run. They travel with the run, not
// the Reconciler, so that one Reconciler serves runs with different
// settings at once (a Lambda function with several invocations in flight).
type RunOptions struct {
	// DryRun plans without changing the target groups or the state.
	DryRun bool
	// DeadlineMargin is how long before ctx's deadline the run starts no
	// more AWS work; calls still in flight are cut off half of it before,
	// to leave time to save. 0 means DefaultDeadlineMargin.
	DeadlineMargin time.Duration
	// Interval is how often runs come (the schedule), for spreading the
	// groups' describes over DescribeEvery; 0 means DefaultInterval.
	Interval time.Duration
	// Only names the bindings to run; empty means all. An unknown name
	// fails the run with ErrUnknownBinding.
	Only []string
	// Interrupt ends the run early where that loses nothing: while it
	// loads the state or waits for the store, and while it observes,
	// before any change. Once a change was made, the run finishes and
	// saves it by ctx's deadline. The CLI passes its signal context, so
	// that SIGTERM ends a run that waits for a lock.
	Interrupt context.Context
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) binding(name string) Binding {
	for _, b := range r.Bindings {
		if b.Name == name {
			return b
		}
	}
	return Binding{}
}

func (r *Reconciler) selectBindings(only []string) ([]Binding, error) {
	if len(only) == 0 {
		return r.Bindings, nil
	}
	var out []Binding
	for _, name := range only {
		b := r.binding(name)
		if b.Name == "" {
			return nil, fmt.Errorf("%w %q", ErrUnknownBinding, name)
		}
		out = append(out, b)
	}
	return out, nil
}
