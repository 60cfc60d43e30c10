package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
	"github.com/tgsync/tgsync/internal/testenv"
)

// startServer serves h on 127.0.0.1 for the test.
func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Start()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, want loopback", srv.URL)
	}
	return srv.URL
}

func fixedStatus(st status.Status) StatusFunc {
	return func(context.Context) (status.Status, error) { return st, nil }
}

func newHandler(t *testing.T, opts Options) *Handler {
	t.Helper()
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPage(t *testing.T) {
	st := statustest.Status()
	url := startServer(t, newHandler(t, Options{Status: fixedStatus(st), Now: func() time.Time { return statustest.Now }}))
	resp, body := testenv.Send(t, http.MethodGet, url+"/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ContentTypeHTML {
		t.Fatalf("GET / = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		// bindings, sources and group names
		"opensearch-dashboards", "internal-alb-static-ip", "fargate-logstash", statustest.OpenSearchSource, "targetgroup/os-dash/4ab4dba084c2bb5c",
		// target IPs, states and reasons
		"10.0.1.11:443", "10.0.3.23:443", "10.1.9.9:80", "10.2.0.11:5044",
		">healthy<", ">unhealthy<", ">draining<", ">initial<", ">unused<", ">not registered<",
		"Target.Timeout", "Target.ResponseCodeMismatch: Health checks failed with these codes: [502]", "Elb.InitialHealthChecking",
		"Target.NotInUse", "not owned: left alone", "<code>203.0.113.7</code> not allowed",
		// countdowns, refusals and errors, reasons in full
		"absent from 2 answers over 2m0s (leaves after 3 and 3m0s); 1 more miss and 1m0s to go",
		"absent from 4 answers over 5m0s (leaves after 3 and 3m0s); grace over, kept by rule max-fraction", statustest.ReasonMaxFraction, statustest.ReasonSourceFailed, statustest.FargateError, "[not-allowed]",
		// colours by class, the auto refresh and the phone viewport
		`class="target s-unhealthy"`, `class="target s-draining"`, `class="target s-initial"`, `class="target s-healthy"`,
		`class="event e-register"`, `class="event e-deregister"`, `class="event e-refused"`,
		`<meta http-equiv="refresh" content="5">`, `name="viewport"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Reasons and errors come from DNS and AWS: they must be escaped.
	for _, bad := range []string{"<script>", "<b>range</b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;range&lt;/b&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks escaped %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}

func TestAPIStatusRoundTrip(t *testing.T) {
	st := statustest.Status()
	url := startServer(t, newHandler(t, Options{Status: fixedStatus(st)}))
	resp, body := testenv.Send(t, http.MethodGet, url+"/api/status")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ContentTypeJSON {
		t.Fatalf("GET /api/status = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var got status.Status
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("decoded status differs from the served one:\n got  %+v\n want %+v", got, st)
	}
	// Durations read as Go durations, for people reading raw JSON.
	if !strings.Contains(body, `"afterDuration": "3m0s"`) || !strings.Contains(body, `"timeLeft": "1m0s"`) {
		t.Errorf("durations not in Go notation:\n%.2000s", body)
	}
}

func TestRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_total", Help: "probe"})
	reg.MustRegister(c)
	c.Add(3)
	calls := 0
	count := func(context.Context) (status.Status, error) { calls++; return statustest.Status(), nil }
	withMetrics := startServer(t, newHandler(t, Options{Status: count, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}))
	without := startServer(t, newHandler(t, Options{Status: count}))
	failing := startServer(t, newHandler(t, Options{Status: func(context.Context) (status.Status, error) {
		return status.Status{}, errors.New("load state: s3://bucket/tgsync/state.json: AccessDenied")
	}}))
	tests := []struct {
		method, url string
		wantCode    int
		wantBody    string
		wantEmpty   bool
	}{
		{http.MethodGet, withMetrics + "/metrics", 200, "probe_total 3", false},
		{http.MethodGet, without + "/metrics", 404, "", false},
		{http.MethodHead, withMetrics + "/", 200, "", true},
		{http.MethodHead, withMetrics + "/api/status", 200, "", true},
		{http.MethodPost, withMetrics + "/", 405, "", false},
		{http.MethodDelete, withMetrics + "/api/status", 405, "", false},
		{http.MethodGet, withMetrics + "/nope", 404, "", false},
		{http.MethodGet, withMetrics + "/api/status/extra", 404, "", false},
		{http.MethodGet, failing + "/", 503, "AccessDenied", false},
		{http.MethodGet, failing + "/api/status", 503, "AccessDenied", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url[strings.LastIndex(tt.url, ":"):], func(t *testing.T) {
			resp, body := testenv.Send(t, tt.method, tt.url)
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tt.wantCode, body)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body lacks %q:\n%.500s", tt.wantBody, body)
			}
			if tt.wantEmpty && body != "" {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
			if resp.StatusCode == 405 && !strings.Contains(resp.Header.Get("Allow"), "GET") {
				t.Errorf("405 without Allow: %v", resp.Header)
			}
		})
	}
	if calls != 2 {
		t.Errorf("status gathered %d times, want 2 (the two HEADs; 404 and 405 must not gather it)", calls)
	}
}

func TestHealthz(t *testing.T) {
	ran := func(finished time.Time, failed ...string) status.Status {
		return status.Status{LastRun: &status.RunInfo{Started: finished.Add(-time.Second), Finished: finished, Failed: failed}}
	}
	tests := []struct {
		name     string
		st       status.Status
		err      error
		now      time.Time
		wantCode int
		wantBody string
	}{
		{"starting, no run yet", status.Status{}, nil, statustest.Now.Add(time.Minute), 200, "starting"},
		{"no run since start, too long", status.Status{}, nil, statustest.Now.Add(4 * time.Minute), 503, "no run finished"},
		{"recent run", ran(statustest.Now.Add(2 * time.Minute)), nil, statustest.Now.Add(4 * time.Minute), 200, "ok: last run finished 2m0s ago, limit 3m0s"},
		{"recent run with a failed binding", ran(statustest.Now, "fargate-logstash"), nil, statustest.Now.Add(time.Minute), 200, "fargate-logstash"},
		{"stale run", ran(statustest.Now), nil, statustest.Now.Add(3 * time.Minute), 503, "stale: last run finished 3m0s ago"},
		{"status unavailable", status.Status{}, errors.New("state store down"), statustest.Now, 503, "state store down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := statustest.Now
			h := newHandler(t, Options{
				Status:     func(context.Context) (status.Status, error) { return tt.st, tt.err },
				StaleAfter: 3 * time.Minute,
				Now:        func() time.Time { return now },
			})
			now = tt.now // the handler started at statustest.Now
			resp, body := testenv.Send(t, http.MethodGet, startServer(t, h)+"/healthz")
			if resp.StatusCode != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestNewHandlerNeedsStatus(t *testing.T) {
	if _, err := NewHandler(Options{}); err == nil {
		t.Fatal("NewHandler without Status: want an error")
	}
}
