package status_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
	"github.com/tgsync/tgsync/store/memstore"
)

// truthWorld is one binding on the real reconciler: a good run registers
// three targets, a second sees them pass their health checks, and then
// the source fails.
type truthWorld struct {
	rec    *tgsync.Reconciler
	src    *mock.Answers
	groups *mock.MemGroups
	store  *memstore.Store
	now    time.Time
	live   *Live
}

const truthARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/os/0123456789abcdef"

func newTruthWorld(t *testing.T) *truthWorld {
	t.Helper()
	w := &truthWorld{src: mock.NewAnswers("os.internal.example", "10.9.0.1", "10.9.0.2", "10.9.0.3"),
		groups: mock.NewMemGroups(truthARN), store: memstore.New(), now: statustest.Now}
	// MemGroups stands in for ELBv2's first health check, which moto
	// skips: a registered target starts initial.
	w.groups.Joined, w.groups.JoinedReason = tgsync.HealthInitial, "Elb.RegistrationInProgress"
	w.rec = &tgsync.Reconciler{
		Bindings: []tgsync.Binding{{Name: "os", Source: w.src, TargetGroupARN: truthARN, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()}},
		Groups:   w.groups, Store: w.store, Now: func() time.Time { return w.now }, DescribeEvery: 10 * time.Minute,
	}
	w.live = NewLive(SpecsFrom(w.rec.Bindings), func() time.Time { return w.now })
	return w
}

func (w *truthWorld) run(t *testing.T) tgsync.RunResult {
	t.Helper()
	res, err := w.rec.Run(context.Background(), tgsync.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.live.Record(res, err)
	w.now = w.now.Add(time.Minute)
	return res
}

// goodThenFailing plays the good runs and the failing one, and returns
// when the group was last seen to change.
func (w *truthWorld) goodThenFailing(t *testing.T) time.Time {
	t.Helper()
	w.run(t) // registers three targets, initial
	for _, ip := range []string{"10.9.0.1", "10.9.0.2", "10.9.0.3"} {
		w.groups.Put(truthARN, mock.Target(ip+":443"), tgsync.HealthHealthy)
	}
	// The targets are joining, so this run describes the group and sees
	// them healthy.
	seen := w.now
	if res := w.run(t); res.Bindings[0].DescribeReason == "" || len(res.Failed()) > 0 {
		t.Fatalf("second run: describe reason %q, failed %v", res.Bindings[0].DescribeReason, res.Failed())
	}
	w.src.Fail(errors.New("lookup os.internal.example: SERVFAIL"))
	if res := w.run(t); res.Bindings[0].SourceErr == nil {
		t.Fatal("the source did not fail")
	}
	return seen
}

// TestStatusShowsTheGroupWhileTheSourceFails: after a good run, a failed
// source hides nothing: the daemon's page, the status built from the
// stored state (the Lambda's page and 'tgsync status --no-describe') and
// one whose describe failed too all show the three healthy targets the
// group holds, with the time they were seen, and the failed source.
func TestStatusShowsTheGroupWhileTheSourceFails(t *testing.T) {
	w := newTruthWorld(t)
	seen := w.goodThenFailing(t)
	state, _, err := w.store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	live, _ := w.live.Status(context.Background())
	specs := SpecsFrom(w.rec.Bindings)
	tests := []struct {
		name      string
		st        Status
		wantFrom  string
		wantError string
	}{
		{"daemon after the failed run", live, "state", ""},
		{"from the stored state", Build(Input{Bindings: specs, State: state, Now: w.now}), "state", ""},
		{"from the stored state, describe failed", Build(Input{Bindings: specs, State: state, Now: w.now,
			ObserveErrors: map[string]error{truthARN: errors.New("describe: ThrottlingException: Rate exceeded")}}), "state", "ThrottlingException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.st.Bindings[0]
			if c := b.Counts; c.Registered != 3 || c.Healthy != 3 || c.Missing != 0 {
				t.Errorf("counts %+v, want 3 registered, 3 healthy, none missing", c)
			}
			for _, tg := range b.Targets {
				if !tg.Registered || tg.State != tgsync.HealthHealthy {
					t.Errorf("target %s registered=%v state %q, want registered and healthy", tg.Target, tg.Registered, tg.State)
				}
			}
			if b.TargetsFrom != tt.wantFrom || !b.TargetsAt.Equal(seen) {
				t.Errorf("targets from %q at %s, want %q at %s", b.TargetsFrom, b.TargetsAt, tt.wantFrom, seen)
			}
			if want := tgsync.Duration(w.now.Sub(seen)); b.TargetsAge != want {
				t.Errorf("targets age %s, want %s", time.Duration(b.TargetsAge), time.Duration(want))
			}
			if b.Outcome != OutcomeSourceFailed || b.GroupHealth != GroupHealthy {
				t.Errorf("outcome %q, group %q: want %q and %q", b.Outcome, b.GroupHealth, OutcomeSourceFailed, GroupHealthy)
			}
			if !strings.Contains(b.ObserveError, tt.wantError) {
				t.Errorf("observe error %q, want %q", b.ObserveError, tt.wantError)
			}
			page, _ := RenderHTML(tt.st, PageOptions{})
			for _, want := range []string{"source failed", "3 of 3 healthy", "SERVFAIL"} {
				if !strings.Contains(string(page), want) {
					t.Errorf("the page does not say %q", want)
				}
			}
			if strings.Contains(string(page), "not registered") {
				t.Error("the page calls a registered target not registered")
			}
		})
	}
}

// TestReusedObservationShowsItsDescribe: a run that plans on the stored
// observation, rather than describing the group, shows the members with
// the time of the describe they come from, also once the run changed the
// group (a drain had taken a desired target out); and so does the stored
// state after it, whose observation moved with the change but not its
// describe time.
func TestReusedObservationShowsItsDescribe(t *testing.T) {
	w := newTruthWorld(t)
	w.rec.DescribeEvery = 24 * time.Hour // no turn comes in this test
	w.run(t)
	for _, ip := range []string{"10.9.0.1", "10.9.0.2", "10.9.0.3"} {
		w.groups.Put(truthARN, mock.Target(ip+":443"), tgsync.HealthHealthy)
	}
	seen := w.now
	w.run(t) // describes: the targets were joining
	// A drain deregistered 10.9.0.3 an hour later, as Drainer records it.
	w.now = w.now.Add(time.Hour)
	w.groups.Remove(truthARN, mock.Target("10.9.0.3:443"))
	ctx := context.Background()
	st, rev, err := w.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := st.Observations[truthARN]
	if !o.DescribedAt().Equal(seen) {
		t.Fatalf("stored observation described at %s, want %s", o.DescribedAt(), seen)
	}
	st.Observations[truthARN] = &tgsync.Observation{At: w.now, Described: o.DescribedAt(), Targets: o.Targets[:2]}
	if _, err := w.store.Save(ctx, st, rev); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(time.Minute)
	res := w.run(t)
	if b := res.Bindings[0]; b.DescribeReason != "" || len(b.Registered) != 1 {
		t.Fatalf("the run described the group (%q) or registered %v: want it to plan on the stored observation and register 10.9.0.3", b.DescribeReason, b.Registered)
	}
	state, _, err := w.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := w.live.Status(ctx)
	tests := []struct {
		name string
		st   Status
	}{
		{"daemon after the run", live},
		{"from the stored state", Build(Input{Bindings: SpecsFrom(w.rec.Bindings), State: state, Now: w.now})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.st.Bindings[0]
			if b.TargetsFrom != "state" || !b.TargetsAt.Equal(seen) || b.Counts.Registered != 3 {
				t.Errorf("targets from %q at %s, %d registered: want the state's, described at %s, with the run's registration", b.TargetsFrom, b.TargetsAt, b.Counts.Registered, seen)
			}
			page, _ := RenderHTML(tt.st, PageOptions{})
			if want := "the describe at " + seen.UTC().Format("2006-01-02 15:04:05Z"); !strings.Contains(string(page), want) {
				t.Errorf("the page does not say %q", want)
			}
		})
	}
}
