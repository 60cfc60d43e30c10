package tgsync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// StateVersion is the schema version of State. Stores refuse state written
// by a newer tgsync rather than silently dropping what they do not know.
const StateVersion = 1

// HistoryLimit bounds the events kept per binding, so that state stays small
// enough for a status page served from a state store.
const HistoryLimit = 50

// HistoryBudget bounds the history a whole state keeps, in events' worth:
// every binding's events and count trend (a trend point is stored in a
// twentieth of an event's bytes, 12 against 240) and the drain log (an
// entry about an event's). With more bindings than the budget holds full
// histories of (180), each keeps its share of it, but never less than
// MinHistory events' worth; its trend, and the drain log, keep the same
// part of their limits. 1,000 bindings keep 9 events and 17 trend points
// each, 2.3 MB of history instead of 13 MB, and their state stays within
// half of MaxStateBytes. The log keeps every change and refusal; the
// history is what the status page shows.
const (
	HistoryBudget = 10_000
	MinHistory    = 10
)

// trendPointsPerEvent is how many trend points take an event's bytes, and
// fullHistory a binding's full history in events' worth (55).
const (
	trendPointsPerEvent = 20
	fullHistory         = HistoryLimit + (TrendLimit+trendPointsPerEvent-1)/trendPointsPerEvent
)

// historyUnits is the events' worth of history each binding of a state of
// n bindings keeps; the drain log's DrainLogLimit comes off the budget.
func historyUnits(n int) int {
	if n <= 0 {
		return fullHistory
	}
	return min(fullHistory, max(MinHistory, (HistoryBudget-DrainLogLimit)/n))
}

// HistoryShare is the events each binding of a state of n bindings keeps:
// its share of HistoryBudget less what its trend takes.
func HistoryShare(n int) int {
	return historyUnits(n) - (TrendShare(n)+trendPointsPerEvent-1)/trendPointsPerEvent
}

// TrendShare is the trend points each binding of a state of n bindings
// keeps: the part of TrendLimit its share is of a full history.
func TrendShare(n int) int { return TrendLimit * historyUnits(n) / fullHistory }

// DrainLogShare is the entries the drain log of a state of n bindings
// keeps, in the same part of DrainLogLimit.
func DrainLogShare(n int) int { return DrainLogLimit * historyUnits(n) / fullHistory }

// BoundHistory trims every binding's history and trend and the drain log
// to their shares of HistoryBudget, oldest first.
func (s *State) BoundHistory() {
	n := len(s.Bindings)
	events, points := HistoryShare(n), TrendShare(n)
	for _, b := range s.Bindings {
		if over := len(b.History) - events; over > 0 {
			b.History = slices.Clone(b.History[over:])
		}
		if over := len(b.Trend) - points; over > 0 {
			b.Trend = slices.Clone(b.Trend[over:])
		}
	}
	if over := len(s.DrainLog) - DrainLogShare(n); over > 0 {
		s.DrainLog = slices.Clone(s.DrainLog[over:])
	}
}

// ErrConflict is returned by Store.Save when another writer saved first.
// The caller reloads, plans again and retries.
var ErrConflict = errors.New("state changed since it was loaded")

// State is everything tgsync remembers between runs.
type State struct {
	Version  int                      `json:"version"`
	Bindings map[string]*BindingState `json:"bindings,omitempty"`
	// Drains remembers, per task ARN, the newest event version a drain
	// acted on, so that a repeated or late event changes nothing.
	Drains map[string]DrainRecord `json:"drains,omitempty"`
	// Groups remembers, per target group ARN, what DescribeTargetGroups
	// said, so that a new process (a Lambda cold start) does not ask again.
	Groups map[string]GroupInfo `json:"groups,omitempty"`
	// Observations keeps, per target group ARN, what the group held when
	// tgsync last looked (see Observation).
	Observations map[string]*Observation `json:"observations,omitempty"`
	// DrainLog is the history of Spot drains, oldest first (see
	// DrainEntry).
	DrainLog []DrainEntry `json:"drainLog,omitempty"`
}

// GroupInfo is what tgsync needs of a target group besides its members: its
// type is checked before anything changes, and a target without a port is
// on the group's port. None of it changes for the life of a group (a new
// group has a new ARN); At says when tgsync last took it from AWS.
type GroupInfo struct {
	TargetType    string    `json:"targetType"`
	Port          uint16    `json:"port,omitempty"`
	Protocol      string    `json:"protocol,omitempty"`
	VPCID         string    `json:"vpcId,omitempty"`
	IPAddressType string    `json:"ipAddressType,omitempty"`
	At            time.Time `json:"at"`
}

// GroupInfoMaxAge is how long a remembered GroupInfo is used before it is
// asked for again: once a day per group at most.
const GroupInfoMaxAge = 24 * time.Hour

// NewState returns an empty state of the current version.
func NewState() *State {
	return &State{Version: StateVersion, Bindings: map[string]*BindingState{}}
}

// Binding returns the state of the named binding, creating it if needed.
func (s *State) Binding(name string) *BindingState {
	if s.Bindings == nil {
		s.Bindings = map[string]*BindingState{}
	}
	b := s.Bindings[name]
	if b == nil {
		b = &BindingState{}
		s.Bindings[name] = b
	}
	return b
}

// Clone returns a deep copy, so that a plan can be discarded.
func (s *State) Clone() *State {
	c := &State{Version: s.Version, Bindings: make(map[string]*BindingState, len(s.Bindings))}
	for k, v := range s.Bindings {
		b := v.Clone()
		c.Bindings[k] = &b
	}
	c.Drains = maps.Clone(s.Drains)
	c.Groups = maps.Clone(s.Groups)
	if s.DrainLog != nil {
		c.DrainLog = make([]DrainEntry, len(s.DrainLog))
		for i, e := range s.DrainLog {
			e.Deregistered = slices.Clone(e.Deregistered)
			c.DrainLog[i] = e
		}
	}
	if s.Observations != nil {
		c.Observations = make(map[string]*Observation, len(s.Observations))
		for k, v := range s.Observations {
			o := *v
			o.Targets = slices.Clone(v.Targets)
			c.Observations[k] = &o
		}
	}
	return c
}

// Equal reports whether two states would be stored identically; a run
// writes state only when it changed.
func (s *State) Equal(o *State) bool {
	a, errA := json.Marshal(s)
	b, errB := json.Marshal(o)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// ErrNewerState is wrapped by DecodeState when the state was written by a
// newer tgsync: the fix is an upgrade, not a restore.
var ErrNewerState = errors.New("written by a newer tgsync")

// MaxStateBytes bounds the stored state every durable store reads and
// writes. 100 bindings with full histories and trends and their groups'
// members take about 1.5 MB, 1,000 about 4.1 MB (their histories bounded
// by HistoryBudget), so a file or object
// over the bound is almost surely the wrong one. The bound keeps the
// decode of the largest accepted state within 64 MiB of heap, so that it
// fits the Lambda function's 128 MB beside the process itself
// (TestMaxStateBytesFitsMemory and docs/reliability.md have the figures).
const MaxStateBytes = 8 << 20

// DecodeState reads a stored state and checks its version. The version is
// read first, so that a newer tgsync's state is told apart from a damaged
// one even when its other fields no longer decode.
func DecodeState(data []byte) (*State, error) {
	var head struct {
		Version *int `json:"version"`
	}
	if json.Unmarshal(data, &head) == nil && head.Version != nil && *head.Version > StateVersion {
		return nil, fmt.Errorf("decode state: version %d %w (this one reads up to %d); upgrade tgsync", *head.Version, ErrNewerState, StateVersion)
	}
	s := &State{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if head.Version == nil || s.Version == 0 {
		return nil, fmt.Errorf("decode state: no version field; is this a tgsync state file?")
	}
	if s.Bindings == nil {
		s.Bindings = map[string]*BindingState{}
	}
	return s, nil
}

// EncodeState writes state in its stored form: compact JSON, a quarter
// smaller than indented (jq . shows it indented). DecodeState reads both,
// and so the indented states of older versions.
func EncodeState(s *State) ([]byte, error) {
	if s.Version == 0 {
		s.Version = StateVersion
	}
	return json.Marshal(s)
}

// BindingState is what one binding remembers.
type BindingState struct {
	// Owned lists the targets a shared binding registered itself, with the
	// time it registered them. A dedicated binding owns its whole group and
	// leaves this empty.
	Owned map[Target]time.Time `json:"owned,omitempty"`
	// Misses counts, per owned target, the consecutive successful
	// observations that did not contain it.
	Misses map[Target]Miss `json:"misses,omitempty"`
	// Joining holds the targets this binding registered that have not
	// yet been seen out of their first health check, with the time they
	// were registered: stale targets wait for them (make before break).
	Joining map[Target]time.Time `json:"joining,omitempty"`
	// AZAll records that the group needs AvailabilityZone "all" (rule 7).
	AZAll bool `json:"azAll,omitempty"`
	// Answer is the last successful source answer; it changes only when the
	// set of addresses does.
	Answer *SourceAnswer `json:"answer,omitempty"`
	// RemovedAt is when a run first found the binding gone from the
	// config. Its entry is dropped BindingRetention later; until then the
	// status shows what it owned (targets nobody removes).
	RemovedAt time.Time `json:"removedAt,omitzero"`
	// TargetGroupARN is the group the binding was last configured with,
	// so that once it leaves the config the status can still say where
	// the targets it leaves behind are.
	TargetGroupARN string `json:"targetGroupArn,omitempty"`
	// LastError is the last failure of the binding, cleared by a clean run.
	LastError string `json:"lastError,omitempty"`
	// Refusing holds the refusals of the last run (see Refusal.Key), so
	// that a refusal that repeats every run enters the history once.
	Refusing []string `json:"refusing,omitempty"`
	// History holds the last HistoryLimit changes and refusals.
	History []Event `json:"history,omitempty"`
	// Trend holds the counts of the last TrendRetention, one point per
	// change, for the status page's chart.
	Trend Trend `json:"trend,omitempty"`
}

// Miss is the record of an owned target absent from the source.
type Miss struct {
	// Count is the number of consecutive successful observations that
	// missed the target.
	Count int `json:"count"`
	// Since is the first of them, Last the latest.
	Since time.Time `json:"since"`
	Last  time.Time `json:"last,omitzero"`
}

// Counted is the record once an observation at now missed the target.
// A miss within window of the last counted one is the same observation
// and is not counted again: runs that overlap (two invocations at once, a
// replan after a save conflict) count one miss, not one each (see
// Policy.MissWindow). A clock that stepped back before the first miss
// restarts the absence at now (it is never negative); the count stands.
func (m Miss) Counted(now time.Time, window time.Duration) Miss {
	if m.Count > 0 && !now.Before(m.Last) && now.Sub(m.Last) < window {
		return m
	}
	m.Count++
	if m.Since.IsZero() || m.Since.After(now) {
		m.Since = now
	}
	m.Last = now
	return m
}

// Absence estimates how long the target has been gone at now. The target
// left at some moment between the last observation that held it and the
// first that missed it; the estimate puts that moment halfway, taking the
// mean time between the counted misses as the time between observations:
//
//	absence = (now - Since) + (Last - Since) / (2 × (Count - 1))
//
// With observations on a schedule, a threshold of whole intervals then
// falls halfway between two runs, so that a run that is a little early
// or late never moves a removal to another run. A first miss (nothing to
// measure the interval by) counts from Since alone.
func (m Miss) Absence(now time.Time) time.Duration {
	if m.Since.IsZero() || now.Before(m.Since) {
		return 0
	}
	d := now.Sub(m.Since)
	if m.Count >= 2 && m.Last.After(m.Since) {
		d += m.Last.Sub(m.Since) / time.Duration(2*(m.Count-1))
	}
	return d
}

// SourceAnswer is a stored source answer.
type SourceAnswer struct {
	Addrs []netip.Addr `json:"addrs"`
	TTL   Duration     `json:"ttl"`
	At    time.Time    `json:"at"`
	// Interfaces maps each address that came from a network interface to
	// the interface's ID (see Answer.Interfaces).
	Interfaces map[netip.Addr]string `json:"interfaces,omitempty"`
}

// Event is one entry of a binding's history.
type Event struct {
	Time    time.Time `json:"time"`
	Action  Action    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Refused bool      `json:"refused,omitempty"`
	Rule    string    `json:"rule,omitempty"`
	Reason  string    `json:"reason"`
	Error   string    `json:"error,omitempty"`
}

// Clone returns a deep copy.
func (b BindingState) Clone() BindingState {
	c := b
	c.Owned, c.Misses, c.Joining = maps.Clone(b.Owned), maps.Clone(b.Misses), maps.Clone(b.Joining)
	if b.Answer != nil {
		a := *b.Answer
		a.Addrs = append([]netip.Addr(nil), b.Answer.Addrs...)
		a.Interfaces = maps.Clone(b.Answer.Interfaces)
		c.Answer = &a
	}
	c.Refusing = append([]string(nil), b.Refusing...)
	c.History = append([]Event(nil), b.History...)
	c.Trend = append(Trend(nil), b.Trend...)
	return c
}

// record appends events, keeping the newest HistoryLimit.
func (b *BindingState) record(events ...Event) {
	b.History = append(b.History, events...)
	if n := len(b.History) - HistoryLimit; n > 0 {
		b.History = append([]Event(nil), b.History[n:]...)
	}
}

// Duration is a time.Duration that reads and writes as "90s" in JSON.
type Duration time.Duration

// MarshalText writes the duration in Go's notation.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go's duration notation.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Key identifies a refusal from run to run: "action target rule", with "-"
// as the target of a refusal that concerns the whole binding.
// BindingState.Refusing holds these keys.
func (f Refusal) Key() string {
	target := "-"
	if f.Target.IP.IsValid() {
		target = f.Target.String()
	}
	return string(f.Action) + " " + target + " " + f.Rule
}

// ParseRefusalKey reads a Key back; the refusal has no Reason, which only
// the history keeps.
func ParseRefusalKey(key string) (Refusal, error) {
	parts := strings.Fields(key)
	if len(parts) != 3 {
		return Refusal{}, fmt.Errorf("refusal key %q: want action, target and rule", key)
	}
	f := Refusal{Action: Action(parts[0]), Rule: parts[2]}
	if parts[1] != "-" {
		t, err := ParseTarget(parts[1])
		if err != nil {
			return Refusal{}, fmt.Errorf("refusal key %q: %w", key, err)
		}
		f.Target = t
	}
	return f, nil
}
