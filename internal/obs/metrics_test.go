//go:build !tgsync_lambda

package obs

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tgsync/tgsync"
)

// scrape serves the metrics on 127.0.0.1 and parses them with the
// Prometheus text parser, as a Prometheus server would.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("metrics server on %s, want loopback", srv.URL)
	}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// sample finds the value of a series by its labels as "k=v,k=v" (sorted),
// and reports whether it exists.
func sample(fams map[string]*dto.MetricFamily, name, labels string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		if strings.Join(ls, ",") != labels {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// run2Calls are the calls of run2 (fixture_test.go).
func run2Calls() map[string]int { return map[string]int{"DescribeTargetHealth": 1} }

func TestMetricsObserve(t *testing.T) {
	m := NewMetrics()
	fams := scrape(t, m)
	if _, ok := fams["tgsync_run_duration_seconds"]; !ok {
		t.Fatal("the run histogram must exist before the first run")
	}
	m.Observe(run1(), run1Calls(), map[string]int{"DescribeTargetHealth": 1, "RegisterTargets": 2})
	m.Observe(run2(), run2Calls(), map[string]int{"DescribeTargetHealth": 3})
	fams = scrape(t, m)

	const os, alb, farg = "binding=opensearch-dashboards", "binding=internal-alb-static-ip", "binding=fargate-logstash"
	tests := []struct {
		name, labels string
		want         float64
	}{
		// The OpenSearch DNS failed in run 2: its gauges keep run 1's view.
		{"tgsync_desired_targets", os, 3},
		{"tgsync_registered_targets", os, 5}, // 6 observed, 1 draining, +1 registered, -1 deregistered
		{"tgsync_healthy_targets", os, 2},    // 3 healthy, 1 of them deregistered
		{"tgsync_pending_deregistration", os, 1},
		{"tgsync_desired_targets", alb, 4},
		{"tgsync_registered_targets", alb, 5},
		{"tgsync_healthy_targets", alb, 4},
		{"tgsync_pending_deregistration", alb, 0},
		{"tgsync_registered_total", os, 1},
		{"tgsync_deregistered_total", os, 1},
		{"tgsync_registered_total", alb, 2},
		{"tgsync_registered_total", farg, 0},
		{"tgsync_refused_total", os + ",rule=max-fraction", 1},
		{"tgsync_refused_total", os + ",rule=source-failed", 1},
		{"tgsync_refused_total", alb + ",rule=not-allowed", 2},
		{"tgsync_refused_total", farg + ",rule=source-failed", 2},
		{"tgsync_source_failures_total", os, 1},
		{"tgsync_source_failures_total", alb, 0},
		{"tgsync_source_failures_total", farg, 2},
		{"tgsync_binding_failures_total", farg, 2},
		{"tgsync_binding_failures_total", alb, 0},
		{"tgsync_api_calls_total", "action=DescribeTargetHealth", 3},
		{"tgsync_api_calls_total", "action=RegisterTargets", 2},
		{"tgsync_api_calls_total", "action=DeregisterTargets", 1},
		{"tgsync_throttles_total", "action=DescribeTargetHealth", 4},
		{"tgsync_throttles_total", "action=RegisterTargets", 2},
		{"tgsync_throttles_total", "action=DeregisterTargets", 0}, // a series from the action's first call
		{"tgsync_last_run_timestamp_seconds", "", unixSeconds(t0.Add(time.Minute + 700*time.Millisecond))},
		{"tgsync_binding_last_success_timestamp_seconds", os, unixSeconds(t0.Add(1500 * time.Millisecond))},
		{"tgsync_binding_last_success_timestamp_seconds", alb, unixSeconds(t0.Add(time.Minute + 700*time.Millisecond))},
	}
	for _, tt := range tests {
		got, ok := sample(fams, tt.name, tt.labels)
		if !ok {
			t.Errorf("%s{%s} missing", tt.name, tt.labels)
			continue
		}
		if got != tt.want {
			t.Errorf("%s{%s} = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	// A binding that never got as far as a plan has no group gauges: a
	// failed lookup must not read as an empty group.
	for _, name := range []string{"tgsync_desired_targets", "tgsync_registered_targets", "tgsync_healthy_targets"} {
		if v, ok := sample(fams, name, farg); ok {
			t.Errorf("%s{%s} = %v, want no series", name, farg, v)
		}
	}
	if _, ok := sample(fams, "tgsync_binding_last_success_timestamp_seconds", farg); ok {
		t.Error("a binding that never succeeded has a last-success time")
	}
	h := fams["tgsync_run_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 2.2 {
		t.Errorf("run duration histogram: count %d sum %v, want 2 and 2.2", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[want]; !ok {
			t.Errorf("family %s missing; have %v", want, slices.Sorted(maps.Keys(fams)))
		}
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "tgsync_") && f.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}
}

func TestMetricsOwnRegistry(t *testing.T) {
	a, b := NewMetrics(), NewMetrics()
	a.Observe(run1(), run1Calls(), nil)
	if v, ok := sample(scrape(t, b), "tgsync_registered_total", "binding=opensearch-dashboards"); ok {
		t.Errorf("a second Metrics sees the first one's series (%v): registries must not be shared", v)
	}
}

func TestDiffCalls(t *testing.T) {
	tests := []struct {
		before, after, want map[string]int
	}{
		{nil, map[string]int{"DescribeTargetHealth": 2}, map[string]int{"DescribeTargetHealth": 2}},
		{map[string]int{"DescribeTargetHealth": 2, "RegisterTargets": 1}, map[string]int{"DescribeTargetHealth": 5, "RegisterTargets": 1},
			map[string]int{"DescribeTargetHealth": 3}},
		{map[string]int{"GetObject": 4}, map[string]int{"GetObject": 4}, map[string]int{}},
	}
	for _, tt := range tests {
		if got := DiffCalls(tt.before, tt.after); !maps.Equal(got, tt.want) {
			t.Errorf("DiffCalls(%v, %v) = %v, want %v", tt.before, tt.after, got, tt.want)
		}
	}
}

// TestMetricsInit: before any run, /metrics says which build runs and has
// every counter of every binding at zero, tgsync_refused_total once per
// rule, so that a rule that never refused is a series at 0, not a gap.
func TestMetricsInit(t *testing.T) {
	m := NewMetrics()
	m.Init(BuildInfo{Version: "v1.4.0", Commit: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.25.1"}, []string{"a", "b"})
	fams := scrape(t, m)
	if v, ok := sample(fams, "tgsync_build_info", "commit=0123456789abcdef0123456789abcdef01234567,goversion=go1.25.1,version=v1.4.0"); !ok || v != 1 {
		t.Errorf("tgsync_build_info = %v (present %v), want 1", v, ok)
	}
	for _, binding := range []string{"a", "b"} {
		for _, rule := range tgsync.Rules {
			if v, ok := sample(fams, "tgsync_refused_total", "binding="+binding+",rule="+rule); !ok || v != 0 {
				t.Errorf("tgsync_refused_total{binding=%q,rule=%q} = %v (present %v), want 0", binding, rule, v, ok)
			}
		}
		for _, name := range []string{"tgsync_registered_total", "tgsync_deregistered_total", "tgsync_source_failures_total", "tgsync_binding_failures_total"} {
			if v, ok := sample(fams, name, "binding="+binding); !ok || v != 0 {
				t.Errorf("%s{binding=%q} = %v (present %v), want 0", name, binding, v, ok)
			}
		}
	}
	if n := len(fams["tgsync_refused_total"].GetMetric()); n != 2*len(tgsync.Rules) {
		t.Errorf("%d refusal series, want %d", n, 2*len(tgsync.Rules))
	}
}
