package tgsync

import (
	"fmt"
	"net/netip"
	"time"
)

// Policy holds the safety rules of one binding. The zero value is not
// useful; start from DefaultPolicy.
type Policy struct {
	// AfterMisses is how many consecutive successful observations must miss
	// an owned target before it may be deregistered (rule 2).
	AfterMisses int
	// AfterDuration is how long the target must have been missing (rule 2).
	AfterDuration time.Duration
	// MaxFraction bounds the removals of one run to this share of the
	// registered targets, at least one (rule 4).
	MaxFraction float64
	// Shared means the binding owns only the targets it registered itself;
	// otherwise it owns its whole target group (rule 3).
	Shared bool
	// AllowedPrefixes are the ranges an address must fall in to be
	// registered (rule 6).
	AllowedPrefixes []netip.Prefix
	// WaitForHealthy holds the removal of stale targets while a target
	// this binding registered is still in its first health check
	// (initial), for at most this long: make before break. Zero removes
	// without waiting.
	WaitForHealthy time.Duration
}

// DefaultAllowedPrefixes are the private ranges: RFC 1918, RFC 6598 shared
// address space and IPv6 unique local addresses.
var DefaultAllowedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// DefaultWaitForHealthy is how long a stale target's removal waits for
// the targets that replace it to pass their first health check. An NLB
// often takes 70 s to several minutes to run a new target's first check
// (docs/deploy.md, "Make before break").
const DefaultWaitForHealthy = 5 * time.Minute

// DefaultPolicy returns the defaults the README documents: 3 misses and 3 minutes,
// 50% per run, a dedicated target group, private ranges only.
func DefaultPolicy() Policy {
	return Policy{
		AfterMisses:     3,
		AfterDuration:   3 * time.Minute,
		MaxFraction:     0.5,
		AllowedPrefixes: append([]netip.Prefix(nil), DefaultAllowedPrefixes...),
		WaitForHealthy:  DefaultWaitForHealthy,
	}
}

// Validate reports the first setting that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.AfterMisses < 1:
		return fmt.Errorf("afterMisses must be at least 1, got %d", p.AfterMisses)
	case p.AfterDuration < 0:
		return fmt.Errorf("afterDuration must not be negative, got %s", p.AfterDuration)
	case p.WaitForHealthy < 0:
		return fmt.Errorf("waitForHealthy must not be negative, got %s", p.WaitForHealthy)
	case p.MaxFraction <= 0 || p.MaxFraction > 1:
		return fmt.Errorf("maxFraction must be in (0, 1], got %g", p.MaxFraction)
	case len(p.AllowedPrefixes) == 0:
		return fmt.Errorf("allowedCidrs must hold at least one range")
	}
	return nil
}

// NeverRegistered are addresses no config can allow, because a target group
// must never send traffic to them: they are the host itself, no host, every
// host, or an AWS service that answers on every instance. docs/addresses.md
// lists them with their AWS sources.
var NeverRegistered = []Reserved{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.169.254/32"), "the instance metadata service"},
	{netip.MustParsePrefix("169.254.169.253/32"), "the Amazon DNS server"},
	{netip.MustParsePrefix("169.254.169.123/32"), "the Amazon Time Sync Service"},
	{netip.MustParsePrefix("169.254.170.2/32"), "the ECS task metadata and credentials endpoint"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (RFC 1112)"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the instance metadata service"},
	{netip.MustParsePrefix("fd00:ec2::253/128"), "the Amazon DNS server"},
	{netip.MustParsePrefix("fd00:ec2::123/128"), "the Amazon Time Sync Service"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Reserved is a range of addresses that is never registered, and what it is.
type Reserved struct {
	Prefix netip.Prefix
	What   string
}

// ReservedFor returns what addr is when no config may allow it (see
// NeverRegistered), or "" when it may be allowed.
func ReservedFor(addr netip.Addr) string {
	addr = addr.Unmap()
	for _, r := range NeverRegistered {
		if r.Prefix.Contains(addr) {
			return r.What
		}
	}
	return ""
}

// Allows reports whether addr may be registered: it lies in one of the
// allowed ranges and is not one of the addresses no config can allow.
func (p Policy) Allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	if ReservedFor(addr) != "" {
		return false
	}
	for _, pre := range p.AllowedPrefixes {
		if pre.Contains(addr) {
			return true
		}
	}
	return false
}

// Targets turns a source's addresses into targets on every port: those
// the policy allows (rule 6) and those it refuses, each ordered by address
// and then in the order of ports, without duplicates.
func (p Policy) Targets(addrs []netip.Addr, ports []uint16) (allowed, refused []Target) {
	for _, addr := range uniqueAddrs(addrs) {
		ok := p.Allows(addr)
		for _, port := range ports {
			t := Target{IP: addr, Port: port}
			if ok {
				allowed = append(allowed, t)
			} else {
				refused = append(refused, t)
			}
		}
	}
	return allowed, refused
}

// Pending is the countdown of an owned target that the source missed m
// times: how long it has been absent and what is left before it may be
// deregistered (rule 2). Plan, the state kept after a failed removal and
// the status page all count down with it.
func (p Policy) Pending(t Target, m Miss, now time.Time) Pending {
	absent := m.Absence(now)
	return Pending{
		Target: t, Misses: m.Count, MissingFor: absent, FirstMissed: m.Since,
		MissesLeft: max(0, p.AfterMisses-m.Count),
		TimeLeft:   max(0, p.AfterDuration-absent),
	}
}

// MissWindow is the least time between two counted misses of a target:
// half the mean time between the misses the grace asks for
// (AfterDuration / AfterMisses / 2; 30 s with the defaults). Runs closer
// than that observed the same moment. With AfterDuration 0 every run
// counts.
func (p Policy) MissWindow() time.Duration {
	if p.AfterMisses < 1 {
		return 0
	}
	return p.AfterDuration / time.Duration(2*p.AfterMisses)
}

// removalBudget is rule 4: at most MaxFraction of the registered targets,
// but at least one, so that a group of one can still move.
func (p Policy) removalBudget(registered int) int {
	n := int(p.MaxFraction * float64(registered))
	if n < 1 {
		n = 1
	}
	return n
}
