package status_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
)

// TestOutcomeAndGroupHealth: how the last run went and how healthy the
// group is are told apart, from a run or from the state alone.
func TestOutcomeAndGroupHealth(t *testing.T) {
	spec := statustest.Specs()[2] // fargate-logstash, alone on its group
	arn := spec.TargetGroupARN
	healthy := func(n, of int) []tgsync.ObservedTarget {
		var out []tgsync.ObservedTarget
		for i := range of {
			h := tgsync.HealthUnhealthy
			if i < n {
				h = tgsync.HealthHealthy
			}
			out = append(out, tgsync.ObservedTarget{Target: mock.Target("10.2.0." + string(rune('1'+i)) + ":5044"), State: h})
		}
		return out
	}
	state := func(lastError string, refusing ...string) *tgsync.State {
		st := tgsync.NewState()
		st.Bindings[spec.Name] = &tgsync.BindingState{LastError: lastError, Refusing: refusing,
			Answer: &tgsync.SourceAnswer{Addrs: mock.Addrs("10.2.0.1"), At: statustest.At("03:00:00")}}
		return st
	}
	sourceKey := statustest.RefusingKey(tgsync.ActionDeregister, "", tgsync.RuleSourceFailed)
	run := func(b tgsync.BindingResult) *tgsync.RunResult {
		b.Binding, b.TargetGroupARN = spec.Name, arn
		return &tgsync.RunResult{Started: statustest.At("03:09:00"), Bindings: []tgsync.BindingResult{b}}
	}
	tests := []struct {
		name        string
		in          Input
		wantOutcome string
		wantHealth  string
	}{
		{"never ran, group unknown", Input{State: tgsync.NewState()}, OutcomeUnknown, GroupUnknown},
		{"ok run beside a group with no healthy target", Input{State: state(""), Observed: map[string][]tgsync.ObservedTarget{arn: healthy(0, 3)}},
			OutcomeOK, GroupNoHealthy},
		{"source failed beside a healthy group", Input{State: state("SERVFAIL", sourceKey), Observed: map[string][]tgsync.ObservedTarget{arn: healthy(2, 2)}},
			OutcomeSourceFailed, GroupHealthy},
		{"failed, partly healthy", Input{State: state("register: AccessDenied"), Observed: map[string][]tgsync.ObservedTarget{arn: healthy(1, 2)}},
			OutcomeFailed, GroupPartlyHealthy},
		{"empty group", Input{State: state(""), Observed: map[string][]tgsync.ObservedTarget{arn: nil}}, OutcomeOK, GroupEmpty},
		{"run: source failed", Input{State: state(""), Run: run(tgsync.BindingResult{SourceErr: errors.New("SERVFAIL")})}, OutcomeSourceFailed, GroupUnknown},
		{"run: unfinished", Input{State: state(""), Run: run(tgsync.BindingResult{Unfinished: true, Err: errors.New("deadline")})}, OutcomeUnfinished, GroupUnknown},
		{"run: failed describe, state's observation shown", Input{State: func() *tgsync.State {
			st := state("")
			st.Observations = map[string]*tgsync.Observation{arn: {At: statustest.At("03:00:00"), Targets: healthy(2, 2)}}
			return st
		}(), Run: run(tgsync.BindingResult{Err: errors.New("describe: Throttling")})}, OutcomeFailed, GroupHealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Bindings, tt.in.Now = []BindingSpec{spec}, statustest.Now
			b := Build(tt.in).Bindings[0]
			if b.Outcome != tt.wantOutcome || b.GroupHealth != tt.wantHealth {
				t.Errorf("outcome %q, group %q; want %q, %q", b.Outcome, b.GroupHealth, tt.wantOutcome, tt.wantHealth)
			}
		})
	}
}

// TestPagePictures checks the chart, its marks and the countdown bars of
// the fixture by the elements they add.
func TestPagePictures(t *testing.T) {
	st := statustest.Status()
	page, err := RenderHTML(st, PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parsePage(t, page)
	sections := map[string]string{}
	for _, part := range strings.Split(string(page), `<section class="binding" id="`)[1:] {
		name, _, _ := strings.Cut(part, `"`)
		sections[name] = part
	}
	tests := []struct {
		binding string
		want    map[string]int
		bars    []string
	}{
		// The answer changes of 03:02 and 03:04 and the SERVFAIL of 03:05;
		// the first point starts the chart and is no mark.
		{"binding-opensearch-dashboards", map[string]int{"<svg": 1, `class="a-registered"`: 1, `class="l-healthy"`: 1, `class="l-desired"`: 1,
			`class="m-answer"`: 2, `class="m-fail"`: 1, `class="m-drain"`: 0, "<h3>Counts, last 3h</h3>": 1},
			// 10.0.1.11 is due but kept by max-fraction; 10.0.2.12 has 2 of
			// 3 misses over 2 of 3 minutes.
			[]string{`class="bar bar-blocked" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="100"><span style="width:100%">`,
				`class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="66"><span style="width:66%">`}},
		{"binding-fargate-logstash", map[string]int{"<svg": 1, `class="m-fail"`: 1, `class="m-drain"`: 1, "<h3>Counts, last 30m</h3>": 1, `class="bar`: 0}, nil},
		{"drains", map[string]int{`<li class="event e-drain">`: 1, "10.2.0.9:5044": 1, statustest.DrainReason: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.binding, func(t *testing.T) {
			sec, ok := sections[tt.binding]
			if !ok {
				t.Fatalf("no section %s", tt.binding)
			}
			for s, n := range tt.want {
				if got := strings.Count(sec, s); got != n {
					t.Errorf("%d of %s, want %d", got, s, n)
				}
			}
			for _, b := range tt.bars {
				if !strings.Contains(sec, b) {
					t.Errorf("no bar %s", b)
				}
			}
		})
	}
}

// TestChartGeometry: the lines step at each point and run on to now, on a
// scale whose top is the largest count.
func TestChartGeometry(t *testing.T) {
	now := statustest.Now
	st := Status{Generated: now, Bindings: []BindingStatus{{Name: "b", Trend: []TrendPoint{
		{At: now.Add(-time.Hour), Desired: 2, Registered: 2, Healthy: 2},
		{At: now.Add(-30 * time.Minute), Desired: 3, Registered: 3, Healthy: 1, Answer: true},
	}}}}
	page, _ := RenderHTML(st, PageOptions{})
	// 60 minutes over 600 units; counts 0..3 over y 85..7.
	for _, want := range []string{
		`<polyline class="l-healthy" points="0.0,33.0 300.0,33.0 300.0,59.0 600.0,59.0"/>`,
		`<polyline class="l-desired" points="0.0,33.0 300.0,33.0 300.0,7.0 600.0,7.0"/>`,
		`<polygon class="a-registered" points="0.0,90 0.0,33.0 300.0,33.0 300.0,7.0 600.0,7.0 600.0,90"/>`,
		`<line class="m-answer" x1="300.0" x2="300.0"`,
		`aria-label="counts over the last 1h; now desired 3, registered 3, healthy 1"`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if !strings.Contains(string(page), "<h3>Counts, last 1h</h3>") {
		t.Error("the chart's heading does not say its span")
	}
}
