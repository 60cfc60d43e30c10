package obs

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// DefaultNamespace is the CloudWatch namespace tgsync's metrics go to.
const DefaultNamespace = "tgsync"

// CloudWatch units the EMF lines use.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
	UnitPercent      = "Percent"
)

// EMFOptions shape WriteEMF.
type EMFOptions struct {
	// Namespace is the CloudWatch namespace; "" means DefaultNamespace.
	// Names starting with "AWS/" are refused: CloudWatch reserves them.
	Namespace string
	// Timestamp stamps the metrics; zero means the end of the run.
	Timestamp time.Time
	// Legacy adds the IP-count metrics of the single-purpose Lambda
	// functions tgsync replaces.
	Legacy LegacyIPCount
	// Metrics chooses what becomes a CloudWatch metric; "" means
	// MetricsAll. Each metric name and dimension value is a custom metric
	// billed monthly, so fewer metrics cost less.
	Metrics MetricsLevel
}

// MetricsLevel chooses which EMF values CloudWatch turns into metrics.
type MetricsLevel string

// The metric levels.
const (
	// MetricsAll declares every per-binding metric, the run's and the API
	// calls by action.
	MetricsAll MetricsLevel = "all"
	// MetricsEssential declares, per binding, only what alarms need:
	// DesiredTargets, HealthyTargets and SourceFailures.
	MetricsEssential MetricsLevel = "essential"
	// MetricsOff declares none: the lines still carry every value, for
	// CloudWatch Logs Insights, but create no metric and cost no metric.
	MetricsOff MetricsLevel = "off"
)

// ParseMetricsLevel reads a level as TGSYNC_METRICS spells it; "" is
// MetricsAll.
func ParseMetricsLevel(s string) (MetricsLevel, error) {
	switch l := MetricsLevel(strings.ToLower(strings.TrimSpace(s))); l {
	case "":
		return MetricsAll, nil
	case MetricsAll, MetricsEssential, MetricsOff:
		return l, nil
	}
	return "", fmt.Errorf("metrics level %q: want all, essential or off", s)
}

// essentialMetrics are the per-binding metrics MetricsEssential declares.
var essentialMetrics = map[string]bool{"DesiredTargets": true, "HealthyTargets": true, "SourceFailures": true, "Throttles": true}

// LegacyIPCount selects the IP-count metrics of the functions tgsync
// replaces, so that their dashboards and alarms keep working with a
// namespace change only. Both counted the addresses of one DNS name and
// published them with PutMetricData:
//
//   - CW_METRIC_FLAG_IP_COUNT (the ALB-behind-NLB static IP function):
//     metric LoadBalancerIPCount, dimension LoadBalancerName = the DNS name,
//     value = the addresses in the current answer, unit Count.
//   - REPORT_IP_COUNT_CW_METRIC (the hostname-as-target function): metric
//     HostnameAsTargetIPCount, dimension HostnameIPCount = the DNS name,
//     value = the addresses it tracked (the answer's and those still in
//     their deregistration grace), unit Count.
//
// They used the namespaces AWS/ApplicationELB and AWS/NetworkELB, which
// CloudWatch reserves for AWS services; tgsync keeps the metric and
// dimension names and writes them to its own namespace. As before, a run
// whose source failed reports no count.
type LegacyIPCount struct {
	LoadBalancerIPCount     bool
	HostnameAsTargetIPCount bool
}

// The legacy variables that turn the legacy metrics on.
const (
	EnvLegacyLoadBalancerIPCount = "CW_METRIC_FLAG_IP_COUNT"
	EnvLegacyHostnameIPCount     = "REPORT_IP_COUNT_CW_METRIC"
)

// LegacyIPCountFromEnv reads the legacy variables. Unset or empty means
// off; true/false in any case, or 1/0, are accepted; anything else is an
// error naming the variable.
func LegacyIPCountFromEnv(getenv func(string) string) (LegacyIPCount, error) {
	var out LegacyIPCount
	for _, v := range []struct {
		name string
		dst  *bool
	}{{EnvLegacyLoadBalancerIPCount, &out.LoadBalancerIPCount}, {EnvLegacyHostnameIPCount, &out.HostnameAsTargetIPCount}} {
		raw := strings.TrimSpace(getenv(v.name))
		if raw == "" {
			continue
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return LegacyIPCount{}, fmt.Errorf("%s=%q: want true or false", v.name, raw)
		}
		*v.dst = b
	}
	return out, nil
}

// metric is one value of an EMF line.
type metric struct {
	name  string
	unit  string
	value float64
}

// WriteEMF writes the run's metrics as CloudWatch Embedded Metric Format
// lines, which CloudWatch Logs turns into metrics without an API call (so
// a Lambda in private subnets needs no monitoring endpoint):
//
//   - one line per binding, dimension Binding: DesiredTargets,
//     RegisteredTargets, HealthyTargets and PendingDeregistration (left
//     out when the run did not observe the group, so that a failed lookup
//     is not graphed as an empty group), Registered, Deregistered,
//     Refused, SourceFailures, ApiCalls and RunDurationMs (the binding's
//     share), and for a binding with DNS and interfaces that both
//     answered DNSOnlyAddresses and InterfaceAddressesSeenByDNS (percent);
//     opts.Metrics chooses which of them are declared as metrics;
//   - at MetricsAll only, one line for the run, without dimensions:
//     ApiCalls, RunDurationMs, Bindings and FailedBindings, and one line
//     per AWS action called, dimension Action: ApiCalls, and Throttles
//     when AWS throttled any of its attempts;
//   - at every level but MetricsOff, Throttles of the run, without
//     dimensions, when AWS throttled any attempt: a metric that exists
//     only in the hours it is needed costs next to nothing, and an alarm
//     on it treats missing data as not breaching;
//   - the legacy IP counts when opts.Legacy asks for them, declared at
//     every level.
func WriteEMF(w io.Writer, res tgsync.RunResult, apiCalls, throttles map[string]int, opts EMFOptions) error {
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if strings.HasPrefix(ns, "AWS/") || len(ns) > 255 {
		return fmt.Errorf("EMF namespace %q: must not start with AWS/ (reserved by CloudWatch) and must be at most 255 characters", ns)
	}
	ts := opts.Timestamp
	if ts.IsZero() {
		ts = res.Started.Add(res.Duration)
	}
	if ts.IsZero() {
		ts = time.Now() // a result built by hand; the line still needs a time
	}
	level := opts.Metrics
	if level == "" {
		level = MetricsAll
	}
	// declare says which metrics a line declares; the values are written
	// whatever the level.
	every := func(string) bool { return true }
	declare := every
	switch level {
	case MetricsOff:
		declare = func(string) bool { return false }
	case MetricsEssential:
		declare = func(name string) bool { return essentialMetrics[name] }
	}
	var line emfLine = func(dims map[string]string, extra map[string]any, ms []metric) error {
		return writeEMFLine(w, ns, ts, dims, extra, ms, declare)
	}
	var legacyLine emfLine = func(dims map[string]string, extra map[string]any, ms []metric) error {
		// Asked for by name: declared whatever the level.
		return writeEMFLine(w, ns, ts, dims, extra, ms, every)
	}
	failed := 0
	for _, b := range res.Bindings {
		n := numbers(b)
		if n.failed {
			failed++
		}
		extra := map[string]any{"TargetGroupArn": b.TargetGroupARN, "Source": b.Source, "Failed": n.failed}
		if b.Err != nil {
			extra["Error"] = b.Err.Error()
		}
		if err := line(map[string]string{"Binding": b.Binding}, extra, bindingMetrics(b, n)); err != nil {
			return err
		}
		if err := legacyLines(legacyLine, opts.Legacy, b, n); err != nil {
			return err
		}
	}
	if level != MetricsAll {
		if n := total(throttles); n > 0 {
			return line(nil, nil, []metric{{"Throttles", UnitCount, float64(n)}})
		}
		return nil
	}
	return runLines(line, res, apiCalls, throttles, failed)
}

func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// emfLine writes one EMF line with its dimensions, extra members and
// metrics.
type emfLine func(dims map[string]string, extra map[string]any, ms []metric) error

// bindingMetrics are the metrics of one binding's line.
func bindingMetrics(b tgsync.BindingResult, n bindingNumbers) []metric {
	var ms []metric
	if n.planned {
		ms = append(ms,
			metric{"DesiredTargets", UnitCount, float64(n.desired)},
			metric{"RegisteredTargets", UnitCount, float64(n.registered)},
			metric{"HealthyTargets", UnitCount, float64(n.healthy)},
			metric{"PendingDeregistration", UnitCount, float64(n.pending)})
	}
	ms = append(ms,
		metric{"Registered", UnitCount, float64(n.registeredNow)},
		metric{"Deregistered", UnitCount, float64(n.deregisteredNow)},
		metric{"Refused", UnitCount, float64(n.refused)},
		metric{"SourceFailures", UnitCount, boolFloat(n.sourceFailed)},
		metric{"ApiCalls", UnitCount, float64(b.APICalls)},
		metric{"RunDurationMs", UnitMilliseconds, durationMs(b.Duration)})
	ms = append(ms, agreementMetrics(b)...)
	return ms
}

// agreementMetrics compare the DNS part of a binding's answer with its
// interfaces, when it has both and both answered: the addresses DNS gave
// that no interface holds (a stale record, or not the same endpoint), and
// the share of the interface addresses DNS showed.
func agreementMetrics(b tgsync.BindingResult) []metric {
	a := b.Answer.Agreement
	if b.SourceErr != nil || a == nil {
		return nil
	}
	return []metric{
		{"DNSOnlyAddresses", UnitCount, float64(len(a.DNSOnly))},
		{"InterfaceAddressesSeenByDNS", UnitPercent, a.Share() * 100},
	}
}

// legacyLines writes the IP-count metrics a legacy variable set asked for.
func legacyLines(line emfLine, legacy LegacyIPCount, b tgsync.BindingResult, n bindingNumbers) error {
	if !n.planned || n.addrs == 0 {
		return nil
	}
	if legacy.LoadBalancerIPCount {
		if err := line(map[string]string{"LoadBalancerName": b.Source}, map[string]any{"Binding": b.Binding},
			[]metric{{"LoadBalancerIPCount", UnitCount, float64(n.addrs)}}); err != nil {
			return err
		}
	}
	if legacy.HostnameAsTargetIPCount {
		return line(map[string]string{"HostnameIPCount": b.Source}, map[string]any{"Binding": b.Binding},
			[]metric{{"HostnameAsTargetIPCount", UnitCount, float64(n.tracked)}})
	}
	return nil
}

// runLines writes the run's own line and one line per API action.
func runLines(line emfLine, res tgsync.RunResult, apiCalls, throttles map[string]int, failed int) error {
	ms := []metric{
		{"ApiCalls", UnitCount, float64(total(apiCalls))},
		{"RunDurationMs", UnitMilliseconds, durationMs(res.Duration)},
		{"Bindings", UnitCount, float64(len(res.Bindings))},
		{"FailedBindings", UnitCount, float64(failed)},
	}
	if n := total(throttles); n > 0 {
		ms = append(ms, metric{"Throttles", UnitCount, float64(n)})
	}
	if err := line(nil, nil, ms); err != nil {
		return err
	}
	for _, a := range slices.Sorted(maps.Keys(apiCalls)) {
		if apiCalls[a] <= 0 || a == "" {
			continue
		}
		ms := []metric{{"ApiCalls", UnitCount, float64(apiCalls[a])}}
		if throttles[a] > 0 {
			ms = append(ms, metric{"Throttles", UnitCount, float64(throttles[a])})
		}
		if err := line(map[string]string{"Action": a}, nil, ms); err != nil {
			return err
		}
	}
	return nil
}

// writeEMFLine writes one EMF document on one line: the dimension members,
// the metric members, extra members for Logs Insights and the _aws
// metadata with one directive over all dimension keys. A line that
// declares no metric carries no _aws metadata: it is a plain structured
// log line.
func writeEMFLine(w io.Writer, ns string, ts time.Time, dims map[string]string, extra map[string]any, ms []metric, declare func(name string) bool) error {
	doc := map[string]any{}
	for k, v := range extra {
		doc[k] = v
	}
	dimSet := []string{}
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		v := dims[k]
		if v == "" {
			v = "-" // CloudWatch refuses an empty dimension value
		}
		doc[k] = v
		dimSet = append(dimSet, k)
	}
	defs := make([]map[string]string, 0, len(ms))
	for _, m := range ms {
		doc[m.name] = m.value
		if declare(m.name) {
			defs = append(defs, map[string]string{"Name": m.name, "Unit": m.unit})
		}
	}
	if len(defs) > 0 {
		doc["_aws"] = map[string]any{
			"Timestamp": ts.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  ns,
				"Dimensions": [][]string{dimSet},
				"Metrics":    defs,
			}},
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode EMF line: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write EMF line: %w", err)
	}
	return nil
}

func durationMs(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
