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

// scriptedSource answers from a list, one answer per Resolve, repeating
// the last.
type scriptedSource struct {
	mu      sync.Mutex
	name    string
	answers [][]string
	calls   int
}

func (s *scriptedSource) Resolve(context.Context) (Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	return Answer{Addrs: addrs(a...), TTL: time.Minute}, nil
}

func (s *scriptedSource) String() string { return s.name }

// racedGroups lets another writer save the state after every change call,
// as a concurrent run that saves while this one applies its changes.
type racedGroups struct {
	*fakeGroups
	store *testStore
}

func (g racedGroups) Register(ctx context.Context, arn string, cs []Change) ([]Change, error) {
	defer g.store.bump()
	return g.fakeGroups.Register(ctx, arn, cs)
}

func (g racedGroups) Deregister(ctx context.Context, arn string, cs []Change) ([]Change, error) {
	defer g.store.bump()
	return g.fakeGroups.Deregister(ctx, arn, cs)
}

// bump is another writer saving the same state: the revision moves on.
func (s *testStore) bump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
}

// TestReconcileConflictsMergeInOrder is rule 9 across save conflicts: a run
// whose first attempt deregisters X and whose second registers it again
// (the answer moved back in between) still owns X when its third attempt
// saves, so that X leaves once the answer drops it.
func TestReconcileConflictsMergeInOrder(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	src := &scriptedSource{name: "db.example.internal", answers: [][]string{{"10.0.0.1", "10.0.0.9"}}}
	w.r.Bindings[0].Source = src
	w.run(t)
	// X (10.0.0.9) leaves the answer and its grace runs out.
	src.answers, src.calls = [][]string{{"10.0.0.1"}}, 0
	for range 3 {
		w.run(t)
	}
	if got := w.groups.members(arnA); !slices.Contains(got, "10.0.0.9:443") {
		t.Fatalf("X left before its grace: %v", got)
	}
	// Attempt 1 sees X missing a 4th time and deregisters it; attempt 2
	// sees it back and registers it; each save is beaten by another writer.
	w.r.Groups = racedGroups{w.groups, w.store}
	src.answers, src.calls = [][]string{{"10.0.0.1"}, {"10.0.0.1", "10.0.0.9"}}, 0
	res := w.run(t)
	if res.Conflicts != 2 || !res.StateWritten {
		t.Fatalf("conflicts=%d written=%v, want 2 conflicts and a save", res.Conflicts, res.StateWritten)
	}
	var order []string
	for _, e := range mustLoad(t, w.store).Bindings["db"].History {
		if e.Target == "10.0.0.9:443" {
			order = append(order, string(e.Action))
		}
	}
	if !slices.Equal(order[len(order)-2:], []string{"deregister", "register"}) {
		t.Errorf("history of X = %v, want it to end deregister, register", order)
	}
	if _, owned := mustLoad(t, w.store).Bindings["db"].Owned[tg("10.0.0.9:443")]; !owned {
		t.Fatalf("X registered again but not owned: it would stay forever")
	}
	w.r.Groups = w.groups
	src.answers, src.calls = [][]string{{"10.0.0.1"}}, 0
	for range 5 {
		w.run(t)
	}
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
		t.Fatalf("group = %v, want X removed after its grace", got)
	}
}

func mustLoad(t *testing.T, s Store) *State {
	t.Helper()
	st, _, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dyingGroups stops every later save once a RegisterTargets call
// returns, as a process killed right after the call.
type dyingGroups struct {
	*fakeGroups
	store *failingSaves
}

func (g dyingGroups) Register(ctx context.Context, arn string, cs []Change) ([]Change, error) {
	defer func() { g.store.fail = true }()
	return g.fakeGroups.Register(ctx, arn, cs)
}

// TestReconcileDeathAfterRegisterLosesNothing is rule 9 when the process
// dies between RegisterTargets and its state save: a new process (nothing
// carried in memory) still knows the shared binding registered the target,
// and removes it once the answer drops it.
func TestReconcileDeathAfterRegisterLosesNothing(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	w.groups.groups[arnA][tg("10.0.5.5:443")] = HealthHealthy // someone else's
	// The process dies once RegisterTargets returns: no save after it.
	fs := &failingSaves{testStore: w.store}
	w.r.Store = fs
	w.r.Groups = dyingGroups{w.groups, fs}
	w.src.set(nil, "10.0.0.1", "10.0.0.9")
	_, _ = w.r.Run(context.Background(), RunOptions{})
	if got := w.groups.members(arnA); !slices.Contains(got, "10.0.0.9:443") {
		t.Fatalf("not registered: %v", got)
	}
	// A new process: nothing of the dead one's memory.
	w.r = &Reconciler{Bindings: w.r.Bindings, Groups: w.groups, Store: w.store, Now: w.r.Now}
	w.now = w.now.Add(time.Minute)
	w.src.set(nil, "10.0.0.1")
	for range 5 {
		w.run(t)
	}
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.5.5:443"}) {
		t.Fatalf("group = %v, want what the dead run registered removed and the foreign target kept", got)
	}
}

// TestReconcileSharedBindingsKeepEachOthersTargets is rule 9 between
// bindings: bar owns X, bar's answer drops X while foo's holds it. X is
// never deregistered, foo takes it over, and it leaves once foo drops it
// too. While foo's source fails, its last answer still protects X.
func TestReconcileSharedBindingsKeepEachOthersTargets(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	foo := &fakeSource{name: "foo.example.internal"}
	bar := &fakeSource{name: "bar.example.internal"}
	w.r.Bindings = []Binding{
		{Name: "foo", Source: foo, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
		{Name: "bar", Source: bar, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
	}
	foo.set(nil, "10.0.0.1")
	bar.set(nil, "10.0.0.2", "10.0.0.9")
	w.run(t)
	bar.set(nil, "10.0.0.2")
	foo.set(nil, "10.0.0.1", "10.0.0.9")
	for i := range 8 {
		res := w.run(t)
		for _, b := range res.Bindings {
			if ContainsTarget(b.Deregistered, tg("10.0.0.9:443")) {
				t.Fatalf("run %d: %s deregistered X although foo's answer holds it", i, b.Binding)
			}
		}
	}
	st := mustLoad(t, w.store)
	if _, ok := st.Bindings["foo"].Owned[tg("10.0.0.9:443")]; !ok {
		t.Errorf("foo does not own X: %v", st.Bindings["foo"].Owned)
	}
	if _, ok := st.Bindings["bar"].Owned[tg("10.0.0.9:443")]; ok {
		t.Errorf("bar still owns X: %v", st.Bindings["bar"].Owned)
	}
	// foo's source fails: its last answer still holds X, and X stays.
	foo.set(errors.New("SERVFAIL"))
	for range 5 {
		w.run(t)
	}
	if got := w.groups.members(arnA); !slices.Contains(got, "10.0.0.9:443") {
		t.Fatalf("X removed while foo's source failed: %v", got)
	}
	foo.set(nil, "10.0.0.1")
	for range 5 {
		w.run(t)
	}
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.2:443"}) {
		t.Fatalf("group = %v, want X gone once no binding wants it", got)
	}
}

// TestReconcileRefusedAnswerFails: an answer whose every address is
// refused is a failed binding (an alarm must fire), and removes nothing.
func TestReconcileRefusedAnswerFails(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.set(nil, "10.0.0.1")
	w.run(t)
	w.src.set(nil, "203.0.113.7", "169.254.169.254")
	for range 5 {
		res := w.run(t)
		b := res.Bindings[0]
		if !b.Failed() || b.Err == nil || !strings.Contains(b.Err.Error(), "refused") {
			t.Fatalf("binding failed=%v err=%v, want a failure naming the refusals", b.Failed(), b.Err)
		}
	}
	if got := w.groups.members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
		t.Fatalf("group = %v", got)
	}
	if e := mustLoad(t, w.store).Bindings["db"].LastError; !strings.Contains(e, "refused") {
		t.Errorf("last error = %q", e)
	}
}

// slowStore delays saves, honouring the context as S3 calls do.
type slowStore struct {
	Store
	delay time.Duration
}

func (s slowStore) Save(ctx context.Context, st *State, rev string) (string, error) {
	select {
	case <-time.After(s.delay):
		return s.Store.Save(ctx, st, rev)
	case <-ctx.Done():
		return "", fmt.Errorf("save: %w", ctx.Err())
	}
}

// slowGroups delays describes, honouring the context.
type slowGroups struct {
	*fakeGroups
	delay time.Duration
}

func (g slowGroups) Describe(ctx context.Context, arn string) ([]ObservedTarget, error) {
	select {
	case <-time.After(g.delay):
		return g.fakeGroups.Describe(ctx, arn)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestReconcileAnswersBeforeItsDeadline: every step, the save included,
// ends by the run's deadline (a Lambda invocation's): a slow describe and
// a slow save make the run report that it could not save, in time.
func TestReconcileAnswersBeforeItsDeadline(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.set(nil, "10.0.0.1")
	w.r.Groups = slowGroups{w.groups, 700 * time.Millisecond}
	w.r.Store = slowStore{w.store, 500 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err := w.r.Run(ctx, RunOptions{DeadlineMargin: 300 * time.Millisecond})
	// The context ends at the deadline; the run returns as soon as it
	// sees that (a Lambda keeps a reserve for this, see cmd/tgsync).
	if late := time.Since(deadline); late > 100*time.Millisecond {
		t.Errorf("the run ended %s after its deadline", late)
	}
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "save state") {
		t.Errorf("err = %v, want the save reported as cut off by the deadline", err)
	}
}

// flakySource fails with a message that, like a real network error,
// carries a different port and request ID every time.
type flakySource struct{ n int }

func (s *flakySource) Resolve(context.Context) (Answer, error) {
	s.n++
	return Answer{}, fmt.Errorf("lookup db A via 10.0.0.2:53: read udp 10.0.0.5:%d->10.0.0.2:53: i/o timeout, RequestID: %08x-aaaa", 40000+s.n, s.n)
}

func (s *flakySource) String() string { return "db.example.internal" }

// TestReconcileLastingFailureWritesOnce: a failure that lasts is written to
// the state once, not every run.
func TestReconcileLastingFailureWritesOnce(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.set(nil, "10.0.0.1")
	w.run(t)
	w.r.Bindings[0].Source = &flakySource{}
	saves := w.store.saves
	for range 5 {
		w.run(t)
	}
	if n := w.store.saves - saves; n != 1 {
		t.Errorf("5 runs of the same failure saved the state %d times, want 1", n)
	}
	if e := mustLoad(t, w.store).Bindings["db"].LastError; strings.Contains(e, "40001") || strings.Contains(e, "RequestID") {
		t.Errorf("last error keeps what changes from run to run: %q", e)
	}
}

func TestStableError(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"operation error Elastic Load Balancing v2: DescribeTargetHealth, https response error StatusCode: 503, RequestID: 5f3c0a2e-1b2c-4d5e-8f90-123456789abc, api error ServiceUnavailable: busy",
			"operation error Elastic Load Balancing v2: DescribeTargetHealth, https response error StatusCode: 503, api error ServiceUnavailable: busy"},
		{"operation error S3: PutObject, https response error StatusCode: 503, RequestID: TX1, HostID: abc/def=, api error SlowDown: Please reduce",
			"operation error S3: PutObject, https response error StatusCode: 503, api error SlowDown: Please reduce"},
		{"lookup x A via 10.0.0.2:53: read udp 10.0.0.5:53211->10.0.0.2:53: i/o timeout", "lookup x A via 10.0.0.2:53: read udp 10.0.0.2:53: i/o timeout"},
		{"Post \"https://elasticloadbalancing.us-east-1.amazonaws.com/\": read tcp4 10.1.2.3:41000->52.0.0.1:443: read: connection reset by peer",
			"Post \"https://elasticloadbalancing.us-east-1.amazonaws.com/\": read tcp4 52.0.0.1:443: read: connection reset by peer"},
		{"plain", "plain"},
	} {
		if got := StableError(errors.New(tc.in)); got != tc.want {
			t.Errorf("StableError(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
