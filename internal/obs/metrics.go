//go:build !tgsync_lambda

package obs

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tgsync/tgsync"
)

// Metrics are the Prometheus metrics of a long-running tgsync, on a
// registry of their own so that nothing else registered in the process
// leaks into /metrics.
//
// Gauges describe each binding after the last run that got as far as a
// plan: a run whose source or describe failed leaves them as they were,
// so a DNS outage does not look like an empty target group. Counters add
// up what every run did.
type Metrics struct {
	mu  sync.Mutex
	reg *prometheus.Registry

	desired, registered, healthy, pending *prometheus.GaugeVec
	lastSuccess                           *prometheus.GaugeVec
	dnsOnly, seenByDNS                    *prometheus.GaugeVec
	registeredTotal, deregisteredTotal    *prometheus.CounterVec
	refusedTotal, sourceFailures          *prometheus.CounterVec
	bindingFailures, apiCalls, throttles  *prometheus.CounterVec
	runDuration                           prometheus.Histogram
	lastRun                               prometheus.Gauge
	buildInfo                             *prometheus.GaugeVec
}

// BuildInfo is what tgsync_build_info says of the binary.
type BuildInfo struct {
	Version, Commit, GoVersion string
}

// NewMetrics registers tgsync's metrics, and the Go runtime and process
// collectors, on a new registry.
func NewMetrics() *Metrics {
	binding := []string{"binding"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, binding)
	}
	m := &Metrics{
		reg:         prometheus.NewRegistry(),
		desired:     gauge("tgsync_desired_targets", "Targets the source's last answer asks for, inside the allowed ranges."),
		registered:  gauge("tgsync_registered_targets", "Targets in the binding's target group after the last run, draining ones excluded."),
		healthy:     gauge("tgsync_healthy_targets", "Healthy targets in the binding's target group after the last run."),
		pending:     gauge("tgsync_pending_deregistration", "Targets absent from the source that wait out their grace before deregistration."),
		lastSuccess: gauge("tgsync_binding_last_success_timestamp_seconds", "Unix time at which the binding last finished a run without error."),
		dnsOnly: gauge("tgsync_dns_only_addresses",
			"Addresses the DNS name gave that none of the binding's network interfaces holds, in the last run in which both answered."),
		seenByDNS: gauge("tgsync_interface_addresses_seen_by_dns_ratio",
			"Share of the binding's network interface addresses that its DNS name gave, in the last run in which both answered."),
		registeredTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tgsync_registered_total",
			Help: "Targets registered."}, binding),
		deregisteredTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tgsync_deregistered_total",
			Help: "Targets deregistered."}, binding),
		refusedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tgsync_refused_total",
			Help: "Changes a safety rule refused, counted in every run that refused them, by rule."}, []string{"binding", "rule"}),
		sourceFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tgsync_source_failures_total",
			Help: "Runs in which the source failed or gave no usable address, so that nothing was removed."}, binding),
		bindingFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tgsync_binding_failures_total",
			Help: "Runs in which the binding failed or did not finish (source, describe or change)."}, binding),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tgsync_api_calls_total",
			Help: "AWS API calls, retries included, by action."}, []string{"action"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tgsync_throttles_total",
			Help: "AWS API calls AWS throttled, by action, counted at every attempt, also those the SDK then retried to success."}, []string{"action"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tgsync_run_duration_seconds",
			Help:    "Duration of a reconcile run over every binding.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tgsync_last_run_timestamp_seconds",
			Help: "Unix time at which the last run finished."}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tgsync_build_info",
			Help: "Always 1; its labels say which tgsync runs: version, commit and Go version."}, []string{"version", "commit", "goversion"}),
	}
	m.reg.MustRegister(m.desired, m.registered, m.healthy, m.pending, m.lastSuccess, m.dnsOnly, m.seenByDNS,
		m.registeredTotal, m.deregisteredTotal, m.refusedTotal, m.sourceFailures, m.bindingFailures,
		m.apiCalls, m.throttles, m.runDuration, m.lastRun, m.buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Init sets tgsync_build_info and starts every counter of each binding at
// zero before the first run, tgsync_refused_total once for every rule
// (tgsync.Rules), so that an alert on increase() or rate() has a series to
// compare from the start and a rule that never refused still shows.
func (m *Metrics) Init(info BuildInfo, bindings []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(info.Version, info.Commit, info.GoVersion).Set(1)
	for _, name := range bindings {
		m.registeredTotal.WithLabelValues(name)
		m.deregisteredTotal.WithLabelValues(name)
		m.sourceFailures.WithLabelValues(name)
		m.bindingFailures.WithLabelValues(name)
		for _, rule := range tgsync.Rules {
			m.refusedTotal.WithLabelValues(name, rule)
		}
	}
}

// Registry is the registry the metrics live on, for tests and for callers
// that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Observe folds one run into the metrics. apiCalls are the calls the run
// made, by action (see DiffCalls), and throttles those AWS throttled.
func (m *Metrics) Observe(res tgsync.RunResult, apiCalls, throttles map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	finished := res.Started.Add(res.Duration)
	for _, b := range res.Bindings {
		n := numbers(b)
		name := b.Binding
		// Counters start at zero for every binding seen, so that rate()
		// has a series from the first run.
		m.registeredTotal.WithLabelValues(name).Add(float64(n.registeredNow))
		m.deregisteredTotal.WithLabelValues(name).Add(float64(n.deregisteredNow))
		m.sourceFailures.WithLabelValues(name).Add(boolFloat(n.sourceFailed))
		m.bindingFailures.WithLabelValues(name).Add(boolFloat(n.failed))
		for _, r := range b.Plan.Refused {
			m.refusedTotal.WithLabelValues(name, r.Rule).Inc()
		}
		if !n.failed {
			m.lastSuccess.WithLabelValues(name).Set(unixSeconds(finished))
		}
		if a := b.Answer.Agreement; a != nil && b.SourceErr == nil {
			m.dnsOnly.WithLabelValues(name).Set(float64(len(a.DNSOnly)))
			m.seenByDNS.WithLabelValues(name).Set(a.Share())
		}
		if !n.planned {
			continue
		}
		m.desired.WithLabelValues(name).Set(float64(n.desired))
		m.registered.WithLabelValues(name).Set(float64(n.registered))
		m.healthy.WithLabelValues(name).Set(float64(n.healthy))
		m.pending.WithLabelValues(name).Set(float64(n.pending))
	}
	for action, count := range apiCalls {
		if count > 0 {
			m.apiCalls.WithLabelValues(action).Add(float64(count))
			// From zero with the action's first call, so that an alert
			// on rate() sees the first throttle.
			m.throttles.WithLabelValues(action).Add(float64(throttles[action]))
		}
	}
	m.runDuration.Observe(res.Duration.Seconds())
	m.lastRun.Set(unixSeconds(finished))
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
