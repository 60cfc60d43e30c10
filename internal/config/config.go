// Package config reads tgsync's YAML configuration: the bindings to keep in
// sync, the DNS resolver settings, where state is kept, client-side API
// rate limits and the Fargate Spot drain.
//
// Parse and Load reject a config as a whole and report every problem with
// its key path and line, including unknown keys (with a "did you mean"
// hint), so that a typo never silently turns a safety setting back to its
// default. A Config they return has every default filled in.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// Defaults for what a config leaves out. The safety defaults of a binding
// come from tgsync.DefaultPolicy.
const (
	DefaultStateFile = "./tgsync-state.json"
	DefaultLookups   = 4
	DefaultTimeout   = 2 * time.Second
	// The limits are half of the ELB API's own token buckets (describe
	// 10/s with 40 burst, changes 4/s with 20 burst per account and
	// Region), which everything else in the account shares: whatever
	// tgsync does, half of each stays for the rest (elbv2.DefaultShare).
	DefaultDescribePerSecond = 5
	DefaultDescribeBurst     = 20
	DefaultChangesPerSecond  = 2
	DefaultChangesBurst      = 10
	// DefaultDescribeEvery spreads each group's describe over ten minutes
	// when nothing calls for one sooner: 1,000 groups then cost 100
	// describes a minute, a sixth of the API's refill.
	DefaultDescribeEvery = 10 * time.Minute
)

// Address families a DNS source can ask for: A and AAAA records.
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Stop codes of the ECS Task State Change that announce a Spot
// interruption; older documents and code use TerminationNotice.
const (
	StopCodeSpotInterruption  = "SpotInterruption"
	StopCodeTerminationNotice = "TerminationNotice"
)

// Config is a parsed, valid config with defaults filled in.
type Config struct {
	DNS      DNS
	State    State
	Limits   Limits
	Bindings []Binding
	// SpotDrain is nil when the config has no spotDrain section.
	SpotDrain *SpotDrain
	// Warnings are settings that are valid but likely unsafe, such as an
	// allowed range that takes in public addresses, sorted by line. Parse
	// and FromEnv fill them in; `tgsync validate` prints them and the
	// other commands log them. They do not make the config invalid.
	Warnings []Problem
}

// DNS configures the resolver DNS sources use.
type DNS struct {
	// Servers are the resolvers to ask, as ip:port. Empty means the system
	// resolver (/etc/resolv.conf).
	Servers []string
	// Lookups is how many queries one observation sends per name, 1 to
	// 16; their answers are merged, because Route 53 shows at most 8
	// records per answer.
	Lookups int
	// Timeout bounds one query.
	Timeout time.Duration
	// Families is the default for bindings that do not set their own.
	Families []string
}

// State says where the reconciler keeps its state. Exactly one of File, S3
// and Memory is set.
type State struct {
	// File is a path, relative to the working directory.
	File string
	// S3 is a bucket and key prefix.
	S3 *S3Location
	// Memory keeps state in the process only, for tests and the demo.
	Memory bool
}

// Kind names the store: "file", "s3" or "memory".
func (s State) Kind() string {
	switch {
	case s.S3 != nil:
		return "s3"
	case s.Memory:
		return "memory"
	default:
		return "file"
	}
}

// S3Location is where in S3 the state lives.
type S3Location struct {
	Bucket string
	// Prefix is "" or ends in "/"; the store appends its object name.
	Prefix string
}

// String renders the location as s3://bucket/prefix.
func (l S3Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// Limits are client-side rate limits on the ELB API, one set per account
// and Region a process reaches, shared by its bindings and its drain.
type Limits struct {
	DescribePerSecond float64
	DescribeBurst     int
	// Changes are RegisterTargets and DeregisterTargets calls.
	ChangesPerSecond float64
	ChangesBurst     int
	// DescribeEvery is how often a group is described when its answer
	// did not change and nothing is due; 0 describes every run.
	DescribeEvery time.Duration
}

// Binding ties one source to one target group on one or more ports.
type Binding struct {
	// Name identifies the binding in state, logs and the CLI.
	Name   string
	Source Source
	// TargetGroupARN is the ip target group to keep in sync.
	TargetGroupARN string
	// Ports are the target ports, each source address is registered on
	// every one of them.
	Ports []int
	// Shared means the binding owns only what it registered itself.
	Shared bool
	// AvailabilityZone is "" or "all"; "all" registers every target with
	// AvailabilityZone all from the start (addresses outside the VPC).
	AvailabilityZone string
	Deregister       Deregister
	// AllowedCIDRs are the ranges an address must be in to be registered.
	AllowedCIDRs []netip.Prefix
	// Role is the role assumed to reach the target group, in the account
	// that owns it; zero uses the process's own credentials.
	Role Role
}

// Role is an IAM role tgsync assumes to reach target groups of another
// account.
type Role struct {
	// ARN is the role's ARN; "" means none.
	ARN string
	// ExternalID is sent with AssumeRole when set, as the role's trust
	// policy may require.
	ExternalID string
}

// Source says where a binding learns its addresses: a DNS name, the
// network interfaces of one endpoint, or both, whose answers are united
// (a target is missed only when both miss it).
type Source struct {
	DNS *DNSSource
	// LoadBalancer is an Application or Network Load Balancer's name or
	// ARN: the addresses of its network interfaces.
	LoadBalancer string
	// OpenSearch is an OpenSearch Service domain's name: the addresses of
	// its network interfaces in the VPC.
	OpenSearch string
	// NetworkInterfaces selects network interfaces by EC2 filters.
	NetworkInterfaces *NetworkInterfaces
}

// Kinds names the source kinds that are set, dns first.
func (s Source) Kinds() []string {
	var out []string
	if s.DNS != nil {
		out = append(out, KindDNS)
	}
	if s.LoadBalancer != "" {
		out = append(out, KindLoadBalancer)
	}
	if s.OpenSearch != "" {
		out = append(out, KindOpenSearch)
	}
	if s.NetworkInterfaces != nil {
		out = append(out, KindNetworkInterfaces)
	}
	return out
}

// Kind names the source kinds that are set, joined by "+" ("dns",
// "dns+loadBalancer"), or "" when none is.
func (s Source) Kind() string { return strings.Join(s.Kinds(), "+") }

// Interfaces reports whether the source reads network interfaces.
func (s Source) Interfaces() bool {
	return s.LoadBalancer != "" || s.OpenSearch != "" || s.NetworkInterfaces != nil
}

// UsesInterfaces reports whether a binding reads network interfaces, so
// that tgsync needs ec2:DescribeNetworkInterfaces.
func (c *Config) UsesInterfaces() bool {
	return slices.ContainsFunc(c.Bindings, func(b Binding) bool { return b.Source.Interfaces() })
}

// DNSSource resolves a name.
type DNSSource struct {
	Name string
	// Families are the address families to ask for, the binding's own or
	// else the dns section's.
	Families []string
}

// Deregister holds the grace rules before an absent target is removed.
type Deregister struct {
	AfterMisses   int
	AfterDuration time.Duration
	MaxFraction   float64
	// WaitForHealthy holds removals while a target the binding registered
	// is in its first health check, for at most this long.
	WaitForHealthy time.Duration
}

// SpotDrain configures deregistering Fargate Spot tasks when their
// interruption warning arrives.
type SpotDrain struct {
	TargetGroupARNs []string
	// StopCodes are the stop codes that trigger a drain.
	StopCodes []string
	// Clusters, Group and ContainerName filter the events; empty matches
	// everything.
	Clusters      []string
	Group         string
	ContainerName string
	// Role is the role assumed to reach the target groups; zero uses the
	// process's own credentials.
	Role Role
}

// Policy returns the binding's safety policy. Zero AfterMisses and
// MaxFraction and empty AllowedCIDRs take tgsync.DefaultPolicy's values;
// AfterDuration and WaitForHealthy are taken as they are, because zero is
// a valid choice (Parse fills in the default when the key is absent).
func (b Binding) Policy() tgsync.Policy {
	p := tgsync.DefaultPolicy()
	if b.Deregister.AfterMisses > 0 {
		p.AfterMisses = b.Deregister.AfterMisses
	}
	p.AfterDuration = b.Deregister.AfterDuration
	p.WaitForHealthy = b.Deregister.WaitForHealthy
	if b.Deregister.MaxFraction > 0 {
		p.MaxFraction = b.Deregister.MaxFraction
	}
	p.Shared = b.Shared
	if len(b.AllowedCIDRs) > 0 {
		p.AllowedPrefixes = slices.Clone(b.AllowedCIDRs)
	}
	return p
}

// PortsUint16 returns the ports as the domain types them. Ports outside
// 1..65535 are left out; Parse never returns any.
func (b Binding) PortsUint16() []uint16 {
	out := make([]uint16, 0, len(b.Ports))
	for _, p := range b.Ports {
		if p >= 1 && p <= 65535 {
			out = append(out, uint16(p))
		}
	}
	return out
}

// Families returns the address families of a DNS source, ipv4 when none
// are set.
func (b Binding) Families() []string {
	if b.Source.DNS != nil && len(b.Source.DNS.Families) > 0 {
		return slices.Clone(b.Source.DNS.Families)
	}
	return []string{FamilyIPv4}
}

// AZAll reports whether targets are registered with AvailabilityZone all.
func (b Binding) AZAll() bool { return b.AvailabilityZone == tgsync.AvailabilityZoneAll }

// Domain returns the binding as the reconciler takes it, with src as its
// source.
func (b Binding) Domain(src tgsync.Source) tgsync.Binding {
	return tgsync.Binding{
		Name:           b.Name,
		Source:         src,
		TargetGroupARN: b.TargetGroupARN,
		Ports:          b.PortsUint16(),
		Policy:         b.Policy(),
		AZAll:          b.AZAll(),
	}
}

//go:embed example.yaml
var example []byte

// Example returns a commented, valid config that shows every key.
func Example() []byte { return slices.Clone(example) }

// Parse reads a config. When it is invalid the error is a
// *ValidationError listing every problem.
func Parse(data []byte) (*Config, error) { return parse(data, "") }

// parse is Parse; a binding name, when not empty, is given to the config's
// one binding, which must have none (see EnvBindingName).
func parse(data []byte, binding string) (*Config, error) {
	ps := &problems{lines: map[string]int{}}
	var raw section[rawConfig]
	if empty := readYAML(data, &raw, ps); empty {
		ps.add("", "config is empty: it needs at least one binding, or a spotDrain section")
		return nil, ps.err()
	}
	if ps.covered("") {
		return nil, ps.err()
	}
	if binding != "" {
		nameOnlyBinding(&raw.v, binding, ps)
	}
	cfg := build(&raw.v, ps)
	cfg.check(ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	cfg.Warnings = ps.sortedWarnings()
	return cfg, nil
}

// Load reads and parses the config file at path. A *ValidationError names
// the file in every line.
func Load(path string) (*Config, error) { return load(path, "") }

// load is Load with parse's binding name.
func load(path, binding string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	cfg, err := parse(data, binding)
	var ve *ValidationError
	if errors.As(err, &ve) {
		return nil, ve.WithFile(path)
	}
	return cfg, err
}

// Validate checks a Config built in code by the rules Parse applies. It
// expects defaults filled in, as Parse leaves them; problems carry paths
// but no lines. It leaves Warnings alone.
func (c *Config) Validate() error {
	ps := &problems{}
	c.check(ps)
	return ps.err()
}
