package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// legacyBuild collects what one legacy set says into a Config that starts
// from the defaults a file gets, and checks it as a file is checked.
type legacyBuild struct {
	env      map[string]string
	info     LegacyInfo
	problems []EnvProblem
	cfg      *Config
	binding  Binding
	// ps holds the config's problems, by key path.
	ps *problems
	// vars maps a config key path to the variable it came from.
	vars map[string]string
}

func newLegacyBuild(env map[string]string, set LegacySet) *legacyBuild {
	b := &legacyBuild{env: env, info: LegacyInfo{From: string(set), Set: set}, vars: map[string]string{},
		cfg: newConfig(), binding: newBinding(), ps: &problems{}}
	for name := range env {
		b.info.Variables = append(b.info.Variables, name)
	}
	slices.Sort(b.info.Variables)
	return b
}

func (b *legacyBuild) problem(msg string, vars ...string) {
	b.problems = append(b.problems, EnvProblem{Variables: vars, Message: msg})
}

// required returns a variable that must be set.
func (b *legacyBuild) required(name, what string) string {
	v, ok := b.env[name]
	if !ok {
		b.problem("is required: "+what, name)
	}
	return v
}

// integer reads a whole number in [lo, hi]; def when unset.
func (b *legacyBuild) integer(name string, def, lo, hi int) int {
	v, ok := b.env[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		b.problem(fmt.Sprintf("must be a whole number from %d to %d", lo, hi), name)
		return def
	}
	return n
}

// boolean reads true or false in any case (as the Python functions did),
// or 1 or 0; def when unset.
func (b *legacyBuild) boolean(name string, def bool) bool {
	v, ok := b.env[name]
	if !ok {
		return def
	}
	x, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		b.problem("must be true or false", name)
		return def
	}
	return x
}

// dnsName reads the name to resolve into the binding's dns source, with a
// hint for a URL, and returns it.
func (b *legacyBuild) dnsName(name, what string) string {
	v := b.required(name, what)
	if strings.Contains(v, "://") {
		b.problem("must be a host name without a scheme or path", name)
	}
	b.binding.Source.DNS = &DNSSource{Name: v, Families: slices.Clone(b.cfg.DNS.Families)}
	b.vars["bindings[0].source.dns"] = name
	return v
}

// targetGroup reads the target group ARN; the binding is named after the
// group, which is unique per account and Region, so that two functions
// sharing a state object keep apart.
func (b *legacyBuild) targetGroup(name string) {
	arn := b.required(name, "the ARN of the target group to keep in sync")
	b.binding.TargetGroupARN = arn
	b.binding.Name = "legacy"
	if parts := strings.Split(arn, "/"); len(parts) == 3 && checkTargetGroupARN(arn) == "" {
		b.binding.Name = parts[1]
	}
	b.vars["bindings[0].targetGroupArn"] = name
}

// invocations maps INVOCATIONS_BEFORE_DEREGISTRATION onto afterMisses and
// afterDuration (see legacyMissInterval).
func (b *legacyBuild) invocations() {
	const name = "INVOCATIONS_BEFORE_DEREGISTRATION"
	n := b.integer(name, legacyDefaultInvocations, 1, 10000)
	b.binding.Deregister.AfterMisses = n
	b.binding.Deregister.AfterDuration = time.Duration(n-1) * legacyMissInterval
	b.vars["bindings[0].deregister.afterMisses"] = name
	b.vars["bindings[0].deregister.afterDuration"] = name
}

// lookups maps MAX_LOOKUP_PER_INVOCATION onto dns.lookups, capped.
func (b *legacyBuild) lookups() {
	const name = "MAX_LOOKUP_PER_INVOCATION"
	n := b.integer(name, legacyDefaultLookups, 1, 1<<20)
	if n > maxLookups {
		b.info.Notes = append(b.info.Notes, fmt.Sprintf("%s=%d is more than tgsync's maximum of %d lookups per name and run; using %d", name, n, maxLookups, maxLookups))
		n = maxLookups
	}
	b.cfg.DNS.Lookups = n
	b.vars["dns.lookups"] = name
}

// s3State keeps state in S3_BUCKET under "<dns name>/", beside the legacy
// function's own objects.
func (b *legacyBuild) s3State(dnsName string) {
	bucket := b.required("S3_BUCKET", "the bucket the state is kept in")
	url := "s3://" + bucket + "/"
	if dnsName != "" && !strings.Contains(dnsName, "/") {
		url += strings.TrimSuffix(dnsName, ".") + "/"
	}
	b.cfg.State = State{S3: s3State(url, b.ps)}
	b.vars["state.s3"] = "S3_BUCKET"
	b.vars["state"] = "S3_BUCKET"
}

// finish checks the config, naming the variable behind every problem.
func (b *legacyBuild) finish() (*Config, LegacyInfo, error) {
	cfg, ps := b.cfg, b.ps
	cfg.Bindings = []Binding{b.binding}
	cfg.check(ps)
	for _, p := range ps.list {
		if b.info.PortFromTargetGroup != "" && p.Path == "bindings[0].ports" {
			continue // filled in at init from the target group
		}
		name, key := b.varFor(p.Path)
		switch {
		case name == "":
			b.problem(p.Path + ": " + p.Message)
		case slices.ContainsFunc(b.problems, func(q EnvProblem) bool { return slices.Contains(q.Variables, name) }):
			// already said what is wrong with the variable
		default:
			b.problem(itemOf(p.Path, key)+p.Message, name)
		}
	}
	if len(b.problems) > 0 {
		return nil, b.info, &EnvError{Problems: b.problems}
	}
	cfg.Warnings = ps.sortedWarnings()
	return cfg, b.info, nil
}

// varFor is the variable behind a key path or its nearest ancestor, and
// the key path it is mapped to.
func (b *legacyBuild) varFor(path string) (name, key string) {
	for p := path; ; p = parent(p) {
		if v, ok := b.vars[p]; ok {
			return v, p
		}
		if p == "" {
			return "", ""
		}
	}
}

// itemOf says which item of a list variable a problem is about ("item 2:
// "), since the message does not repeat the value; "" when path is the
// variable's key itself.
func itemOf(path, key string) string {
	rest, ok := strings.CutPrefix(path, key+"[")
	if !ok {
		return ""
	}
	i, err := strconv.Atoi(rest[:strings.IndexByte(rest+"]", ']')])
	if err != nil {
		return ""
	}
	return fmt.Sprintf("item %d: ", i+1)
}

// fromGo maps the Go function: the first address of DomainEndpoint on
// port 443 of AlbTargetGroupId became every address, in a dedicated
// binding.
func fromGo(env map[string]string) (*Config, LegacyInfo, error) {
	b := newLegacyBuild(env, SetOpenSearchGo)
	b.dnsName("DomainEndpoint", "the OpenSearch domain endpoint to resolve")
	b.targetGroup("AlbTargetGroupId")
	b.binding.Ports = []int{legacyGoPort}
	if lb, ok := env["AlbId"]; ok {
		if msg := checkLoadBalancerARN(lb); msg != "" {
			b.problem(msg, "AlbId")
		}
		b.info.LoadBalancerARN = lb
	}
	if url, ok := env[EnvStateS3]; ok {
		b.cfg.State = State{S3: s3State(url, b.ps)}
		b.vars["state.s3"] = EnvStateS3
	} else {
		b.cfg.State = State{File: LegacyStateFile}
	}
	return b.finish()
}

// fromALB maps populate_NLB_TG_with_ALB: the ALB's addresses on
// ALB_LISTENER in a dedicated NLB target group.
func fromALB(env map[string]string) (*Config, LegacyInfo, error) {
	b := newLegacyBuild(env, SetALBBehindNLB)
	name := b.dnsName("ALB_DNS_NAME", "the DNS name of the internal ALB")
	b.targetGroup("NLB_TG_ARN")
	if _, ok := env["ALB_LISTENER"]; ok {
		b.binding.Ports = []int{b.integer("ALB_LISTENER", 0, 1, 65535)}
	} else {
		b.required("ALB_LISTENER", "the ALB listener port targets are registered on")
	}
	b.vars["bindings[0].ports"] = "ALB_LISTENER"
	b.s3State(name)
	b.lookups()
	b.invocations()
	if !b.boolean("SAME_VPC", true) {
		b.binding.AvailabilityZone = tgsync.AvailabilityZoneAll
	}
	if b.boolean("CW_METRIC_FLAG_IP_COUNT", false) {
		b.info.IPCount = &IPCountMetric{Variable: "CW_METRIC_FLAG_IP_COUNT", Metric: MetricLoadBalancerIPCount,
			Dimension: "LoadBalancerName", DNSName: name, LegacyNamespace: "AWS/ApplicationELB"}
	}
	return b.finish()
}

// fromHostname maps hostname-as-target-for-elastic-load-balancer: the
// name's addresses on the target group's own port; by default it removed
// only what it had added (shared).
func fromHostname(env map[string]string) (*Config, LegacyInfo, error) {
	b := newLegacyBuild(env, SetHostnameAsTarget)
	name := b.dnsName("TARGET_FQDN", "the host name to resolve")
	b.targetGroup("ELB_TG_ARN")
	b.info.PortFromTargetGroup = b.binding.Name
	b.s3State(name)
	b.lookups()
	b.invocations()
	if servers, ok := env["DNS_SERVER"]; ok {
		for s := range strings.FieldsFuncSeq(servers, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' }) {
			b.cfg.DNS.Servers = append(b.cfg.DNS.Servers, normalizeServer(s))
		}
		b.vars["dns.servers"] = "DNS_SERVER"
	}
	if region, ok := env["BUCKET_REGION"]; ok {
		if !regionName.MatchString(region) {
			b.problem("must be a Region name such as us-west-2", "BUCKET_REGION")
		}
		b.info.BucketRegion = region
	}
	b.binding.Shared = !b.boolean("REMOVE_UNTRACKED_TG_IP", false)
	if b.boolean("REPORT_IP_COUNT_CW_METRIC", true) {
		b.info.IPCount = &IPCountMetric{Variable: "REPORT_IP_COUNT_CW_METRIC", Metric: MetricHostnameAsTargetIPCount,
			Dimension: "HostnameIPCount", DNSName: name, LegacyNamespace: "AWS/NetworkELB"}
	}
	return b.finish()
}
