package status_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
	"github.com/tgsync/tgsync/store/memstore"
)

// targetRow is what a test checks of one target line.
type targetRow struct {
	target     string
	registered bool
	state      tgsync.HealthState
	desired    bool
	foreign    bool
	pending    bool
}

func rows(ts []TargetStatus) []targetRow {
	out := make([]targetRow, len(ts))
	for i, t := range ts {
		out[i] = targetRow{t.Target, t.Registered, t.State, t.Desired, t.Foreign, t.Pending != nil}
	}
	return out
}

func findBinding(t *testing.T, st Status, name string) BindingStatus {
	t.Helper()
	for _, b := range st.Bindings {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("binding %s not in status", name)
	return BindingStatus{}
}

func TestBuild(t *testing.T) {
	// A run of the OpenSearch binding that registered 10.0.3.23 and
	// deregistered 10.0.3.13, as the daemon records it.
	run := &tgsync.RunResult{
		Started: statustest.At("03:09:00"), Duration: 1500 * time.Millisecond, StateWritten: true,
		State: statustest.State(),
		Bindings: []tgsync.BindingResult{{
			Binding: "opensearch-dashboards", Source: statustest.OpenSearchSource, TargetGroupARN: statustest.OpenSearchARN,
			Answer: tgsync.Answer{Addrs: mock.Addrs("10.0.1.21", "10.0.2.22", "10.0.3.23"), TTL: time.Minute},
			Observed: []tgsync.ObservedTarget{
				{Target: mock.Target("10.0.1.11:443"), State: tgsync.HealthUnhealthy, Reason: "Target.Timeout"},
				{Target: mock.Target("10.0.2.12:443"), State: tgsync.HealthUnhealthy, Reason: "Target.ResponseCodeMismatch"},
				{Target: mock.Target("10.0.3.13:443"), State: tgsync.HealthUnhealthy, Reason: "Target.Timeout"},
				{Target: mock.Target("10.0.1.21:443"), State: tgsync.HealthHealthy},
				{Target: mock.Target("10.0.2.22:443"), State: tgsync.HealthHealthy},
			},
			Plan: tgsync.Decision{
				Desired: []tgsync.Target{mock.Target("10.0.1.21:443"), mock.Target("10.0.2.22:443"), mock.Target("10.0.3.23:443")},
				Refused: []tgsync.Refusal{{Action: tgsync.ActionDeregister, Target: mock.Target("10.0.1.11:443"), Rule: tgsync.RuleMaxFraction, Reason: statustest.ReasonMaxFraction}},
			},
			Registered:   []tgsync.Change{{Action: tgsync.ActionRegister, Target: mock.Target("10.0.3.23:443")}},
			Deregistered: []tgsync.Change{{Action: tgsync.ActionDeregister, Target: mock.Target("10.0.3.13:443")}},
			Duration:     1200 * time.Millisecond,
		}, {
			Binding: "fargate-logstash", Source: statustest.FargateSource, TargetGroupARN: statustest.FargateARN,
			SourceErr: errors.New("SERVFAIL from 10.2.0.2:53"), Err: errors.New(statustest.FargateError),
			Plan:     tgsync.Decision{Refused: []tgsync.Refusal{{Action: tgsync.ActionDeregister, Rule: tgsync.RuleSourceFailed, Reason: statustest.ReasonSourceFailed}}},
			Duration: 300 * time.Millisecond,
		}},
	}
	osTargets := func(states ...tgsync.HealthState) []targetRow {
		return []targetRow{
			{"10.0.1.11:443", true, states[0], false, false, true},
			{"10.0.1.21:443", true, tgsync.HealthHealthy, true, false, false},
			{"10.0.2.12:443", true, tgsync.HealthUnhealthy, false, false, true},
			{"10.0.2.22:443", true, tgsync.HealthHealthy, true, false, false},
			{"10.0.3.13:443", true, states[1], false, false, false},
			{"10.0.3.23:443", true, tgsync.HealthInitial, true, false, false},
		}
	}
	tests := []struct {
		name        string
		in          Input
		binding     string
		wantFrom    string
		wantTargets []targetRow
		wantCounts  Counts
		wantLastRun bool
		wantSeenAt  time.Time
	}{
		{
			name:     "state only: desired targets, nothing known of the group",
			in:       Input{Bindings: statustest.Specs(), State: statustest.State(), Now: statustest.Now},
			binding:  "opensearch-dashboards",
			wantFrom: "",
			wantTargets: []targetRow{
				{"10.0.1.21:443", false, "", true, false, false},
				{"10.0.2.22:443", false, "", true, false, false},
				{"10.0.3.23:443", false, "", true, false, false},
			},
			wantCounts: Counts{Desired: 3, Missing: 3, Pending: 2, Refusing: 1},
		},
		{
			name:        "state and a describe: every member with its health",
			in:          Input{Bindings: statustest.Specs(), State: statustest.State(), Observed: statustest.Observed(), ObservedAt: statustest.At("03:09:58"), Now: statustest.Now},
			binding:     "opensearch-dashboards",
			wantFrom:    "describe",
			wantTargets: osTargets(tgsync.HealthUnhealthy, tgsync.HealthDraining),
			wantCounts:  Counts{Desired: 3, Registered: 5, Healthy: 2, Unhealthy: 2, Initial: 1, Draining: 1, Pending: 2, Refusing: 1},
		},
		{
			name:     "shared group: foreign target, missing desired target, refused public address",
			in:       Input{Bindings: statustest.Specs(), State: statustest.State(), Observed: statustest.Observed(), Now: statustest.Now},
			binding:  "internal-alb-static-ip",
			wantFrom: "describe",
			wantTargets: []targetRow{
				{"10.1.1.5:80", true, tgsync.HealthHealthy, true, false, false},
				{"10.1.1.5:443", true, tgsync.HealthHealthy, true, false, false},
				{"10.1.2.6:80", true, tgsync.HealthInitial, true, false, false},
				{"10.1.2.6:443", false, "", true, false, false},
				{"10.1.9.9:80", true, tgsync.HealthHealthy, false, true, false},
			},
			wantCounts: Counts{Desired: 4, Registered: 4, Healthy: 3, Initial: 1, Missing: 1, Refusing: 2},
		},
		{
			name:     "run result: the group after the run's changes",
			in:       Input{Bindings: statustest.Specs(), Run: run, Now: statustest.Now},
			binding:  "opensearch-dashboards",
			wantFrom: "run",
			// 10.0.3.13 was deregistered by the run: draining. 10.0.1.11
			// is as observed.
			wantTargets: osTargets(tgsync.HealthUnhealthy, tgsync.HealthDraining),
			wantCounts:  Counts{Desired: 3, Registered: 5, Healthy: 2, Unhealthy: 2, Initial: 1, Draining: 1, Pending: 2, Refusing: 1},
			wantLastRun: true,
			wantSeenAt:  statustest.At("03:09:00"),
		},
		{
			name: "a describe wins over the run's observation",
			in: Input{Bindings: statustest.Specs(), Run: run, Now: statustest.Now, Observed: map[string][]tgsync.ObservedTarget{
				statustest.OpenSearchARN: {{Target: mock.Target("10.0.1.21:443"), State: tgsync.HealthHealthy}},
			}},
			binding:  "opensearch-dashboards",
			wantFrom: "describe",
			wantTargets: []targetRow{
				{"10.0.1.21:443", true, tgsync.HealthHealthy, true, false, false},
				{"10.0.2.22:443", false, "", true, false, false},
				{"10.0.3.23:443", false, "", true, false, false},
			},
			wantCounts:  Counts{Desired: 3, Registered: 1, Healthy: 1, Missing: 2, Pending: 2, Refusing: 1},
			wantLastRun: true,
			wantSeenAt:  statustest.At("03:09:00"),
		},
		{
			name:     "run whose source failed: last known answer, group unknown",
			in:       Input{Bindings: statustest.Specs(), Run: run, Now: statustest.Now},
			binding:  "fargate-logstash",
			wantFrom: "",
			wantTargets: []targetRow{
				{"10.2.0.10:5044", false, "", true, false, false},
				{"10.2.0.11:5044", false, "", true, false, false},
			},
			wantCounts:  Counts{Desired: 2, Missing: 2, Refusing: 1},
			wantLastRun: true,
		},
		{
			name:        "no state at all",
			in:          Input{Bindings: statustest.Specs(), Now: statustest.Now},
			binding:     "fargate-logstash",
			wantTargets: []targetRow{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Build(tt.in)
			if len(st.Bindings) != len(tt.in.Bindings) {
				t.Fatalf("got %d bindings, want %d", len(st.Bindings), len(tt.in.Bindings))
			}
			b := findBinding(t, st, tt.binding)
			if b.TargetsFrom != tt.wantFrom {
				t.Errorf("TargetsFrom = %q, want %q", b.TargetsFrom, tt.wantFrom)
			}
			if got := rows(b.Targets); !slices.Equal(got, tt.wantTargets) {
				t.Errorf("targets:\n got  %+v\n want %+v", got, tt.wantTargets)
			}
			if b.Counts != tt.wantCounts {
				t.Errorf("counts = %+v, want %+v", b.Counts, tt.wantCounts)
			}
			if (b.LastRun != nil) != tt.wantLastRun || (st.LastRun != nil) != tt.wantLastRun {
				t.Errorf("LastRun = %+v / %+v, want present=%v", b.LastRun, st.LastRun, tt.wantLastRun)
			}
			if b.Answer != nil && !b.Answer.SeenAt.Equal(tt.wantSeenAt) {
				t.Errorf("Answer.SeenAt = %s, want %s", b.Answer.SeenAt, tt.wantSeenAt)
			}
			if !st.Generated.Equal(statustest.Now) {
				t.Errorf("Generated = %s, want %s", st.Generated, statustest.Now)
			}
		})
	}
}

func TestBuildObserveError(t *testing.T) {
	st := Build(Input{Bindings: statustest.Specs(), State: statustest.State(), Observed: map[string][]tgsync.ObservedTarget{statustest.ALBARN: statustest.Observed()[statustest.ALBARN]},
		ObserveErrors: map[string]error{statustest.OpenSearchARN: errors.New("describe " + statustest.OpenSearchARN + ": AccessDenied: not authorized to perform elasticloadbalancing:DescribeTargetHealth")},
		Now:           statustest.Now})
	os := findBinding(t, st, "opensearch-dashboards")
	if !strings.Contains(os.ObserveError, "AccessDenied") || os.TargetsFrom != "" {
		t.Errorf("ObserveError = %q, TargetsFrom = %q", os.ObserveError, os.TargetsFrom)
	}
	if alb := findBinding(t, st, "internal-alb-static-ip"); alb.ObserveError != "" || alb.TargetsFrom != "describe" {
		t.Errorf("another group's error leaked: %q %q", alb.ObserveError, alb.TargetsFrom)
	}
	page, err := RenderHTML(st, PageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := WriteText(&text, st, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{"page": string(page), "text": text.String()} {
		if !strings.Contains(out, "not authorized to perform elasticloadbalancing:DescribeTargetHealth") {
			t.Errorf("the %s does not say why the group is unknown", what)
		}
	}
}

func TestBuildRunDetails(t *testing.T) {
	st := Build(Input{Bindings: statustest.Specs(), Now: statustest.Now, RunErr: errors.New("save state: conflict"), Run: &tgsync.RunResult{
		Started: statustest.At("03:09:00"), Duration: 2 * time.Second, State: statustest.State(),
		Bindings: []tgsync.BindingResult{{Binding: "fargate-logstash", Source: statustest.FargateSource, TargetGroupARN: statustest.FargateARN,
			SourceErr: errors.New("SERVFAIL"), Err: errors.New(statustest.FargateError), Duration: time.Second,
			Plan: tgsync.Decision{Refused: []tgsync.Refusal{{Action: tgsync.ActionDeregister, Rule: tgsync.RuleSourceFailed, Reason: statustest.ReasonSourceFailed}}}}},
	}})
	r := st.LastRun
	if r == nil || !r.Finished.Equal(statustest.At("03:09:02")) || time.Duration(r.Duration) != 2*time.Second ||
		!slices.Equal(r.Failed, []string{"fargate-logstash"}) || r.Error != "save state: conflict" {
		t.Fatalf("LastRun = %+v", r)
	}
	b := findBinding(t, st, "fargate-logstash")
	if b.LastRun == nil || b.LastRun.SourceError != "SERVFAIL" || b.LastRun.Error != statustest.FargateError {
		t.Errorf("binding LastRun = %+v", b.LastRun)
	}
	// The refusal comes from the plan, dated by the history event that
	// first reported it.
	want := EventStatus{Time: statustest.At("03:08:00"), Kind: KindRefused, Action: tgsync.ActionDeregister, Rule: tgsync.RuleSourceFailed, Reason: statustest.ReasonSourceFailed}
	if !slices.Equal(b.Refusing, []EventStatus{want}) {
		t.Errorf("Refusing = %+v, want %+v", b.Refusing, want)
	}
	if b.LastError != statustest.FargateError {
		t.Errorf("LastError = %q", b.LastError)
	}
}

func TestBuildFromState(t *testing.T) {
	st := Build(Input{Bindings: statustest.Specs(), State: statustest.State(), Now: statustest.Now})
	os := findBinding(t, st, "opensearch-dashboards")
	if !slices.Equal(os.Desired, []string{"10.0.1.21:443", "10.0.2.22:443", "10.0.3.23:443"}) {
		t.Errorf("Desired = %v", os.Desired)
	}
	if a := os.Answer; a == nil || !slices.Equal(a.Addrs, []string{"10.0.1.21", "10.0.2.22", "10.0.3.23"}) ||
		time.Duration(a.TTL) != time.Minute || !a.Since.Equal(statustest.At("03:04:00")) || !a.SeenAt.IsZero() {
		t.Errorf("Answer = %+v", a)
	}
	// Events newest first, all of them.
	if len(os.Events) != 9 || !os.Events[0].Time.Equal(statustest.At("03:09:00")) || os.Events[0].Kind != KindRefused ||
		os.Events[1].Kind != KindDeregister || os.Events[8].Kind != KindRegister || !os.Events[8].Time.Equal(statustest.At("03:00:00")) {
		t.Errorf("Events = %+v", os.Events)
	}
	alb := findBinding(t, st, "internal-alb-static-ip")
	if !slices.Equal(alb.Desired, []string{"10.1.1.5:80", "10.1.1.5:443", "10.1.2.6:80", "10.1.2.6:443"}) {
		t.Errorf("a refused address must not be desired: Desired = %v", alb.Desired)
	}
	if !slices.Equal(alb.Answer.NotAllowed, []string{"203.0.113.7"}) || os.Answer.NotAllowed != nil {
		t.Errorf("NotAllowed = %v / %v", alb.Answer.NotAllowed, os.Answer.NotAllowed)
	}
	// Ongoing refusals carry the reason of the event that reported them.
	wantRefusing := []EventStatus{
		{Time: statustest.At("03:07:30"), Kind: KindRefused, Action: tgsync.ActionRegister, Target: "203.0.113.7:443", Rule: tgsync.RuleNotAllowed,
			Reason: "203.0.113.7 from " + statustest.ALBSource + " is outside the allowed ranges; <script>alert(1)</script> not registering it"},
		{Time: statustest.At("03:07:30"), Kind: KindRefused, Action: tgsync.ActionRegister, Target: "203.0.113.7:80", Rule: tgsync.RuleNotAllowed, Reason: statustest.ReasonNotAllowed},
	}
	if !slices.Equal(alb.Refusing, wantRefusing) {
		t.Errorf("Refusing =\n %+v\nwant\n %+v", alb.Refusing, wantRefusing)
	}
	farg := findBinding(t, st, "fargate-logstash")
	wantWhole := []EventStatus{{Time: statustest.At("03:08:00"), Kind: KindRefused, Action: tgsync.ActionDeregister, Rule: tgsync.RuleSourceFailed, Reason: statustest.ReasonSourceFailed}}
	if !slices.Equal(farg.Refusing, wantWhole) {
		t.Errorf("whole-binding refusal = %+v, want %+v", farg.Refusing, wantWhole)
	}
}

func TestBuildRefusalWithoutHistory(t *testing.T) {
	st := statustest.State()
	st.Bindings["opensearch-dashboards"].History = nil
	b := findBinding(t, Build(Input{Bindings: statustest.Specs(), State: st, Now: statustest.Now}), "opensearch-dashboards")
	if len(b.Refusing) != 1 || b.Refusing[0].Target != "10.0.1.11:443" || b.Refusing[0].Rule != tgsync.RuleMaxFraction ||
		!strings.Contains(b.Refusing[0].Reason, "left the history") || !b.Refusing[0].Time.IsZero() {
		t.Errorf("Refusing = %+v", b.Refusing)
	}
}

func TestPendingArithmetic(t *testing.T) {
	policy := tgsync.DefaultPolicy() // 3 misses and 3 minutes
	tests := []struct {
		name           string
		miss           tgsync.Miss
		refused        bool
		wantMissesLeft int
		wantMissingFor time.Duration
		wantTimeLeft   time.Duration
		wantDue        bool
		wantText       string
	}{
		{"first miss just now", tgsync.Miss{Count: 1, Since: statustest.Now}, false, 2, 0, 3 * time.Minute, false,
			"absent from 1 answer over 0s (leaves after 3 and 3m0s); 2 more misses and 3m0s to go"},
		{"two misses over 90s", tgsync.Miss{Count: 2, Since: statustest.Now.Add(-90 * time.Second)}, false, 1, 90 * time.Second, 90 * time.Second, false,
			"absent from 2 answers over 1m30s (leaves after 3 and 3m0s); 1 more miss and 1m30s to go"},
		{"enough misses, not long enough", tgsync.Miss{Count: 3, Since: statustest.Now.Add(-2 * time.Minute)}, false, 0, 2 * time.Minute, time.Minute, false,
			"; 1m0s to go"},
		{"long enough, too few misses", tgsync.Miss{Count: 1, Since: statustest.Now.Add(-10 * time.Minute)}, false, 2, 10 * time.Minute, 0, false,
			"; 2 more misses to go"},
		{"both ran out exactly", tgsync.Miss{Count: 3, Since: statustest.Now.Add(-3 * time.Minute)}, false, 0, 3 * time.Minute, 0, true,
			"grace over: the next run deregisters it if it is still absent"},
		{"ran out and refused", tgsync.Miss{Count: 5, Since: statustest.Now.Add(-7 * time.Minute)}, true, 0, 7 * time.Minute, 0, true,
			"grace over, kept by rule last-healthy"},
		{"first miss in the future (clock skew)", tgsync.Miss{Count: 1, Since: statustest.Now.Add(time.Minute)}, false, 2, 0, 3 * time.Minute, false,
			"2 more misses and 3m0s to go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := mock.Target("10.9.0.1:443")
			bs := &tgsync.BindingState{Misses: map[tgsync.Target]tgsync.Miss{target: tt.miss}}
			if tt.refused {
				bs.Refusing = []string{statustest.RefusingKey(tgsync.ActionDeregister, target.String(), tgsync.RuleLastHealthy)}
				bs.History = []tgsync.Event{{Time: statustest.Now, Action: tgsync.ActionDeregister, Target: target.String(), Refused: true,
					Rule: tgsync.RuleLastHealthy, Reason: "it is the last healthy target"}}
			}
			state := tgsync.NewState()
			state.Bindings["b"] = bs
			st := Build(Input{Bindings: []BindingSpec{{Name: "b", Source: "x.example", Ports: []uint16{443}, Policy: policy}},
				State: state, Observed: map[string][]tgsync.ObservedTarget{"": {{Target: target, State: tgsync.HealthHealthy}}}, Now: statustest.Now})
			b := st.Bindings[0]
			if len(b.Pending) != 1 {
				t.Fatalf("Pending = %+v", b.Pending)
			}
			p := b.Pending[0]
			if p.MissesLeft != tt.wantMissesLeft || time.Duration(p.MissingFor) != tt.wantMissingFor ||
				time.Duration(p.TimeLeft) != tt.wantTimeLeft || p.Due != tt.wantDue || p.MissesNeeded != 3 || p.Misses != tt.miss.Count {
				t.Errorf("pending = %+v, want missesLeft %d missingFor %s timeLeft %s due %v",
					p, tt.wantMissesLeft, tt.wantMissingFor, tt.wantTimeLeft, tt.wantDue)
			}
			if tt.refused != (p.BlockedBy == tgsync.RuleLastHealthy && p.BlockedReason != "") {
				t.Errorf("blocked = %q %q, want refused=%v", p.BlockedBy, p.BlockedReason, tt.refused)
			}
			if got := PendingText(p); !strings.Contains(got, tt.wantText) {
				t.Errorf("pendingText = %q, want it to contain %q", got, tt.wantText)
			}
			if len(b.Targets) != 1 || b.Targets[0].Pending == nil || *b.Targets[0].Pending != p {
				t.Errorf("the target line does not carry its countdown: %+v", b.Targets)
			}
		})
	}
}

func TestLiveKeepsStateAcrossFailedLoad(t *testing.T) {
	now := statustest.Now
	l := NewLive(statustest.Specs(), func() time.Time { return now })
	if st, _ := l.Status(context.Background()); st.LastRun != nil || st.Bindings[0].Answer != nil {
		t.Fatalf("before any run: %+v", st)
	}
	l.Record(tgsync.RunResult{Started: statustest.At("03:09:00"), Duration: time.Second, State: statustest.State()}, nil)
	l.Record(tgsync.RunResult{Started: statustest.At("03:09:30"), Duration: time.Second}, errors.New("load state: access denied"))
	now = statustest.Now.Add(time.Minute)
	st, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.LastRun == nil || st.LastRun.Error != "load state: access denied" || !st.LastRun.Started.Equal(statustest.At("03:09:30")) {
		t.Errorf("LastRun = %+v", st.LastRun)
	}
	if st.Bindings[0].Answer == nil {
		t.Error("a run that loaded no state dropped the state seen before")
	}
	if !st.Generated.Equal(statustest.Now.Add(time.Minute)) {
		t.Errorf("Generated = %s: the status must be built at request time", st.Generated)
	}
}

// TestBuildAgainstReconcilerState runs the real reconciler so that the
// state Build reads is the one the reconciler writes, in particular how it
// remembers ongoing refusals.
func TestBuildAgainstReconcilerState(t *testing.T) {
	src := mock.NewAnswers("app.internal.example", "10.5.0.1", "10.5.0.2", "198.51.100.9")
	// The group stands in for ELBv2 where moto cannot: a registered target
	// starts as initial (moto makes it healthy at once).
	mem := mock.NewMemGroups("arn:tg/app")
	mem.Joined, mem.JoinedReason = tgsync.HealthInitial, "Elb.RegistrationInProgress"
	groups := mock.TargetGroupsOf(mem)
	groups.DeregisterFn = func(_ context.Context, _ string, cs []tgsync.Change) ([]tgsync.Change, error) {
		return nil, fmt.Errorf("deregister: not expected in this test (%d changes)", len(cs))
	}
	store := memstore.New()
	now := statustest.Now
	rec := &tgsync.Reconciler{
		Bindings: []tgsync.Binding{{Name: "app", Source: src, TargetGroupARN: "arn:tg/app", Ports: []uint16{8443}, Policy: tgsync.DefaultPolicy()}},
		Groups:   groups, Store: store, Now: func() time.Time { return now },
	}
	ctx := context.Background()
	if _, err := rec.Run(ctx, tgsync.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	src.Fail(errors.New("SERVFAIL"))
	now = now.Add(time.Minute)
	res, err := rec.Run(ctx, tgsync.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	state, _, _ := store.Load(ctx)
	fromState := Build(Input{Bindings: SpecsFrom(rec.Bindings), State: state, Now: now}).Bindings[0]
	fromRun := Build(Input{Bindings: SpecsFrom(rec.Bindings), Run: &res, Now: now}).Bindings[0]
	if len(fromRun.Refusing) != 1 || fromRun.Refusing[0].Rule != tgsync.RuleSourceFailed {
		t.Fatalf("refusals of the run = %+v", fromRun.Refusing)
	}
	// The address refusal of the first run ended; the source refusal holds,
	// and reads the same from the stored state as from the run.
	if !slices.Equal(fromState.Refusing, fromRun.Refusing) {
		t.Errorf("from state: %+v\nfrom run:   %+v", fromState.Refusing, fromRun.Refusing)
	}
	if !strings.Contains(fromState.Refusing[0].Reason, "SERVFAIL") || fromState.Refusing[0].Target != "" {
		t.Errorf("refusal from state = %+v", fromState.Refusing[0])
	}
	if fromState.LastError == "" || !strings.Contains(fromState.LastError, "SERVFAIL") {
		t.Errorf("LastError = %q", fromState.LastError)
	}
	kinds := map[string]int{}
	for _, e := range fromState.Events {
		kinds[e.Kind+" "+e.Rule]++
	}
	if kinds["register "] != 2 || kinds["refused not-allowed"] != 1 || kinds["refused source-failed"] != 1 {
		t.Errorf("events by kind = %v", kinds)
	}
}
