package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/tgsync/tgsync"
)

// maxLookups is the most dns.lookups may be; MAX_LOOKUP_PER_INVOCATION
// above it is capped, not refused.
const maxLookups = 16

// newConfig returns a Config with every default filled in and no
// bindings; build and FromEnv start from it.
func newConfig() *Config {
	return &Config{
		DNS: DNS{
			Lookups:  DefaultLookups,
			Timeout:  DefaultTimeout,
			Families: []string{FamilyIPv4},
		},
		State: State{File: DefaultStateFile},
		Limits: Limits{
			DescribePerSecond: DefaultDescribePerSecond,
			DescribeBurst:     DefaultDescribeBurst,
			ChangesPerSecond:  DefaultChangesPerSecond,
			ChangesBurst:      DefaultChangesBurst,
			DescribeEvery:     DefaultDescribeEvery,
		},
	}
}

// newBinding returns a binding with tgsync.DefaultPolicy's safety rules.
func newBinding() Binding {
	def := tgsync.DefaultPolicy()
	return Binding{
		Deregister: Deregister{
			AfterMisses:    def.AfterMisses,
			AfterDuration:  def.AfterDuration,
			MaxFraction:    def.MaxFraction,
			WaitForHealthy: def.WaitForHealthy,
		},
		AllowedCIDRs: def.AllowedPrefixes,
	}
}

// build turns the raw config into a Config with defaults filled in. It
// reports only what the typed Config cannot hold (unparsable URLs, keys
// set to an empty list or string); check does the rest.
func build(raw *rawConfig, ps *problems) *Config {
	c := newConfig()
	d := &raw.DNS.v
	for _, s := range values(&d.Servers) {
		c.DNS.Servers = append(c.DNS.Servers, normalizeServer(s))
	}
	d.Lookups.to(&c.DNS.Lookups)
	d.Timeout.to(&c.DNS.Timeout)
	if fams := values(&d.Families); fams != nil {
		if len(fams) == 0 {
			ps.add("dns.families", "must list ipv4, ipv6 or both; leave the key out for ipv4")
		}
		c.DNS.Families = fams
	}
	c.State = buildState(&raw.State.v, ps)
	l := &raw.Limits.v
	l.DescribePerSecond.to(&c.Limits.DescribePerSecond)
	l.DescribeBurst.to(&c.Limits.DescribeBurst)
	l.ChangesPerSecond.to(&c.Limits.ChangesPerSecond)
	l.ChangesBurst.to(&c.Limits.ChangesBurst)
	l.DescribeEvery.to(&c.Limits.DescribeEvery)
	for i := range raw.Bindings.items {
		c.Bindings = append(c.Bindings, buildBinding(&raw.Bindings.items[i].v, index("bindings", i), c.DNS.Families, ps))
	}
	if s := &raw.SpotDrain; s.set {
		c.SpotDrain = &SpotDrain{
			TargetGroupARNs: values(&s.v.TargetGroupARNs),
			StopCodes:       values(&s.v.StopCodes),
			Clusters:        values(&s.v.Clusters),
			Group:           s.v.Group.v,
			ContainerName:   s.v.ContainerName.v,
			Role:            Role{ARN: s.v.RoleARN.v, ExternalID: s.v.ExternalID.v},
		}
		if c.SpotDrain.StopCodes == nil {
			c.SpotDrain.StopCodes = []string{StopCodeSpotInterruption, StopCodeTerminationNotice}
		} else if len(c.SpotDrain.StopCodes) == 0 {
			ps.add("spotDrain.stopCodes", "must list at least one stop code; leave the key out for SpotInterruption and TerminationNotice")
		}
	}
	return c
}

// normalizeServer gives a bare IP address the DNS port. What does not
// parse is left for check to report.
func normalizeServer(s string) string {
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, 53).String()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String()
	}
	return s
}

func buildState(raw *rawState, ps *problems) State {
	var st State
	if raw.File.set {
		st.File = raw.File.v
		if st.File == "" {
			ps.add("state.file", "must not be empty; leave the key out for "+DefaultStateFile)
			ps.quiet("state")
		}
	}
	if raw.S3.set {
		st.S3 = s3State(raw.S3.v, ps)
	}
	raw.Memory.to(&st.Memory)
	if !raw.File.set && !raw.S3.set && !st.Memory {
		st.File = DefaultStateFile
	}
	return st
}

// s3State reads state.s3; a URL that does not parse is reported, and
// gives an empty location.
func s3State(url string, ps *problems) *S3Location {
	loc, msg := parseS3URL(url)
	if msg != "" {
		ps.add("state.s3", msg)
	}
	return &loc
}

func buildBinding(raw *rawBinding, path string, families []string, ps *problems) Binding {
	b := newBinding()
	b.Name, b.TargetGroupARN = raw.Name.v, raw.TargetGroupARN.v
	b.Ports = values(&raw.Ports)
	b.Shared, b.AvailabilityZone = raw.Shared.v, raw.AvailabilityZone.v
	b.Role = Role{ARN: raw.RoleARN.v, ExternalID: raw.ExternalID.v}
	if s := &raw.Source.v; s.DNS.set {
		b.Source.DNS = &DNSSource{Name: s.DNS.v, Families: slices.Clone(families)}
	}
	buildInterfaces(&raw.Source.v, &b.Source, path, ps)
	if fams := values(&raw.Source.v.Families); fams != nil {
		if len(fams) == 0 {
			ps.add(path+".source.families", "must list ipv4, ipv6 or both; leave the key out for the dns section's default")
		}
		if b.Source.DNS != nil {
			b.Source.DNS.Families = fams
		} else {
			ps.add(path+".source.families", "applies only to a dns source")
		}
	}
	d := &raw.Deregister.v
	d.AfterMisses.to(&b.Deregister.AfterMisses)
	d.AfterDuration.to(&b.Deregister.AfterDuration)
	d.MaxFraction.to(&b.Deregister.MaxFraction)
	d.WaitForHealthy.to(&b.Deregister.WaitForHealthy)
	if cidrs := &raw.AllowedCIDRs; cidrs.ok() {
		b.AllowedCIDRs = nil
		if len(cidrs.items) == 0 {
			ps.add(path+".allowedCidrs", "must hold at least one range; leave the key out for the private ranges")
		}
		for _, p := range cidrs.items {
			if !p.ok() {
				// Reported item by item; the list is not empty.
				ps.quiet(path + ".allowedCidrs")
				continue
			}
			b.AllowedCIDRs = append(b.AllowedCIDRs, p.v)
		}
	}
	return b
}

// parsePrefix reads a CIDR range, refusing host bits so that a range
// means what it says.
func parsePrefix(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			return netip.Prefix{}, fmt.Sprintf("must be a CIDR range, got an address: write %s", netip.PrefixFrom(a, a.BitLen()))
		}
		return netip.Prefix{}, "must be a CIDR range such as 10.0.0.0/8"
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Sprintf("has bits set after the prefix length: write %s", p.Masked())
	}
	return p, ""
}

// check applies the rules a Config must meet, with key paths named as in
// the file.
func (c *Config) check(ps *problems) {
	for i, s := range c.DNS.Servers {
		if ap, err := netip.ParseAddrPort(s); err != nil || ap.Port() == 0 {
			ps.add(index("dns.servers", i), "must be an IP address, optionally with a port (10.0.0.2 or 10.0.0.2:53)")
		}
	}
	if c.DNS.Lookups < 1 || c.DNS.Lookups > maxLookups {
		ps.add("dns.lookups", fmt.Sprintf("must be in 1..%d, got %d", maxLookups, c.DNS.Lookups))
	}
	if c.DNS.Timeout <= 0 {
		ps.add("dns.timeout", fmt.Sprintf("must be more than zero, got %s", c.DNS.Timeout))
	}
	checkFamilies(ps, "dns.families", c.DNS.Families)
	c.checkState(ps)
	positive(ps, "limits.describePerSecond", c.Limits.DescribePerSecond)
	positive(ps, "limits.describeBurst", float64(c.Limits.DescribeBurst))
	positive(ps, "limits.changesPerSecond", c.Limits.ChangesPerSecond)
	positive(ps, "limits.changesBurst", float64(c.Limits.ChangesBurst))
	if c.Limits.DescribeEvery < 0 {
		ps.add("limits.describeEvery", fmt.Sprintf("must not be negative, got %s", c.Limits.DescribeEvery))
	}
	if len(c.Bindings) == 0 && c.SpotDrain == nil {
		ps.add("bindings", "at least one binding is required unless spotDrain is set")
	}
	names := map[string]int{}
	groups := map[string][]int{}
	for i := range c.Bindings {
		b := &c.Bindings[i]
		path := index("bindings", i)
		if msg := checkBindingName(b.Name); msg != "" {
			ps.add(path+".name", msg)
		} else if first, dup := names[b.Name]; dup {
			ps.add(path+".name", fmt.Sprintf("duplicate name; bindings[%d] already uses it", first))
		} else {
			names[b.Name] = i
		}
		c.checkBinding(ps, path, b)
		if b.TargetGroupARN != "" {
			groups[b.TargetGroupARN] = append(groups[b.TargetGroupARN], i)
		}
	}
	// A dedicated binding owns its whole target group and would remove the
	// targets of any other binding on it.
	for i := range c.Bindings {
		b := &c.Bindings[i]
		g := groups[b.TargetGroupARN]
		if len(g) > 1 && !b.Shared {
			others := slices.DeleteFunc(slices.Clone(g), func(j int) bool { return j == i })
			ps.add(index("bindings", i)+".shared", fmt.Sprintf("must be true: the target group is also used by %s, and bindings that share a target group must all be shared", bindingList(c, others)))
		}
	}
	if s := c.SpotDrain; s != nil {
		if len(s.TargetGroupARNs) == 0 {
			ps.add("spotDrain.targetGroupArns", "must list at least one target group ARN")
		}
		for i, a := range s.TargetGroupARNs {
			if msg := checkTargetGroupARN(a); msg != "" {
				ps.add(index("spotDrain.targetGroupArns", i), msg)
			}
			// A dedicated binding would deregister the tasks ECS registers
			// in the group, since they are not in its DNS answer.
			for _, j := range groups[a] {
				if !c.Bindings[j].Shared {
					ps.add(index("bindings", j)+".shared", fmt.Sprintf("must be true: the target group is also in spotDrain.targetGroupArns[%d], and a dedicated binding would remove the tasks registered there", i))
				}
			}
		}
		if len(s.StopCodes) == 0 {
			ps.add("spotDrain.stopCodes", "must list at least one stop code")
		}
		for i, code := range s.StopCodes {
			if msg := checkStopCode(code); msg != "" {
				ps.add(index("spotDrain.stopCodes", i), msg)
			}
		}
		for i, a := range s.Clusters {
			if msg := checkClusterARN(a); msg != "" {
				ps.add(index("spotDrain.clusters", i), msg)
			}
		}
	}
	c.checkRoles(ps)
}

func bindingList(c *Config, idx []int) string {
	parts := make([]string, len(idx))
	for k, j := range idx {
		parts[k] = fmt.Sprintf("bindings[%d]", j)
	}
	return strings.Join(parts, ", ")
}

func (c *Config) checkState(ps *problems) {
	st := c.State
	var kinds []string
	if st.File != "" {
		kinds = append(kinds, "file")
	}
	if st.S3 != nil {
		kinds = append(kinds, "s3")
	}
	if st.Memory {
		kinds = append(kinds, "memory: true")
	}
	switch {
	case len(kinds) == 0:
		ps.add("state", "must set one of file, s3 or memory")
	case len(kinds) > 1:
		ps.add("state", "must set only one of file, s3 and memory, got "+strings.Join(kinds, " and "))
	}
	if st.S3 != nil {
		if msg := checkBucket(st.S3.Bucket); msg != "" {
			ps.add("state.s3", msg)
		}
	}
}

func (c *Config) checkBinding(ps *problems, path string, b *Binding) {
	checkSources(ps, path, b)
	switch {
	case b.Source.DNS != nil:
		if msg := checkDNSName(b.Source.DNS.Name); msg != "" {
			ps.add(path+".source.dns", msg)
		}
		// Inherited families were checked where they are written.
		if !slices.Equal(b.Source.DNS.Families, c.DNS.Families) {
			checkFamilies(ps, path+".source.families", b.Source.DNS.Families)
		}
	}
	if msg := checkTargetGroupARN(b.TargetGroupARN); msg != "" {
		ps.add(path+".targetGroupArn", msg)
	}
	if len(b.Ports) == 0 {
		ps.add(path+".ports", "must list at least one port")
	}
	for j, p := range b.Ports {
		switch {
		case p < 1 || p > 65535:
			ps.add(index(path+".ports", j), fmt.Sprintf("must be in 1..65535, got %d", p))
		case slices.Contains(b.Ports[:j], p):
			ps.add(index(path+".ports", j), fmt.Sprintf("port %d is listed twice", p))
		}
	}
	if b.AvailabilityZone != "" && b.AvailabilityZone != tgsync.AvailabilityZoneAll {
		ps.add(path+".availabilityZone", `must be "" or "all"`)
	}
	d := b.Deregister
	if d.AfterMisses < 1 {
		ps.add(path+".deregister.afterMisses", fmt.Sprintf("must be at least 1, got %d", d.AfterMisses))
	}
	if d.AfterDuration < 0 {
		ps.add(path+".deregister.afterDuration", fmt.Sprintf("must not be negative, got %s", d.AfterDuration))
	}
	if d.WaitForHealthy < 0 {
		ps.add(path+".deregister.waitForHealthy", fmt.Sprintf("must not be negative, got %s", d.WaitForHealthy))
	}
	if !(d.MaxFraction > 0 && d.MaxFraction <= 1) {
		ps.add(path+".deregister.maxFraction", fmt.Sprintf("must be in (0, 1], got %g", d.MaxFraction))
	}
	if len(b.AllowedCIDRs) == 0 {
		ps.add(path+".allowedCidrs", "must hold at least one range")
	}
	for j, p := range b.AllowedCIDRs {
		switch {
		case !p.IsValid():
			ps.add(index(path+".allowedCidrs", j), "is not a valid range")
		default:
			if msg := rangeWarning(p); msg != "" {
				ps.warn(index(path+".allowedCidrs", j), msg)
			}
		}
	}
}

// rangeWarning warns about an allowed range that is not inside one of the
// private ranges tgsync allows by default: then a DNS answer, mistaken or
// hijacked, can put a public address into the target group. "" for a
// range inside them.
func rangeWarning(p netip.Prefix) string {
	wider := false
	for _, r := range tgsync.DefaultAllowedPrefixes {
		if r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return ""
		}
		if p.Bits() < r.Bits() && p.Contains(r.Addr()) {
			wider = true
		}
	}
	how := "is outside"
	if wider {
		how = "is wider than"
	}
	return fmt.Sprintf("%s %s the private ranges (%s): an address in it that a DNS answer holds, even from a mistaken or hijacked record, is registered; allow only the ranges the endpoints live in",
		p, how, privateRanges())
}

// privateRanges lists the default allowed ranges for a message.
func privateRanges() string {
	parts := make([]string, len(tgsync.DefaultAllowedPrefixes))
	for i, r := range tgsync.DefaultAllowedPrefixes {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func checkFamilies(ps *problems, path string, fams []string) {
	if len(fams) == 0 {
		ps.add(path, "must list ipv4, ipv6 or both")
	}
	for i, f := range fams {
		switch {
		case f != FamilyIPv4 && f != FamilyIPv6:
			ps.add(index(path, i), "must be ipv4 or ipv6")
		case slices.Contains(fams[:i], f):
			ps.add(index(path, i), f+" is listed twice")
		}
	}
}

func positive(ps *problems, path string, v float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		ps.add(path, fmt.Sprintf("must be a positive number, got %g", v))
	}
}
