// Package tgsync keeps Elastic Load Balancing target groups of type ip equal
// to the addresses of a moving endpoint, safely.
//
// The package holds the domain: targets and their health, the pure Plan that
// decides what to change and why, the safety Policy, the persisted State and
// the Reconciler that drives one run. Adapters for DNS, network interfaces,
// the elbv2 API, state stores and the in-memory AWS world live in
// subpackages and meet in cmd/tgsync.
package tgsync

import (
	"cmp"
	"fmt"
	"net/netip"
	"time"
)

// Target is the identity of a target group member: ip:port. The
// Availability Zone is deliberately not part of it, because AWS fills it in.
type Target struct {
	IP   netip.Addr
	Port uint16
}

// Valid reports whether the target has an address AWS can register: set,
// and without an IPv6 zone.
func (t Target) Valid() bool { return t.IP.IsValid() && t.IP.Zone() == "" }

// Compare orders targets by address, then port.
func (t Target) Compare(o Target) int {
	if c := t.IP.Compare(o.IP); c != 0 {
		return c
	}
	return cmp.Compare(t.Port, o.Port)
}

// String renders a target as ip:port, with brackets for IPv6.
func (t Target) String() string {
	return netip.AddrPortFrom(t.IP, t.Port).String()
}

// ParseTarget reads the ip:port form String writes.
func ParseTarget(s string) (Target, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: want ip:port: %w", s, err)
	}
	return Target{IP: ap.Addr().Unmap(), Port: ap.Port()}, nil
}

// MarshalText makes a Target usable as a JSON map key and value.
func (t Target) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (t *Target) UnmarshalText(b []byte) error {
	p, err := ParseTarget(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// HealthState is a target's state as DescribeTargetHealth reports it.
type HealthState string

// The target health states AWS documents.
const (
	HealthInitial           HealthState = "initial"
	HealthHealthy           HealthState = "healthy"
	HealthUnhealthy         HealthState = "unhealthy"
	HealthUnhealthyDraining HealthState = "unhealthy.draining"
	HealthUnused            HealthState = "unused"
	HealthDraining          HealthState = "draining"
	HealthUnavailable       HealthState = "unavailable"
)

// Draining reports whether the target is already on its way out.
func (h HealthState) Draining() bool {
	return h == HealthDraining || h == HealthUnhealthyDraining
}

// AvailabilityZoneAll is the zone a target outside the target group's VPC
// must be registered with.
const AvailabilityZoneAll = "all"

// ObservedTarget is one member of a target group as DescribeTargetHealth
// showed it.
type ObservedTarget struct {
	Target
	AvailabilityZone string
	State            HealthState
	Reason           string // e.g. Target.Timeout, Elb.RegistrationInProgress
	Description      string
}

// Answer is what a source said in one successful observation.
type Answer struct {
	Addrs []netip.Addr
	// TTL is the smallest TTL seen; zero when the source has none.
	TTL time.Duration
	// Queries counts the queries sent to produce the answer.
	Queries int
	// Interfaces maps each address that came from a network interface to
	// the interface's ID. The state keeps it, so that an event naming only
	// a deleted interface finds the bindings it served.
	Interfaces map[netip.Addr]string
	// Partial is set when some of a binding's sources failed and the
	// others answered (see Union): the answer holds what the others
	// showed, which is registered, but nothing is removed and no miss is
	// counted because of it (rule 1).
	Partial error
	// Agreement compares the DNS part of a united answer with its
	// interface part; nil unless both answered.
	Agreement *Agreement
}

// Action names what a change does to a target group.
type Action string

// The two changes tgsync makes.
const (
	ActionRegister   Action = "register"
	ActionDeregister Action = "deregister"
)

// Change is one target to register or deregister, and why.
type Change struct {
	Action Action
	Target Target
	// AvailabilityZone is the zone the target was observed in; deregistration
	// passes it back so that targets registered with "all" can leave.
	AvailabilityZone string `json:",omitempty"`
	Reason           string
}

// Refusal is something tgsync would have done but a safety rule stopped.
// Target is the zero value when the refusal concerns the whole binding.
type Refusal struct {
	Action Action
	Target Target `json:",omitzero"`
	Rule   string
	Reason string
}

// Pending is an owned target that is absent from the source and is waiting
// out its grace before it may be deregistered.
type Pending struct {
	Target Target
	Misses int
	// MissingFor is the target's estimated absence (see Miss.Absence).
	MissingFor  time.Duration
	MissesLeft  int
	TimeLeft    time.Duration
	FirstMissed time.Time
}

// Due reports whether the grace ran out: enough misses, long enough.
func (p Pending) Due() bool { return p.MissesLeft == 0 && p.TimeLeft == 0 }
