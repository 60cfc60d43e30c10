package tgsync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/tgsync/tgsync"
)

// fakeSource answers from a settable list of addresses, or fails.
type fakeSource struct {
	mu    sync.Mutex
	name  string
	addrs []string
	err   error
}

func (s *fakeSource) set(err error, a ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs, s.err = a, err
}

func (s *fakeSource) Resolve(context.Context) (Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Answer{}, s.err
	}
	return Answer{Addrs: addrs(s.addrs...), TTL: time.Minute, Queries: 1}, nil
}

func (s *fakeSource) String() string { return s.name }

// fakeGroups stands in for the elbv2 API: targets turn healthy at once (as in
// moto) and leave at once; failures can be injected per action.
type fakeGroups struct {
	mu      sync.Mutex
	groups  map[string]map[Target]HealthState
	calls   map[string]int
	failReg error
	regCap  int // register at most this many, then fail with failReg
}

var _ TargetGroups = (*fakeGroups)(nil)

func newFakeGroups(arns ...string) *fakeGroups {
	g := &fakeGroups{groups: map[string]map[Target]HealthState{}, calls: map[string]int{}}
	for _, a := range arns {
		g.groups[a] = map[Target]HealthState{}
	}
	return g
}

func (g *fakeGroups) Describe(_ context.Context, arn string) ([]ObservedTarget, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["DescribeTargetHealth"]++
	grp, ok := g.groups[arn]
	if !ok {
		return nil, fmt.Errorf("target group %s not found", arn)
	}
	var out []ObservedTarget
	for t, h := range grp {
		out = append(out, ObservedTarget{Target: t, State: h})
	}
	slices.SortFunc(out, func(a, b ObservedTarget) int { return a.Target.Compare(b.Target) })
	return out, nil
}

func (g *fakeGroups) Register(_ context.Context, arn string, cs []Change) ([]Change, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["RegisterTargets"]++
	n := len(cs)
	if g.failReg != nil && g.regCap < n {
		n = g.regCap
	}
	for _, c := range cs[:n] {
		g.groups[arn][c.Target] = HealthHealthy
	}
	if n < len(cs) {
		return cs[:n], g.failReg
	}
	return cs, nil
}

func (g *fakeGroups) Deregister(_ context.Context, arn string, cs []Change) ([]Change, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls["DeregisterTargets"]++
	for _, c := range cs {
		delete(g.groups[arn], c.Target)
	}
	return cs, nil
}

// members lists a group without counting a call.
func (g *fakeGroups) members(arn string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for t := range g.groups[arn] {
		out = append(out, t.String())
	}
	slices.Sort(out)
	return out
}

// testStore is a minimal in-memory Store with revisions and an optional
// number of forced conflicts.
type testStore struct {
	mu        sync.Mutex
	data      []byte
	rev       int
	saves     int
	conflicts int // fail this many saves with ErrConflict
	onLoad    func()
}

func (s *testStore) Load(context.Context) (*State, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onLoad != nil {
		s.onLoad()
	}
	if s.data == nil {
		return NewState(), "", nil
	}
	st, err := DecodeState(s.data)
	return st, fmt.Sprint(s.rev), err
}

func (s *testStore) Save(_ context.Context, st *State, rev string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conflicts > 0 {
		s.conflicts--
		s.rev++
		return "", ErrConflict
	}
	cur := ""
	if s.data != nil {
		cur = fmt.Sprint(s.rev)
	}
	if rev != cur {
		return "", ErrConflict
	}
	b, err := EncodeState(st)
	if err != nil {
		return "", err
	}
	s.data, s.saves = b, s.saves+1
	s.rev++
	return fmt.Sprint(s.rev), nil
}

const arnA, arnB = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/a/1", "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/b/2"

type world struct {
	src    *fakeSource
	groups *fakeGroups
	store  *testStore
	now    time.Time
	r      *Reconciler
	dryRun bool
	margin time.Duration
}

func newWorld(policy Policy) *world {
	w := &world{src: &fakeSource{name: "db.example.internal"}, groups: newFakeGroups(arnA, arnB), store: &testStore{}, now: t0}
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
	w.src.set(nil, "10.0.0.1", "10.0.0.2")
	res := w.run(t)
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.2:443"}) {
		t.Fatalf("after first run: %v", got)
	}
	if !res.StateWritten || res.Bindings[0].Failed() {
		t.Fatalf("first run: written=%v failed=%v err=%v", res.StateWritten, res.Bindings[0].Failed(), res.Bindings[0].Err)
	}

	w.src.set(nil, "10.0.0.1", "10.0.0.3")
	for i := 1; i <= 3; i++ {
		w.run(t)
		if got := w.groups.members(arnA); !slices.Contains(got, "10.0.0.2:443") {
			t.Fatalf("run %d removed 10.0.0.2 before its grace ran out: %v", i, got)
		}
	}
	res = w.run(t)
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.3:443"}) {
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
	w.src.set(nil, "10.0.0.1")
	w.run(t)
	saves := w.store.saves
	w.groups.calls = map[string]int{}
	res := w.run(t)
	if res.StateWritten || w.store.saves != saves {
		t.Errorf("steady run wrote state")
	}
	want := map[string]int{"DescribeTargetHealth": 1}
	if fmt.Sprint(w.groups.calls) != fmt.Sprint(want) {
		t.Errorf("calls = %v, want %v", w.groups.calls, want)
	}
}

func TestReconcileSourceFailureChangesNothing(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.set(nil, "10.0.0.1")
	w.run(t)
	w.src.set(errors.New("SERVFAIL"))
	w.groups.calls = map[string]int{}
	for i := 0; i < 5; i++ {
		res := w.run(t)
		if !res.Bindings[0].Failed() || res.Bindings[0].SourceErr == nil {
			t.Fatalf("run %d: failure not reported", i)
		}
	}
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
		t.Fatalf("group changed during a DNS outage: %v", got)
	}
	if len(w.groups.calls) != 0 {
		t.Errorf("a failed source still made calls: %v", w.groups.calls)
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
	w.src.set(nil, "10.0.0.1")
	w.store.conflicts = 1
	res := w.run(t)
	if res.Conflicts != 1 || !res.StateWritten {
		t.Fatalf("conflicts=%d written=%v", res.Conflicts, res.StateWritten)
	}
	if len(res.Bindings[0].Registered) != 1 {
		t.Errorf("registration of the first attempt not reported: %+v", res.Bindings[0].Registered)
	}
	if w.groups.calls["RegisterTargets"] != 1 {
		t.Errorf("registered twice: %v", w.groups.calls)
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
	w.src.set(nil, "10.0.0.1")
	w.store.conflicts = 1
	w.run(t)
	st, _, _ := w.store.Load(context.Background())
	if _, ok := st.Bindings["db"].Owned[tg("10.0.0.1:443")]; !ok {
		t.Fatalf("a replan after a conflict forgot that the binding registered 10.0.0.1:443: %+v", st.Bindings["db"])
	}
}

func TestReconcileGivesUpAfterRepeatedConflicts(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.set(nil, "10.0.0.1")
	w.store.conflicts = 10
	_, err := w.r.Run(context.Background(), RunOptions{})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
}

func TestReconcilePartialRegistration(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	w.src.set(nil, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	w.groups.failReg, w.groups.regCap = errors.New("InternalFailure"), 2
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
	w.groups.failReg = nil
	w.run(t)
	if got := w.groups.members(arnA); len(got) != 3 {
		t.Errorf("next run did not finish: %v", got)
	}
}

func TestReconcileDescribesEachGroupOnce(t *testing.T) {
	w := newWorld(DefaultPolicy())
	other := &fakeSource{name: "other.example.internal"}
	other.set(nil, "10.0.9.9")
	shared := DefaultPolicy()
	shared.Shared = true
	w.r.Bindings[0].Policy = shared
	w.r.Bindings = append(w.r.Bindings,
		Binding{Name: "other", Source: other, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: shared},
		Binding{Name: "b", Source: other, TargetGroupARN: arnB, Ports: []uint16{8080}, Policy: DefaultPolicy()})
	w.src.set(nil, "10.0.0.1")
	w.run(t)
	if w.groups.calls["DescribeTargetHealth"] != 2 {
		t.Errorf("DescribeTargetHealth calls = %d, want one per group (2)", w.groups.calls["DescribeTargetHealth"])
	}
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.9.9:443"}) {
		t.Errorf("group a = %v", got)
	}
}

func TestReconcileDryRunChangesNothing(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.set(nil, "10.0.0.1")
	w.dryRun = true
	res := w.run(t)
	if len(res.Bindings[0].Plan.Register) != 1 || len(w.groups.members(arnA)) != 0 || w.store.saves != 0 {
		t.Fatalf("dry run: plan=%+v members=%v saves=%d", res.Bindings[0].Plan, w.groups.members(arnA), w.store.saves)
	}
}

func TestReconcileOnlyNamedBindings(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.set(nil, "10.0.0.1")
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
	w.src.set(nil, "10.0.0.1")

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := w.r.Run(ctx, RunOptions{DeadlineMargin: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Bindings[0].Unfinished || !slices.Equal(res.Failed(), []string{"db"}) {
		t.Fatalf("result = %+v", res.Bindings[0])
	}
	if len(w.groups.calls) != 0 {
		t.Errorf("calls made with too little time left: %v", w.groups.calls)
	}
}

// failingSaves fails every save after the first ok ones while fail is
// set, as an S3 outage that starts mid-run would.
type failingSaves struct {
	*testStore
	fail bool
	ok   int // saves that still succeed before the outage
}

func (f *failingSaves) Save(ctx context.Context, st *State, rev string) (string, error) {
	if f.fail && f.ok == 0 {
		return "", errors.New("SlowDown: please reduce your request rate")
	}
	if f.fail {
		f.ok--
	}
	return f.testStore.Save(ctx, st, rev)
}

// TestReconcileFailedSaveIsCarried: what a run applied but could not save is
// recorded by the next run: its history, and the ownership of what a shared
// binding registered.
func TestReconcileFailedSaveIsCarried(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	// The intent is saved, the run's final save fails.
	fs := &failingSaves{testStore: w.store, fail: true, ok: 1}
	w.r.Store = fs
	w.src.set(nil, "10.0.0.1")
	if _, err := w.r.Run(context.Background(), RunOptions{}); err == nil {
		t.Fatal("a failed save was not reported")
	}
	w.now = w.now.Add(time.Minute)
	fs.fail = false
	res := w.run(t)
	if !res.StateWritten || len(res.Bindings[0].Registered) != 0 {
		t.Fatalf("second run: written=%v registered=%v", res.StateWritten, res.Bindings[0].Registered)
	}
	st, _, _ := w.store.Load(context.Background())
	b := st.Bindings["db"]
	if _, ok := b.Owned[tg("10.0.0.1:443")]; !ok || len(b.History) != 1 {
		t.Fatalf("after the failed save: owned=%v history=%+v", b.Owned, b.History)
	}
	// The target leaves the source: being owned, it is removed after grace.
	w.src.set(nil, "10.0.0.2")
	for i := 0; i < 4; i++ {
		w.run(t)
	}
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.2:443"}) {
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
	fs := &failingSaves{testStore: w.store, fail: true}
	w.r.Store = fs
	w.src.set(nil, "10.0.0.1")
	res, err := w.r.Run(context.Background(), RunOptions{})
	if err == nil {
		t.Fatal("the failed saves were not reported")
	}
	if b := res.Bindings[0]; b.Err == nil || !strings.Contains(b.Err.Error(), "not registering") || len(b.Registered) != 0 {
		t.Fatalf("binding: err=%v registered=%v", b.Err, b.Registered)
	}
	if got := w.groups.members(arnA); len(got) != 0 {
		t.Fatalf("registered without a saved intent: %v", got)
	}
	fs.fail = false
	w.now = w.now.Add(time.Minute)
	w.run(t)
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
		t.Fatalf("after the store came back: %v", got)
	}
}

// slowSource takes a moment to answer, so that a binding's duration shows.
type slowSource struct{ fakeSource }

func (s *slowSource) Resolve(ctx context.Context) (Answer, error) {
	time.Sleep(5 * time.Millisecond)
	return s.fakeSource.Resolve(ctx)
}

func TestReconcileReportsBindingDuration(t *testing.T) {
	w := newWorld(DefaultPolicy())
	src := &slowSource{fakeSource{name: "slow.example.internal"}}
	src.set(nil, "10.0.0.1")
	w.r.Bindings[0].Source = src
	res := w.run(t)
	if d := res.Bindings[0].Duration; d < 5*time.Millisecond {
		t.Fatalf("binding duration %s, want at least the source's 5ms", d)
	}
}

// countingGroups reports every call with CountAPICall, as the SDK
// middleware does.
type countingGroups struct{ *fakeGroups }

func (g countingGroups) Describe(ctx context.Context, arn string) ([]ObservedTarget, error) {
	CountAPICall(ctx)
	return g.fakeGroups.Describe(ctx, arn)
}

func (g countingGroups) Register(ctx context.Context, arn string, cs []Change) ([]Change, error) {
	CountAPICall(ctx)
	return g.fakeGroups.Register(ctx, arn, cs)
}

func TestReconcileCountsAPICallsPerBinding(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.r.Groups = countingGroups{w.groups}
	other := &fakeSource{name: "other.example.internal"}
	other.set(nil, "10.0.9.9")
	w.r.Bindings = append(w.r.Bindings, Binding{Name: "b", Source: other, TargetGroupARN: arnB, Ports: []uint16{443}, Policy: DefaultPolicy()})
	w.src.set(nil, "10.0.0.1")
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
