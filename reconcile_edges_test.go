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

// racedGroups lets another writer save the state after every change call,
// as a concurrent run that saves while this one applies its changes.
func racedGroups(t *testing.T, w *world) *mock.TargetGroups {
	otherWriter := func(ctx context.Context) {
		if err := w.store.OtherWriter(ctx); err != nil {
			t.Errorf("the other writer: %v", err)
		}
	}
	g := mock.TargetGroupsOf(w.groups)
	g.RegisterFn = func(ctx context.Context, arn string, cs []Change) ([]Change, error) {
		defer otherWriter(ctx)
		return w.groups.Register(ctx, arn, cs)
	}
	g.DeregisterFn = func(ctx context.Context, arn string, cs []Change) ([]Change, error) {
		defer otherWriter(ctx)
		return w.groups.Deregister(ctx, arn, cs)
	}
	return g
}

// TestReconcileConflictsMergeInOrder is rule 9 across save conflicts: a run
// whose first attempt deregisters X and whose second registers it again
// (the answer moved back in between) still owns X when its third attempt
// saves, so that X leaves once the answer drops it.
func TestReconcileConflictsMergeInOrder(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	src := mock.NewAnswers("db.example.internal", "10.0.0.1", "10.0.0.9")
	w.r.Bindings[0].Source = src
	w.run(t)
	// X (10.0.0.9) leaves the answer and its grace runs out.
	src.Set("10.0.0.1")
	for range 3 {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Contains(got, "10.0.0.9:443") {
		t.Fatalf("X left before its grace: %v", got)
	}
	// Attempt 1 sees X missing a 4th time and deregisters it; attempt 2
	// sees it back and registers it; each save is beaten by another writer.
	w.r.Groups = racedGroups(t, w)
	src.Script([]string{"10.0.0.1"}, []string{"10.0.0.1", "10.0.0.9"})
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
	if _, owned := mustLoad(t, w.store).Bindings["db"].Owned[mock.Target("10.0.0.9:443")]; !owned {
		t.Fatalf("X registered again but not owned: it would stay forever")
	}
	w.r.Groups = w.groups
	src.Set("10.0.0.1")
	for range 5 {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
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

// TestReconcileDeathAfterRegisterLosesNothing is rule 9 when the process
// dies between RegisterTargets and its state save: a new process (nothing
// carried in memory) still knows the shared binding registered the target,
// and removes it once the answer drops it.
func TestReconcileDeathAfterRegisterLosesNothing(t *testing.T) {
	p := DefaultPolicy()
	p.Shared = true
	w := newWorld(p)
	w.groups.Put(arnA, mock.Target("10.0.5.5:443"), HealthHealthy) // someone else's
	// The process dies once RegisterTargets returns: no save after it.
	fs := &outage{}
	w.r.Store = fs.saves(w.store)
	dying := mock.TargetGroupsOf(w.groups)
	dying.RegisterFn = func(ctx context.Context, arn string, cs []Change) ([]Change, error) {
		defer func() { fs.on = true }()
		return w.groups.Register(ctx, arn, cs)
	}
	w.r.Groups = dying
	w.src.Set("10.0.0.1", "10.0.0.9")
	_, _ = w.r.Run(context.Background(), RunOptions{})
	if got := w.groups.Members(arnA); !slices.Contains(got, "10.0.0.9:443") {
		t.Fatalf("not registered: %v", got)
	}
	// A new process: nothing of the dead one's memory.
	w.r = &Reconciler{Bindings: w.r.Bindings, Groups: w.groups, Store: w.store, Now: w.r.Now}
	w.now = w.now.Add(time.Minute)
	w.src.Set("10.0.0.1")
	for range 5 {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.5.5:443"}) {
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
	foo := mock.NewAnswers("foo.example.internal")
	bar := mock.NewAnswers("bar.example.internal")
	w.r.Bindings = []Binding{
		{Name: "foo", Source: foo, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
		{Name: "bar", Source: bar, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
	}
	foo.Set("10.0.0.1")
	bar.Set("10.0.0.2", "10.0.0.9")
	w.run(t)
	bar.Set("10.0.0.2")
	foo.Set("10.0.0.1", "10.0.0.9")
	for i := range 8 {
		res := w.run(t)
		for _, b := range res.Bindings {
			if ContainsTarget(b.Deregistered, mock.Target("10.0.0.9:443")) {
				t.Fatalf("run %d: %s deregistered X although foo's answer holds it", i, b.Binding)
			}
		}
	}
	st := mustLoad(t, w.store)
	if _, ok := st.Bindings["foo"].Owned[mock.Target("10.0.0.9:443")]; !ok {
		t.Errorf("foo does not own X: %v", st.Bindings["foo"].Owned)
	}
	if _, ok := st.Bindings["bar"].Owned[mock.Target("10.0.0.9:443")]; ok {
		t.Errorf("bar still owns X: %v", st.Bindings["bar"].Owned)
	}
	// foo's source fails: its last answer still holds X, and X stays.
	foo.Fail(errors.New("SERVFAIL"))
	for range 5 {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Contains(got, "10.0.0.9:443") {
		t.Fatalf("X removed while foo's source failed: %v", got)
	}
	foo.Set("10.0.0.1")
	for range 5 {
		w.run(t)
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443", "10.0.0.2:443"}) {
		t.Fatalf("group = %v, want X gone once no binding wants it", got)
	}
}

// TestReconcileRefusedAnswerFails: an answer whose every address is
// refused is a failed binding (an alarm must fire), and removes nothing.
func TestReconcileRefusedAnswerFails(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	w.run(t)
	w.src.Set("203.0.113.7", "169.254.169.254")
	for range 5 {
		res := w.run(t)
		b := res.Bindings[0]
		if !b.Failed() || b.Err == nil || !strings.Contains(b.Err.Error(), "refused") {
			t.Fatalf("binding failed=%v err=%v, want a failure naming the refusals", b.Failed(), b.Err)
		}
	}
	if got := w.groups.Members(arnA); !slices.Equal(got, []string{"10.0.0.1:443"}) {
		t.Fatalf("group = %v", got)
	}
	if e := mustLoad(t, w.store).Bindings["db"].LastError; !strings.Contains(e, "refused") {
		t.Errorf("last error = %q", e)
	}
}

// TestReconcileAnswersBeforeItsDeadline: every step, the save included,
// ends by the run's deadline (a Lambda invocation's): a slow describe and
// a slow save make the run report that it could not save, in time.
func TestReconcileAnswersBeforeItsDeadline(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	// A describe takes 700ms and a save 500ms, and both end with their
	// context, as AWS calls do.
	slowGroups := mock.TargetGroupsOf(w.groups)
	slowGroups.DescribeFn = func(ctx context.Context, arn string) ([]ObservedTarget, error) {
		select {
		case <-time.After(700 * time.Millisecond):
			return w.groups.Describe(ctx, arn)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	slowStore := mock.StoreOf(w.store)
	slowStore.SaveFn = func(ctx context.Context, st *State, rev string) (string, error) {
		select {
		case <-time.After(500 * time.Millisecond):
			return w.store.Save(ctx, st, rev)
		case <-ctx.Done():
			return "", fmt.Errorf("save: %w", ctx.Err())
		}
	}
	w.r.Groups, w.r.Store = slowGroups, slowStore
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

// TestReconcileLastingFailureWritesOnce: a failure that lasts is written to
// the state once, not every run.
func TestReconcileLastingFailureWritesOnce(t *testing.T) {
	w := newWorld(DefaultPolicy())
	w.src.Set("10.0.0.1")
	w.run(t)
	// The source fails with a message that, like a real network error,
	// carries a different port and request ID every time.
	n := 0
	w.r.Bindings[0].Source = &mock.Source{Name: "db.example.internal", ResolveFn: func(context.Context) (Answer, error) {
		n++
		return Answer{}, fmt.Errorf("lookup db A via 10.0.0.2:53: read udp 10.0.0.5:%d->10.0.0.2:53: i/o timeout, RequestID: %08x-aaaa", 40000+n, n)
	}}
	saves := w.store.Saves()
	for range 5 {
		w.run(t)
	}
	if n := w.store.Saves() - saves; n != 1 {
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
