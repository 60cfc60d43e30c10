package tgsync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

const arnA, arnB = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/a/1", "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/b/2"

// world is one binding on target groups and a state in memory: what the
// reconciler decides does not depend on how AWS stores them.
type world struct {
	src    *mock.Answers
	groups *mock.MemGroups
	store  *mock.MemStore
	now    time.Time
	r      *Reconciler
	dryRun bool
	margin time.Duration
}

func newWorld(policy Policy) *world {
	w := &world{src: mock.NewAnswers("db.example.internal"), groups: mock.NewMemGroups(arnA, arnB), store: mock.NewMemStore(), now: t0}
	w.r = &Reconciler{
		Bindings: []Binding{{Name: "db", Source: w.src, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: policy}},
		Groups:   w.groups, Store: w.store,
		Now: func() time.Time { return w.now },
	}
	return w
}

func (w *world) run(t *testing.T, only ...string) RunResult {
	t.Helper()
	res, err := w.r.Run(context.Background(), RunOptions{DryRun: w.dryRun, DeadlineMargin: w.margin, Only: only})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	w.now = w.now.Add(time.Minute)
	return res
}

func TestReconcileMovesTargetsAfterGrace(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1", "10.0.0.2")
	res := w.run(t)
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.2:443"}) {
		t.Fatalf("after first run: %v", got)
	}
	if !res.StateWritten || res.Bindings[0].Failed() {
		t.Fatalf("first run: written=%v failed=%v err=%v", res.StateWritten, res.Bindings[0].Failed(), res.Bindings[0].Err)
	}

	w.src.Set("10.0.0.1", "10.0.0.3")
	for i := 1; i <= 3; i++ {
		w.run(t)
		if got := w.groups.Members(arnA); !slices.Contains(got, "10.0.0.2:443") {
			t.Fatalf("run %d removed 10.0.0.2 before its grace ran out: %v", i, got)
		}
	}
	res = w.run(t)
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.3:443"}) {
		t.Fatalf("after grace: %v", got)
	}
	if d := res.Bindings[0].Deregistered; len(d) != 1 || d[0].Reason == "" {
		t.Fatalf("deregistered = %+v", d)
	}
	st, _, _ := w.store.Load(context.Background())
	hist := st.Bindings["db"].History
	if len(hist) != 4 || hist[3].Action != ActionDeregister {
		t.Fatalf("history = %+v", hist)
	}
}

func TestReconcileSteadyStateWritesNothing(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	w.run(t)
	w.run(t) // the new target passed its first health check: no longer joining
	saves := w.store.Saves()
	w.groups.ResetCalls()
	res := w.run(t)
	if res.StateWritten || w.store.Saves() != saves {
		t.Errorf("steady run wrote state")
	}
	want := map[string]int{"DescribeTargetHealth": 1}
	if fmt.Sprint(w.groups.Calls()) != fmt.Sprint(want) {
		t.Errorf("calls = %v, want %v", w.groups.Calls(), want)
	}
}

func TestReconcileSourceFailureChangesNothing(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	w.run(t)
	w.src.Fail(errors.New("SERVFAIL"))
	w.groups.ResetCalls()
	for i := 0; i < 5; i++ {
		res := w.run(t)
		if !res.Bindings[0].Failed() || res.Bindings[0].SourceErr == nil {
			t.Fatalf("run %d: failure not reported", i)
		}
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
		t.Fatalf("group changed during a DNS outage: %v", got)
	}
	if len(w.groups.Calls()) != 0 {
		t.Errorf("a failed source still made calls: %v", w.groups.Calls())
	}
	st, _, _ := w.store.Load(context.Background())
	if st.Bindings["db"].LastError == "" {
		t.Errorf("last error not kept")
	}
	refusals := 0
	for _, e := range st.Bindings["db"].History {
		if e.Refused {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("a refusal repeated over 5 runs entered history %d times, want 1", refusals)
	}
}

func TestReconcileReplansOnConflict(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	w.store.LoseSaves(1)
	res := w.run(t)
	if res.Conflicts != 1 || !res.StateWritten {
		t.Fatalf("conflicts=%d written=%v", res.Conflicts, res.StateWritten)
	}
	if len(res.Bindings[0].Registered) != 1 {
		t.Errorf("registration of the first attempt not reported: %+v", res.Bindings[0].Registered)
	}
	if w.groups.Calls()["RegisterTargets"] != 1 {
		t.Errorf("registered twice: %v", w.groups.Calls())
	}
	st, _, _ := w.store.Load(context.Background())
	if h := st.Bindings["db"].History; len(h) != 1 || h[0].Action != ActionRegister {
		t.Errorf("history after a replan = %+v, want the one registration", h)
	}
}

func TestReconcileConflictKeepsSharedOwnership(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	w.src.Set("10.0.0.1")
	w.store.LoseSaves(1)
	w.run(t)
	st, _, _ := w.store.Load(context.Background())
	if _, ok := st.Bindings["db"].Owned[mock.Target("10.0.0.1:443")]; !ok {
		t.Fatalf("a replan after a conflict forgot that the binding registered 10.0.0.1:443: %+v", st.Bindings["db"])
	}
}

func TestReconcileGivesUpAfterRepeatedConflicts(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	w.store.LoseSaves(10)
	_, err := w.r.Run(context.Background(), RunOptions{})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
}

// registersOnly registers the first n targets of every call and then
// fails with err, as a call cut off between two batches.
func registersOnly(base *mock.MemGroups, n int, err error) *mock.TargetGroups {
	g := mock.TargetGroupsOf(base)
	g.RegisterFn = func(ctx context.Context, arn string, cs []Change) ([]Change, error) {
		if len(cs) <= n {
			return base.Register(ctx, arn, cs)
		}
		applied, baseErr := base.Register(ctx, arn, cs[:n])
		if baseErr != nil {
			return applied, baseErr
		}
		return applied, err
	}
	return g
}

func TestReconcilePartialRegistration(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	w.src.Set("10.0.0.1", "10.0.0.2", "10.0.0.3")
	w.r.Groups = registersOnly(w.groups, 2, errors.New("InternalFailure"))
	res := w.run(t)
	b := res.Bindings[0]
	if b.Err == nil || len(b.Registered) != 2 {
		t.Fatalf("err=%v registered=%v", b.Err, b.Registered)
	}
	st, _, _ := w.store.Load(context.Background())
	// The third was recorded as intended before the call, and stays owned:
	// a call that failed may still have reached AWS.
	if n := len(st.Bindings["db"].Owned); n != 3 {
		t.Errorf("owned %d targets, want the 2 registered and the 1 intended", n)
	}
	w.r.Groups = w.groups
	w.run(t)
	if got := w.groups.Members(arnA); len(got) != 3 {
		t.Errorf("next run did not finish: %v", got)
	}
}

func TestReconcileDescribesEachGroupOnce(t *testing.T) {
	w := newWorld(DefaultPolicy())
	other := mock.NewAnswers("other.example.internal", "10.0.9.9")
	shared := DefaultPolicy()
	shared.Shared = true
	w.r.Bindings[0].Policy = shared
	w.r.Bindings = append(w.r.Bindings,
		Binding{Name: "other", Source: other, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: shared},
		Binding{Name: "b", Source: other, TargetGroupARN: arnB, Ports: []uint16{8080}, Policy: DefaultPolicy()})
	w.src.Set("10.0.0.1")
	w.run(t)
	if w.groups.Calls()["DescribeTargetHealth"] != 2 {
		t.Errorf("DescribeTargetHealth calls = %d, want one per group (2)", w.groups.Calls()["DescribeTargetHealth"])
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.9.9:443"}) {
		t.Errorf("group a = %v", got)
	}
}

func TestReconcileDryRunChangesNothing(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	w.dryRun = true
	res := w.run(t)
	if len(res.Bindings[0].Plan.Register) != 1 || len(w.groups.Members(arnA)) != 0 || w.store.Saves() != 0 {
		t.Fatalf("dry run: plan=%+v members=%v saves=%d", res.Bindings[0].Plan, w.groups.Members(arnA), w.store.Saves())
	}
}

func TestReconcileOnlyNamedBindings(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	if _, err := w.r.Run(context.Background(), RunOptions{Only: []string{"nope"}}); !errors.Is(err, ErrUnknownBinding) {
		t.Fatalf("err = %v", err)
	}
	res := w.run(t, "db")
	if len(res.Bindings) != 1 {
		t.Fatalf("bindings = %d", len(res.Bindings))
	}
}

func TestReconcileDeadline(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := w.r.Run(ctx, RunOptions{DeadlineMargin: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Bindings[0].Unfinished || !slices.Equal(res.Failed(), []string{"db"}) {
		t.Fatalf("result = %+v", res.Bindings[0])
	}
	if len(w.groups.Calls()) != 0 {
		t.Errorf("calls made with too little time left: %v", w.groups.Calls())
	}
}

// outage fails every save after the first ok ones while on, as an S3
// outage that starts mid-run would.
type outage struct {
	on bool
	ok int // saves that still succeed before the outage
}

// saves is base with the outage.
func (o *outage) saves(base Store) *mock.Store {
	s := mock.StoreOf(base)
	s.SaveFn = func(ctx context.Context, st *State, rev string) (string, error) {
		if o.on && o.ok == 0 {
			return "", errors.New("SlowDown: please reduce your request rate")
		}
		if o.on {
			o.ok--
		}
		return base.Save(ctx, st, rev)
	}
	return s
}

// TestReconcileFailedSaveIsCarried: what a run applied but could not save is
// recorded by the next run: its history, and the ownership of what a shared
// binding registered.
func TestReconcileFailedSaveIsCarried(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	// The intent is saved, the run's final save fails.
	fs := &outage{on: true, ok: 1}
	w.r.Store = fs.saves(w.store)
	w.src.Set("10.0.0.1")
	if _, err := w.r.Run(context.Background(), RunOptions{}); err == nil {
		t.Fatal("a failed save was not reported")
	}
	w.now = w.now.Add(time.Minute)
	fs.on = false
	res := w.run(t)
	if !res.StateWritten || len(res.Bindings[0].Registered) != 0 {
		t.Fatalf("second run: written=%v registered=%v", res.StateWritten, res.Bindings[0].Registered)
	}
	st, _, _ := w.store.Load(context.Background())
	b := st.Bindings["db"]
	if _, ok := b.Owned[mock.Target("10.0.0.1:443")]; !ok || len(b.History) != 1 {
		t.Fatalf("after the failed save: owned=%v history=%+v", b.Owned, b.History)
	}
	// The target leaves the source: being owned, it is removed after grace.
	w.src.Set("10.0.0.2")
	for i := 0; i < 4; i++ {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.2:443"}) {
		t.Fatalf("group = %v, want the owned old target removed", got)
	}
}

// TestReconcileUnsavedIntentRegistersNothing: a shared binding whose
// intent cannot be saved does not register (a run that then died would
// leave a target no binding owns); it fails and the next run registers.
func TestReconcileUnsavedIntentRegistersNothing(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	fs := &outage{on: true}
	w.r.Store = fs.saves(w.store)
	w.src.Set("10.0.0.1")
	res, err := w.r.Run(context.Background(), RunOptions{})
	if err == nil {
		t.Fatal("the failed saves were not reported")
	}
	if b := res.Bindings[0]; b.Err == nil || !strings.Contains(b.Err.Error(), "not registering") || len(b.Registered) != 0 {
		t.Fatalf("binding: err=%v registered=%v", b.Err, b.Registered)
	}
	if got := w.groups.Members(arnA); len(got) != 0 {
		t.Fatalf("registered without a saved intent: %v", got)
	}
	fs.on = false
	w.now = w.now.Add(time.Minute)
	w.run(t)
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
		t.Fatalf("after the store came back: %v", got)
	}
}

func TestReconcileReportsBindingDuration(t *testing.T) {
	w := newWorld(DefaultPolicy())
	// The source takes a moment to answer, so that the duration shows.
	answers := mock.NewAnswers("slow.example.internal", "10.0.0.1")
	src := mock.SourceOf(answers)
	src.ResolveFn = func(ctx context.Context) (Answer, error) {
		time.Sleep(5 * time.Millisecond)
		return answers.Resolve(ctx)
	}
	w.r.Bindings[0].Source = src
	res := w.run(t)
	if d := res.Bindings[0].Duration; d < 5*time.Millisecond {
		t.Fatalf("binding duration %s, want at least the source's 5ms", d)
	}
}

func TestReconcileCountsAPICallsPerBinding(t *testing.T) {
	w := newWorld(DefaultPolicy())
	// Describe and register report their calls with CountAPICall, as the
	// SDK middleware does.
	counting := mock.TargetGroupsOf(w.groups)
	counting.DescribeFn = func(ctx context.Context, arn string) ([]ObservedTarget, error) {
		CountAPICall(ctx)
		return w.groups.Describe(ctx, arn)
	}
	counting.RegisterFn = func(ctx context.Context, arn string, cs []Change) ([]Change, error) {
		CountAPICall(ctx)
		return w.groups.Register(ctx, arn, cs)
	}
	w.r.Groups = counting
	other := mock.NewAnswers("other.example.internal", "10.0.9.9")
	w.r.Bindings = append(w.r.Bindings, Binding{Name: "b", Source: other, TargetGroupARN: arnB, Ports: []uint16{443}, Policy: DefaultPolicy()})
	w.src.Set("10.0.0.1")
	res := w.run(t)
	for _, b := range res.Bindings {
		if b.APICalls != 2 {
			t.Errorf("%s: %d API calls, want 2 (describe, register)", b.Binding, b.APICalls)
		}
	}
	res = w.run(t)
	if res.Bindings[0].APICalls != 1 {
		t.Errorf("steady run: %d API calls, want 1", res.Bindings[0].APICalls)
	}
}
