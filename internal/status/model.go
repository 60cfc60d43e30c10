package status

import (
	"time"

	"github.com/tgsync/tgsync"
)

// Status is everything the status page shows.
type Status struct {
	Generated time.Time `json:"generated"`
	// LastRun is nil when no run result is known (in Lambda, or before
	// the daemon's first run finished).
	LastRun  *RunInfo        `json:"lastRun,omitempty"`
	Bindings []BindingStatus `json:"bindings"`
	// Drains are the Spot drains the state remembers, newest first.
	Drains []DrainStatus `json:"drains"`
	// Retired are the bindings that left the config and what they left
	// in their groups.
	Retired []RetiredStatus `json:"retired"`
}

// RunInfo is the run as a whole.
type RunInfo struct {
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	Duration tgsync.Duration `json:"duration"`
	// Failed names the bindings that failed or did not finish.
	Failed       []string `json:"failed,omitempty"`
	StateWritten bool     `json:"stateWritten"`
	Conflicts    int      `json:"conflicts,omitempty"`
	// Error is set when the run as a whole failed (state not loaded or
	// not saved).
	Error string `json:"error,omitempty"`
}

// BindingStatus is one binding: what the source says, what the group holds,
// what waits, what was done and refused.
type BindingStatus struct {
	Name           string       `json:"name"`
	Source         string       `json:"source"`
	TargetGroupARN string       `json:"targetGroupArn"`
	Ports          []uint16     `json:"ports"`
	Policy         PolicyStatus `json:"policy"`
	// Answer is the last successful source answer; nil when none is known.
	Answer *AnswerStatus `json:"answer,omitempty"`
	// Desired are the targets the answer asks for, inside the allowed ranges.
	Desired []string `json:"desired"`
	// TargetsFrom says where Targets come from: "describe" (a fresh
	// DescribeTargetHealth), "run" (the last run described the group; its
	// changes are applied), "state" (the observation the state keeps: the
	// last describe with tgsync's changes since, shown also when the last
	// run could not look at the group or a describe failed) or ""
	// (unknown: Targets lists only desired ones).
	TargetsFrom string `json:"targetsFrom"`
	// ObserveError is why the group could not be described, if it could
	// not.
	ObserveError string `json:"observeError,omitempty"`
	// TargetsAt is when the describe that Targets come from ran (tgsync's
	// own changes since are applied to them), TargetsAge how long before
	// Generated that was. For "state" it is the last describe that found
	// the group changed: one that finds it as stored writes nothing.
	TargetsAt  time.Time       `json:"targetsAt,omitzero"`
	TargetsAge tgsync.Duration `json:"targetsAge,omitempty"`
	Targets    []TargetStatus  `json:"targets"`
	// Outcome is how tgsync's last run of the binding went (Outcome*);
	// GroupHealth is the health of its target group as last seen
	// (GroupHealth*). They are apart because one says nothing of the
	// other: a run can succeed beside a group with no healthy target,
	// and a failed source leaves a healthy group as it is.
	Outcome     string `json:"outcome"`
	GroupHealth string `json:"groupHealth"`
	// Trend is the binding's counts over the last hours, one point per
	// change, oldest first.
	Trend []TrendPoint `json:"trend"`
	// Pending are targets absent from the source that wait out their grace.
	Pending []PendingStatus `json:"pending"`
	// Refusing are the refusals of the last run: what tgsync would do but
	// a safety rule stops.
	Refusing []EventStatus `json:"refusing"`
	// Events are the last changes and refusals, newest first.
	Events    []EventStatus `json:"events"`
	LastError string        `json:"lastError,omitempty"`
	// LastRun is this binding's part of the last run, when known.
	LastRun *BindingRun `json:"lastRun,omitempty"`
	Counts  Counts      `json:"counts"`
}

// PolicyStatus is the binding's safety policy in display form.
type PolicyStatus struct {
	AfterMisses   int             `json:"afterMisses"`
	AfterDuration tgsync.Duration `json:"afterDuration"`
	MaxFraction   float64         `json:"maxFraction"`
	Shared        bool            `json:"shared"`
	AllowedRanges []string        `json:"allowedRanges"`
}

// AnswerStatus is the last successful source answer.
type AnswerStatus struct {
	Addrs []string `json:"addrs"`
	// NotAllowed are the addresses outside the allowed ranges, which
	// tgsync refuses to register.
	NotAllowed []string        `json:"notAllowed,omitempty"`
	TTL        tgsync.Duration `json:"ttl"`
	// Since is when the source started answering this set of addresses.
	Since time.Time `json:"since"`
	// SeenAt is the last time the source gave it, when known.
	SeenAt time.Time `json:"seenAt,omitzero"`
	// Interfaces maps each address that came from a network interface to
	// the interface's ID.
	Interfaces map[string]string `json:"interfaces,omitempty"`
	// Agreement compares the DNS name and the network interfaces of a
	// binding that has both, as the last run saw them; nil when unknown
	// (no run in this process, or one of them failed).
	Agreement *AgreementStatus `json:"agreement,omitempty"`
}

// AgreementStatus is how a DNS answer and the interfaces behind it agree.
type AgreementStatus struct {
	// DNSOnly are addresses DNS gave that no interface holds.
	DNSOnly            []string `json:"dnsOnly"`
	InterfaceAddresses int      `json:"interfaceAddresses"`
	SeenByDNS          int      `json:"seenByDns"`
	// Share is SeenByDNS of InterfaceAddresses, from 0 to 1.
	Share float64 `json:"share"`
}

// TargetStatus is one target of the group, or a desired target the group
// does not hold.
type TargetStatus struct {
	Target string `json:"target"`
	// Registered is false for a desired target the group does not hold.
	Registered       bool               `json:"registered"`
	AvailabilityZone string             `json:"availabilityZone,omitempty"`
	State            tgsync.HealthState `json:"state,omitempty"`
	Reason           string             `json:"reason,omitempty"`
	Description      string             `json:"description,omitempty"`
	// Desired is set when the source's answer holds the target.
	Desired bool `json:"desired"`
	// Foreign marks a target a shared binding did not register and so
	// never removes.
	Foreign bool           `json:"foreign,omitempty"`
	Pending *PendingStatus `json:"pending,omitempty"`
}

// PendingStatus is an owned target absent from the source, counting down
// to its deregistration.
type PendingStatus struct {
	Target       string `json:"target"`
	Misses       int    `json:"misses"`
	MissesNeeded int    `json:"missesNeeded"`
	MissesLeft   int    `json:"missesLeft"`
	// DurationNeeded is how long it must be absent (the policy's).
	DurationNeeded tgsync.Duration `json:"durationNeeded"`
	FirstMissed    time.Time       `json:"firstMissed"`
	MissingFor     tgsync.Duration `json:"missingFor"`
	TimeLeft       tgsync.Duration `json:"timeLeft"`
	// Due is set when both graces ran out: the next run deregisters it
	// unless a safety rule refuses.
	Due bool `json:"due"`
	// BlockedBy is the rule that refused its deregistration, if any.
	BlockedBy     string `json:"blockedBy,omitempty"`
	BlockedReason string `json:"blockedReason,omitempty"`
}

// EventStatus is a change, a refusal or a Spot drain.
type EventStatus struct {
	Time time.Time `json:"time"`
	// Kind is "register", "deregister", "refused" or "drain".
	Kind   string        `json:"kind"`
	Action tgsync.Action `json:"action"`
	Target string        `json:"target,omitempty"`
	Rule   string        `json:"rule,omitempty"`
	Reason string        `json:"reason"`
	Error  string        `json:"error,omitempty"`
}

// The event kinds.
const (
	KindRegister   = "register"
	KindDeregister = "deregister"
	KindRefused    = "refused"
	KindDrain      = "drain"
)

// The outcomes of a binding's last run.
const (
	OutcomeOK           = "ok"
	OutcomeFailed       = "failed"
	OutcomeSourceFailed = "source-failed"
	OutcomeUnfinished   = "unfinished"
	// OutcomeUnknown: no run of the binding is known.
	OutcomeUnknown = "unknown"
)

// The health of a binding's target group as last seen.
const (
	GroupHealthy = "healthy" // every registered target healthy
	// GroupPartlyHealthy: some registered targets are not healthy
	// (unhealthy, initial, unused, ...).
	GroupPartlyHealthy = "partly-healthy"
	// GroupNoHealthy: registered targets, none healthy; ALB and NLB then
	// send traffic to all of them (fail open).
	GroupNoHealthy = "no-healthy"
	GroupEmpty     = "empty"
	GroupUnknown   = "unknown"
)

// TrendPoint is a binding's counts from one run that changed them.
type TrendPoint struct {
	At         time.Time `json:"at"`
	Desired    int       `json:"desired"`
	Registered int       `json:"registered"`
	Healthy    int       `json:"healthy"`
	// Answer marks a run whose source answered a new set of addresses.
	Answer bool `json:"answer,omitempty"`
}

// DrainStatus is what a Spot drain did to one target group.
type DrainStatus struct {
	Time           time.Time `json:"time"`
	Task           string    `json:"task"`
	TargetGroupARN string    `json:"targetGroupArn"`
	Deregistered   []string  `json:"deregistered"`
	Reason         string    `json:"reason,omitempty"`
	Error          string    `json:"error,omitempty"`
}

// BindingRun is one binding's part of the last run.
type BindingRun struct {
	Duration     tgsync.Duration `json:"duration"`
	SourceError  string          `json:"sourceError,omitempty"`
	Error        string          `json:"error,omitempty"`
	Unfinished   bool            `json:"unfinished,omitempty"`
	Registered   int             `json:"registered"`
	Deregistered int             `json:"deregistered"`
}

// Counts summarise a binding for the page header and the CLI.
type Counts struct {
	Desired int `json:"desired"`
	// Registered counts the group's members that are not draining.
	Registered int `json:"registered"`
	Healthy    int `json:"healthy"`
	Unhealthy  int `json:"unhealthy"`
	Initial    int `json:"initial"`
	Draining   int `json:"draining"`
	// Missing counts desired targets the group does not hold.
	Missing  int `json:"missing"`
	Pending  int `json:"pending"`
	Refusing int `json:"refusing"`
}
