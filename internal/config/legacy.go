package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// The variables Lambda mode reads its configuration from: a tgsync config
// (a file or inline YAML), or the variables of one of the functions tgsync
// replaces, each set mapped onto one binding with the meaning it had.
const (
	EnvConfig     = "TGSYNC_CONFIG"      // path of a YAML config file
	EnvConfigYAML = "TGSYNC_CONFIG_YAML" // the YAML config itself
	// EnvStateS3 moves the state of the DomainEndpoint set from /tmp to
	// S3 (s3://bucket/prefix/); the other legacy sets have S3_BUCKET.
	EnvStateS3 = "TGSYNC_STATE_S3"
	// EnvBindingName names the one binding of a TGSYNC_CONFIG or
	// TGSYNC_CONFIG_YAML config, which then leaves its name out. A name
	// longer than a binding name may be is shortened by ShortBindingName,
	// so that a template can pass a CloudFormation stack name (up to 128
	// characters), which it has no function to shorten.
	EnvBindingName = "TGSYNC_BINDING_NAME"
)

// LegacySet names a function whose variables FromEnv understands.
type LegacySet string

// The legacy sets.
const (
	// SetOpenSearchGo is the Go function on go1.x that put an OpenSearch
	// VPC domain behind an ALB: DomainEndpoint, AlbId, AlbTargetGroupId.
	SetOpenSearchGo LegacySet = "DomainEndpoint"
	// SetALBBehindNLB is aws-samples populate_NLB_TG_with_ALB.
	SetALBBehindNLB LegacySet = "populate_NLB_TG_with_ALB"
	// SetHostnameAsTarget is aws-samples
	// hostname-as-target-for-elastic-load-balancer.
	SetHostnameAsTarget LegacySet = "hostname-as-target"
)

// LegacyStateFile is where the DomainEndpoint set keeps state unless
// TGSYNC_STATE_S3 is set. /tmp is the only writable place in Lambda and
// does not survive a cold start: forgetting miss counters only delays a
// removal, never hastens one.
const LegacyStateFile = "/tmp/tgsync-state.json"

// legacyMissInterval turns INVOCATIONS_BEFORE_DEREGISTRATION=N into
// afterDuration (N-1) × 30s. At the one-minute schedule the legacy
// functions ran on, N misses span at least (N-1) minutes, so removal comes
// on the same invocation as before even when the schedule fires a few
// seconds early; a burst of retried or duplicated invocations cannot
// remove a target within seconds.
const legacyMissInterval = 30 * time.Second

// Defaults of the legacy variables that may be left unset.
const (
	legacyDefaultLookups     = 10 // hostname-as-target's default
	legacyDefaultInvocations = 3  // hostname-as-target's default
	legacyGoPort             = 443
)

// LegacyInfo says where FromEnv found the configuration and what of the
// legacy variables a Config cannot hold; the caller acts on it at init.
type LegacyInfo struct {
	// From names the source: TGSYNC_CONFIG, TGSYNC_CONFIG_YAML or the
	// legacy set.
	From string
	// Set is the legacy set that was read; "" for a tgsync config.
	Set LegacySet
	// Variables are the variables that were read, sorted.
	Variables []string
	// LoadBalancerARN (AlbId) is a load balancer the target group must be
	// attached to; the caller checks it once at init.
	LoadBalancerARN string
	// PortFromTargetGroup names the binding whose port is its target
	// group's own port, which the caller reads at init and sets with
	// SetTargetGroupPort; until then the binding has no port.
	PortFromTargetGroup string
	// BucketRegion is the Region of the state bucket (BUCKET_REGION) when
	// it is set; "" means the function's Region.
	BucketRegion string
	// IPCount is the legacy IP-count metric when it is turned on.
	IPCount *IPCountMetric
	// Notes say where a value was taken differently from how it was
	// written (a capped lookup count), for the init log.
	Notes []string
}

// IPCountMetric is a legacy function's IP-count metric. CloudWatch
// reserves the AWS/ namespaces the legacy functions wrote to, so tgsync
// writes the same metric and dimension names to its own namespace.
type IPCountMetric struct {
	// Variable is the variable that turned it on.
	Variable string
	// Metric and Dimension are the legacy names; the dimension's value is
	// DNSName.
	Metric, Dimension, DNSName string
	// LegacyNamespace is where the legacy function published it.
	LegacyNamespace string
}

// The legacy IP-count metrics.
const (
	MetricLoadBalancerIPCount     = "LoadBalancerIPCount"
	MetricHostnameAsTargetIPCount = "HostnameAsTargetIPCount"
)

// The variable groups: a group is in use when any of its distinctive
// variables is set.
var (
	configVars  = []string{EnvConfig, EnvConfigYAML}
	goVars      = []string{"DomainEndpoint", "AlbId", "AlbTargetGroupId"}
	goSpotVars  = []string{"NlbId", "NlbTargetGroupId"}
	albVars     = []string{"ALB_DNS_NAME", "ALB_LISTENER", "NLB_TG_ARN", "CW_METRIC_FLAG_IP_COUNT", "SAME_VPC"}
	hostVars    = []string{"TARGET_FQDN", "ELB_TG_ARN", "DNS_SERVER", "BUCKET_REGION", "REPORT_IP_COUNT_CW_METRIC", "REMOVE_UNTRACKED_TG_IP"}
	s3SetVars   = []string{"S3_BUCKET", "MAX_LOOKUP_PER_INVOCATION", "INVOCATIONS_BEFORE_DEREGISTRATION"}
	allEnvNames = slices.Concat(configVars, goVars, goSpotVars, albVars, hostVars, s3SetVars, []string{EnvStateS3, EnvBindingName})
)

// FromEnv reads Lambda mode's configuration from exactly one of
// TGSYNC_CONFIG (a file, the one thing it reads besides getenv),
// TGSYNC_CONFIG_YAML, or one legacy set of variables, which it maps onto a
// Config equal to what the YAML for it would parse to. Settings that
// contradict each other or mix two sets are an *EnvError naming the
// variables; a config that does not validate is a *ValidationError
// (TGSYNC_CONFIG, TGSYNC_CONFIG_YAML) or an *EnvError whose problems name
// the legacy variable behind each key.
func FromEnv(getenv func(string) string) (*Config, LegacyInfo, error) {
	env := map[string]string{}
	for _, name := range allEnvNames {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			env[name] = v
		}
	}
	set := func(names []string) []string {
		var out []string
		for _, n := range names {
			if _, ok := env[n]; ok {
				out = append(out, n)
			}
		}
		return out
	}
	if spot := set(goSpotVars); len(spot) > 0 {
		return nil, LegacyInfo{}, envErr(spot, "belong to the Fargate Spot variant of the Go function; configure a spotDrain section in TGSYNC_CONFIG or TGSYNC_CONFIG_YAML instead")
	}
	groups := []struct {
		name string
		vars []string
	}{
		{"a tgsync config", set(configVars)},
		{"the " + string(SetOpenSearchGo) + " set", set(goVars)},
		{"the " + string(SetALBBehindNLB) + " set", set(albVars)},
		{"the " + string(SetHostnameAsTarget) + " set", set(hostVars)},
	}
	var used []string
	var usedVars []string
	for _, g := range groups {
		if len(g.vars) > 0 {
			used = append(used, strings.Join(g.vars, ", ")+" ("+g.name+")")
			usedVars = append(usedVars, g.vars...)
		}
	}
	shared, stateS3 := set(s3SetVars), set([]string{EnvStateS3})
	if named := set([]string{EnvBindingName}); len(named) > 0 && len(groups[0].vars) == 0 {
		return nil, LegacyInfo{}, envErr(append(named, usedVars...), "names the binding of a tgsync config; set "+EnvConfig+" or "+EnvConfigYAML+
			" with one unnamed binding, or remove it (a legacy set names its binding after its target group)")
	}
	switch {
	case len(used) > 1:
		return nil, LegacyInfo{}, envErr(usedVars, "configure tgsync in one way only, got "+strings.Join(used, " and "))
	case len(groups[0].vars) > 0:
		if len(groups[0].vars) > 1 {
			return nil, LegacyInfo{}, envErr(groups[0].vars, "set one of them, not both")
		}
		if extra := slices.Concat(shared, stateS3); len(extra) > 0 {
			return nil, LegacyInfo{}, envErr(append(groups[0].vars, extra...), "a tgsync config sets state and DNS itself; remove the legacy variables")
		}
		return fromConfig(env, groups[0].vars[0])
	case len(groups[1].vars) > 0:
		if len(shared) > 0 {
			return nil, LegacyInfo{}, envErr(append(groups[1].vars, shared...), "the DomainEndpoint set has no "+strings.Join(shared, ", ")+"; remove them, or use "+EnvStateS3+" for state in S3")
		}
		return fromGo(env)
	case len(groups[2].vars) > 0 || len(groups[3].vars) > 0:
		if len(stateS3) > 0 {
			return nil, LegacyInfo{}, envErr(append(stateS3, "S3_BUCKET"), "S3_BUCKET already says where state is kept; "+EnvStateS3+" applies to the DomainEndpoint set only")
		}
		if len(groups[2].vars) > 0 {
			return fromALB(env)
		}
		return fromHostname(env)
	case len(shared) > 0 || len(stateS3) > 0:
		return nil, LegacyInfo{}, envErr(append(shared, stateS3...), "set without the variables that say what to resolve: add ALB_DNS_NAME and NLB_TG_ARN, TARGET_FQDN and ELB_TG_ARN, or DomainEndpoint and AlbTargetGroupId")
	}
	return nil, LegacyInfo{}, envErr(nil, "no configuration: set "+EnvConfig+" (a YAML file), "+EnvConfigYAML+
		" (the YAML itself), or the variables of a function tgsync replaces (DomainEndpoint and AlbTargetGroupId; ALB_DNS_NAME, ALB_LISTENER, NLB_TG_ARN and S3_BUCKET; or TARGET_FQDN, ELB_TG_ARN and S3_BUCKET)")
}

func envErr(vars []string, msg string) *EnvError {
	return &EnvError{Problems: []EnvProblem{{Variables: slices.Clone(vars), Message: msg}}}
}

// SetTargetGroupPort sets the port of the binding PortFromTargetGroup
// names, once the caller has read it from the target group, and checks the
// config again.
func (l LegacyInfo) SetTargetGroupPort(cfg *Config, port int) error {
	for i := range cfg.Bindings {
		if cfg.Bindings[i].Name == l.PortFromTargetGroup {
			cfg.Bindings[i].Ports = []int{port}
			return cfg.Validate()
		}
	}
	return fmt.Errorf("no binding %q to set the target group's port on", l.PortFromTargetGroup)
}

func fromConfig(env map[string]string, name string) (*Config, LegacyInfo, error) {
	info := LegacyInfo{From: name, Variables: []string{name}}
	binding, note, err := envBindingName(env)
	if err != nil {
		return nil, info, err
	}
	if binding != "" {
		info.Variables = []string{EnvBindingName, name}
		slices.Sort(info.Variables)
	}
	if note != "" {
		info.Notes = append(info.Notes, note)
	}
	if name == EnvConfig {
		cfg, err := load(env[name], binding)
		if err != nil {
			return nil, info, fmt.Errorf("%s: %w", EnvConfig, err)
		}
		return cfg, info, nil
	}
	cfg, err := parse([]byte(env[name]), binding)
	var ve *ValidationError
	if errors.As(err, &ve) {
		return nil, info, ve.WithFile(EnvConfigYAML)
	}
	return cfg, info, err
}

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
