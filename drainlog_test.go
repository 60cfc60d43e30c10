package tgsync_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/store/memstore"
)

// TestDrainerLogsDrains: a drain that deregistered something, or failed on
// a group, enters the state's drain log, one entry per group, and the
// observation the state keeps of a drained group loses the drained
// targets; a repeated event adds nothing; the log is bounded.
func TestDrainerLogsDrains(t *testing.T) {
	w := newDrainWorld(t)
	store := memstore.New()
	ctx := context.Background()
	seed := tgsync.NewState()
	seed.Observations = map[string]*tgsync.Observation{tg1: {At: start.Add(-time.Hour), Targets: []tgsync.ObservedTarget{
		obs("10.0.3.41:5044", tgsync.HealthHealthy), obs("10.0.3.41:9600", tgsync.HealthHealthy), obs("10.0.3.42:5044", tgsync.HealthHealthy)}}}
	for i := range tgsync.DrainLogLimit {
		seed.DrainLog = append(seed.DrainLog, tgsync.DrainEntry{At: start.Add(-time.Duration(tgsync.DrainLogLimit-i) * time.Minute),
			Task: fmt.Sprintf("arn:old/%d", i), TargetGroupARN: tg2, Deregistered: []string{"10.0.0.1:5044"}})
	}
	seed.DrainLog[0].At = start.Add(-tgsync.DrainLogRetention - time.Second)
	if _, err := store.Save(ctx, seed, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.world.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultInternalError, ARN: tg2, Action: elbv2fake.ActionDeregister, Times: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := w.drainer(store).Drain(ctx, task(4, start))
	if err == nil || res.StateWritten || !res.Logged {
		t.Fatalf("Drain: %v, version remembered %v, logged %v: want a failure, logged, version not remembered", err, res.StateWritten, res.Logged)
	}
	st, _, _ := store.Load(ctx)
	if len(st.DrainLog) != tgsync.DrainLogLimit {
		t.Errorf("%d log entries, want the limit %d", len(st.DrainLog), tgsync.DrainLogLimit)
	}
	if slices.ContainsFunc(st.DrainLog, func(e tgsync.DrainEntry) bool { return e.Task == "arn:old/0" || e.Task == "arn:old/1" }) {
		t.Error("the expired entry and the oldest beyond the limit were kept")
	}
	last := st.DrainLog[len(st.DrainLog)-2:]
	if e := last[0]; e.TargetGroupARN != tg1 || !slices.Equal(e.Deregistered, []string{"10.0.3.41:5044", "10.0.3.41:9600"}) ||
		e.Reason != "Spot interruption" || e.Version != 4 || !e.At.Equal(start) || e.Error != "" {
		t.Errorf("tg1 entry %+v", e)
	}
	if e := last[1]; e.TargetGroupARN != tg2 || len(e.Deregistered) != 0 || !strings.Contains(e.Error, "InternalFailure") {
		t.Errorf("tg2 entry %+v: want its error", e)
	}
	if o := st.Observations[tg1]; len(o.Targets) != 1 || o.Targets[0].Target != mock.Target("10.0.3.42:5044") || !o.At.Equal(start) ||
		!o.DescribedAt().Equal(start.Add(-time.Hour)) {
		t.Errorf("stored observation of tg1 %+v, want the drained targets gone, still dated from its describe", o)
	}

	// The retry drains tg2 and remembers the version; the same event
	// again finds nothing to do and logs nothing.
	res, err = w.drainer(store).Drain(ctx, task(4, start))
	if err != nil || !res.StateWritten || !res.Logged {
		t.Fatalf("retry: %v, remembered %v, logged %v", err, res.StateWritten, res.Logged)
	}
	if res, err = w.drainer(store).Drain(ctx, task(4, start)); err != nil || res.Logged || res.Skipped == "" {
		t.Fatalf("repeat: %v, logged %v, skipped %q", err, res.Logged, res.Skipped)
	}
	st, _, _ = store.Load(ctx)
	if e := st.DrainLog[len(st.DrainLog)-1]; e.TargetGroupARN != tg2 || !slices.Equal(e.Deregistered, []string{"10.0.3.41:5044"}) {
		t.Errorf("last entry %+v, want the retry's drain of tg2", e)
	}
}
