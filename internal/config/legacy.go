package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
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
