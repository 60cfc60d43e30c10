package tgsync_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/store/memstore"
)

func obs(s string, state tgsync.HealthState) tgsync.ObservedTarget {
	return tgsync.ObservedTarget{Target: mock.Target(s), State: state, AvailabilityZone: "us-east-1a"}
}

func TestPlanDrain(t *testing.T) {
	const why = "task T is being interrupted"
	tests := []struct {
		name     string
		observed []tgsync.ObservedTarget
		ips      []string
		want     []string // targets to deregister
		skipped  []string
	}{
		{"two ports of the task leave, the others stay",
			[]tgsync.ObservedTarget{obs("10.0.0.5:5044", "healthy"), obs("10.0.0.5:9600", "healthy"), obs("10.0.0.6:5044", "healthy"), obs("10.0.0.6:9600", "healthy")},
			[]string{"10.0.0.5"}, []string{"10.0.0.5:5044", "10.0.0.5:9600"}, nil},
		{"draining targets are skipped, any other state leaves",
			[]tgsync.ObservedTarget{obs("10.0.0.5:1", "draining"), obs("10.0.0.5:2", "unhealthy.draining"), obs("10.0.0.5:3", "unhealthy"), obs("10.0.0.5:4", "initial"), obs("10.0.0.5:5", "unused"), obs("10.0.0.5:6", "unavailable")},
			[]string{"10.0.0.5"}, []string{"10.0.0.5:3", "10.0.0.5:4", "10.0.0.5:5", "10.0.0.5:6"}, []string{"10.0.0.5:1", "10.0.0.5:2"}},
		{"no target of the task: nothing",
			[]tgsync.ObservedTarget{obs("10.0.0.6:5044", "healthy"), obs("10.0.0.7:5044", "draining")}, []string{"10.0.0.5"}, nil, nil},
		{"empty group", nil, []string{"10.0.0.5"}, nil, nil},
		{"IPv6 and IPv4 addresses of one task",
			[]tgsync.ObservedTarget{obs("[fd00::5]:443", "healthy"), obs("[fd00::6]:443", "healthy"), obs("10.0.0.5:443", "healthy")},
			[]string{"fd00::5", "10.0.0.5"}, []string{"10.0.0.5:443", "[fd00::5]:443"}, nil},
		{"an IPv4-mapped task address matches the IPv4 target",
			[]tgsync.ObservedTarget{obs("10.0.0.5:443", "healthy")}, []string{"::ffff:10.0.0.5"}, []string{"10.0.0.5:443"}, nil},
		{"a repeated address or member counts once",
			[]tgsync.ObservedTarget{obs("10.0.0.5:443", "healthy"), obs("10.0.0.5:443", "healthy")}, []string{"10.0.0.5", "10.0.0.5"}, []string{"10.0.0.5:443"}, nil},
		{"a neighbouring address is not the task",
			[]tgsync.ObservedTarget{obs("10.0.0.50:443", "healthy"), obs("10.0.0.5:4430", "healthy")}, []string{"10.0.0.5"}, []string{"10.0.0.5:4430"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.observed)
			dereg, skipped := tgsync.PlanDrain(tc.observed, mock.Addrs(tc.ips...), why)
			if !slices.Equal(before, tc.observed) {
				t.Fatal("PlanDrain modified its input")
			}
			var got []string
			for _, c := range dereg {
				got = append(got, c.Target.String())
				if c.Action != tgsync.ActionDeregister || c.Reason != why || c.AvailabilityZone != "us-east-1a" {
					t.Errorf("change %+v: want a deregistration with the reason and the observed zone", c)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("deregister %v, want %v", got, tc.want)
			}
			var gotSkipped []string
			for _, s := range skipped {
				gotSkipped = append(gotSkipped, s.Target.String())
				if !strings.Contains(s.Reason, "already "+string(s.State)) {
					t.Errorf("skip reason %q does not say the target is already %s", s.Reason, s.State)
				}
			}
			if !slices.Equal(gotSkipped, tc.skipped) {
				t.Errorf("skipped %v, want %v", gotSkipped, tc.skipped)
			}
		})
	}
}

// The drainer runs on elbv2fake, through the real elbv2 adapter, because
// moto cannot show what matters here: a deregistered target stays draining
// (moto removes it at once), and two ports of one IP are two members of a
// group (moto keeps one per IP).

const (
	tg1 = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/one/1"
	tg2 = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/two/2"
)

var start = time.Date(2026, 3, 4, 9, 15, 22, 0, time.UTC)

type drainWorld struct {
	clock  *elbv2fake.ManualClock
	world  *elbv2fake.World
	groups *elbv2.Adapter // on world, without client-side rate limits
}

// newDrainWorld has the task IP 10.0.3.41 on two ports in tg1 and on one in
// tg2, next to unrelated members.
func newDrainWorld(t *testing.T) *drainWorld {
	t.Helper()
	w := &drainWorld{clock: elbv2fake.NewManualClock(start)}
	w.world = elbv2fake.New(w.clock, elbv2fake.Options{})
	w.groups = elbv2.New(w.world, elbv2.Unlimited())
	ctx := context.Background()
	for arn, targets := range map[string][]string{
		tg1: {"10.0.3.41:5044", "10.0.3.41:9600", "10.0.3.42:5044", "10.0.3.42:9600"},
		tg2: {"10.0.3.41:5044", "10.0.9.9:5044"},
	} {
		if err := w.world.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: 5044, HealthyAfter: -1}); err != nil {
			t.Fatal(err)
		}
		var ts []tgsync.Target
		for _, s := range targets {
			ts = append(ts, mock.Target(s))
		}
		in := &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: elbv2fake.Descriptions(ts...)}
		if _, err := w.world.RegisterTargets(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	w.world.ResetCalls()
	return w
}

func (w *drainWorld) drainer(store tgsync.Store) *tgsync.Drainer {
	return &tgsync.Drainer{Groups: w.groups, Store: store, TargetGroupARNs: []string{tg1, tg2}, Now: w.clock.Now}
}

// members renders a group as "ip:port state" lines.
func (w *drainWorld) members(arn string) []string {
	var out []string
	for _, o := range w.world.Targets(arn) {
		out = append(out, fmt.Sprintf("%s %s", o.Target, o.State))
	}
	return out
}

func (w *drainWorld) calls() (describe, deregister int) {
	c := w.world.Calls()
	return c[elbv2fake.ActionDescribe], c[elbv2fake.ActionDeregister]
}

func task(version int64, sent time.Time) tgsync.Task {
	return tgsync.Task{ARN: "arn:aws:ecs:us-east-1:111122223333:task/ingest/abc", Version: version,
		IPs: mock.Addrs("10.0.3.41"), Reason: "Spot interruption", EventTime: sent}
}

func TestDrainerDeregistersEveryPortInEveryGroup(t *testing.T) {
	for _, withStore := range []bool{false, true} {
		t.Run(fmt.Sprintf("store=%v", withStore), func(t *testing.T) {
			w := newDrainWorld(t)
			var store tgsync.Store
			if withStore {
				store = memstore.New()
			}
			d := w.drainer(store)
			ctx := context.Background()
			res, err := d.Drain(ctx, task(4, start))
			if err != nil || res.Skipped != "" {
				t.Fatalf("Drain: %v (skipped %q)", err, res.Skipped)
			}
			if desc, dereg := w.calls(); desc != 2 || dereg != 2 {
				t.Fatalf("calls: %d describes, %d deregisters; want one of each per group", desc, dereg)
			}
			want := map[string][]string{
				tg1: {"10.0.3.41:5044 draining", "10.0.3.41:9600 draining", "10.0.3.42:5044 healthy", "10.0.3.42:9600 healthy"},
				tg2: {"10.0.3.41:5044 draining", "10.0.9.9:5044 healthy"},
			}
			for arn, members := range want {
				if got := w.members(arn); !slices.Equal(got, members) {
					t.Errorf("%s: %v, want %v", arn, got, members)
				}
			}
			if len(res.Groups) != 2 || len(res.Groups[0].Deregistered) != 2 || len(res.Groups[1].Deregistered) != 1 {
				t.Fatalf("result groups %+v", res.Groups)
			}
			if res.Groups[0].Deregistered[0].Reason != "Spot interruption" {
				t.Errorf("reason %q", res.Groups[0].Deregistered[0].Reason)
			}
			if res.StateWritten != withStore {
				t.Errorf("StateWritten %v with store %v", res.StateWritten, withStore)
			}

			// The same event again changes nothing: with a store it is
			// not even described, without one it finds the targets
			// draining.
			w.world.ResetCalls()
			w.clock.Advance(10 * time.Second)
			res, err = d.Drain(ctx, task(4, start))
			if err != nil {
				t.Fatalf("repeated Drain: %v", err)
			}
			desc, dereg := w.calls()
			if dereg != 0 {
				t.Fatalf("a repeated event made %d deregister calls", dereg)
			}
			if withStore {
				if desc != 0 || !strings.Contains(res.Skipped, "not newer") {
					t.Fatalf("with a store: %d describes, skipped %q", desc, res.Skipped)
				}
				return
			}
			if desc != 2 || len(res.Groups[0].Skipped) != 2 || len(res.Groups[1].Skipped) != 1 {
				t.Fatalf("without a store: %d describes, result %+v", desc, res.Groups)
			}
		})
	}
}

func TestDrainerVersions(t *testing.T) {
	w := newDrainWorld(t)
	store := memstore.New()
	d := w.drainer(store)
	d.Now = func() time.Time { return w.clock.Advance(time.Second) } // also shows in Duration
	ctx := context.Background()
	steps := []struct {
		version       int64
		skipped       bool
		describes     int
		deregisters   int
		rememberedVer int64
	}{
		{version: 5, describes: 2, deregisters: 2, rememberedVer: 5},
		{version: 5, skipped: true, rememberedVer: 5},                // repeated
		{version: 4, skipped: true, rememberedVer: 5},                // out of order
		{version: 6, describes: 2, deregisters: 0, rememberedVer: 6}, // newer: looks, changes nothing
		{version: 0, describes: 2, deregisters: 0, rememberedVer: 6}, // unknown version: no check, not remembered
		{version: 2, skipped: true, rememberedVer: 6},
	}
	for i, s := range steps {
		w.world.ResetCalls()
		res, err := d.Drain(ctx, task(s.version, w.clock.Now()))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		desc, dereg := w.calls()
		if res.Duration <= 0 {
			t.Errorf("step %d: duration %s", i, res.Duration)
		}
		if (res.Skipped != "") != s.skipped || desc != s.describes || dereg != s.deregisters {
			t.Errorf("step %d (version %d): skipped %q, %d describes, %d deregisters; want skipped=%v, %d, %d",
				i, s.version, res.Skipped, desc, dereg, s.skipped, s.describes, s.deregisters)
		}
		st, _, err := store.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Drains[task(0, time.Time{}).ARN].Version; got != s.rememberedVer {
			t.Errorf("step %d: remembered version %d, want %d", i, got, s.rememberedVer)
		}
	}
}

func TestDrainerSoftErrors(t *testing.T) {
	w := newDrainWorld(t)
	store := memstore.New()
	d := w.drainer(store)
	ctx := context.Background()
	if err := w.world.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultNotFound, ARN: tg1, Action: elbv2fake.ActionDescribe, Times: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := d.Drain(ctx, task(4, start))
	if err == nil || !strings.Contains(err.Error(), tg1) || !strings.Contains(err.Error(), task(4, start).ARN) {
		t.Fatalf("error %v: want one naming the failed group and the task", err)
	}
	if got := res.Failed(); !slices.Equal(got, []string{tg1}) {
		t.Fatalf("failed groups %v", got)
	}
	if got := w.members(tg2); !slices.Equal(got, []string{"10.0.3.41:5044 draining", "10.0.9.9:5044 healthy"}) {
		t.Fatalf("the other group was not drained: %v", got)
	}
	if res.StateWritten {
		t.Fatal("a failed drain was remembered; a retry of the event would be skipped")
	}

	// The retry acts again: tg1 is drained, tg2 is already draining.
	w.world.ResetCalls()
	res, err = d.Drain(ctx, task(4, start))
	if err != nil || res.Skipped != "" {
		t.Fatalf("retry: %v (skipped %q)", err, res.Skipped)
	}
	if desc, dereg := w.calls(); desc != 2 || dereg != 1 {
		t.Fatalf("retry: %d describes, %d deregisters; want 2 and 1", desc, dereg)
	}
	if !res.StateWritten {
		t.Fatal("the successful retry was not remembered")
	}

	// A failing deregistration is a soft error too.
	w2 := newDrainWorld(t)
	if err := w2.world.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultInternalError, ARN: tg2, Action: elbv2fake.ActionDeregister}); err != nil {
		t.Fatal(err)
	}
	res, err = w2.drainer(nil).Drain(ctx, task(4, start))
	if err == nil || len(res.Groups[1].Deregistered) != 0 || len(res.Groups[1].Planned) != 1 || len(res.Groups[0].Deregistered) != 2 {
		t.Fatalf("error %v, groups %+v", err, res.Groups)
	}
}

// TestDrainerSkipsWithoutCalls covers the events a drainer does not act
// on because of when they were sent: too old is skipped (the task has
// stopped), while a time in the future or no time at all is refused as bad
// input, whatever MaxEventAge says.
func TestDrainerSkipsWithoutCalls(t *testing.T) {
	tests := []struct {
		name    string
		maxAge  time.Duration
		sent    time.Time
		dryRun  bool
		act     bool
		skipped string
		refused string // what the error says; the error wraps ErrEventRefused
	}{
		{name: "fresh event", sent: start.Add(-time.Minute), act: true},
		{name: "event older than the default age", sent: start.Add(-6 * time.Minute), skipped: "may belong to another task"},
		{name: "event older than a custom age", maxAge: time.Minute, sent: start.Add(-2 * time.Minute), skipped: "more than 1m0s"},
		{name: "age check off", maxAge: -1, sent: start.Add(-time.Hour), act: true},
		{name: "dry run", dryRun: true, sent: start},
		{name: "ahead by less than the clock skew", sent: start.Add(tgsync.MaxClockSkew), act: true},
		{name: "ahead by more than the clock skew", sent: start.Add(tgsync.MaxClockSkew + time.Second), refused: "1m1s in the future, more than the 1m0s"},
		{name: "dated 2099", sent: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), refused: "2099-01-01T00:00:00Z"},
		{name: "dated 2099, age check off", maxAge: -1, sent: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), refused: "in the future"},
		{name: "dated 2099, dry run", dryRun: true, sent: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), refused: "in the future"},
		{name: "no send time", refused: "has no time"},
		{name: "no send time, age check off", maxAge: -1, refused: "has no time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newDrainWorld(t)
			store := memstore.New()
			d := w.drainer(store)
			d.MaxEventAge, d.DryRun = tc.maxAge, tc.dryRun
			res, err := d.Drain(context.Background(), task(4, tc.sent))
			desc, dereg := w.calls()
			if tc.refused != "" {
				if !errors.Is(err, tgsync.ErrEventRefused) || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), task(4, tc.sent).ARN) {
					t.Fatalf("error %v, want ErrEventRefused naming the task and saying %q", err, tc.refused)
				}
				st, _, lerr := store.Load(context.Background())
				if desc+dereg != 0 || len(res.Groups) != 0 || res.StateWritten || lerr != nil || len(st.Drains) != 0 {
					t.Fatalf("a refused event made %d calls, result %+v, state %+v (%v)", desc+dereg, res, st, lerr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.skipped != "" && !strings.Contains(res.Skipped, tc.skipped) {
				t.Fatalf("skipped %q, want it to say %q", res.Skipped, tc.skipped)
			}
			if tc.act != (dereg == 2) || (tc.skipped != "") != (desc == 0) {
				t.Fatalf("%d describes, %d deregisters (act=%v)", desc, dereg, tc.act)
			}
			if tc.dryRun {
				if len(res.Groups[0].Planned) != 2 || len(res.Groups[0].Deregistered) != 0 || res.StateWritten {
					t.Fatalf("dry run: %+v", res)
				}
				if got := w.members(tg1); got[0] != "10.0.3.41:5044 healthy" {
					t.Fatalf("dry run changed the group: %v", got)
				}
			}
		})
	}
}

func TestDrainerRejectsUnusableInput(t *testing.T) {
	w := newDrainWorld(t)
	tests := []struct {
		name string
		d    *tgsync.Drainer
		task tgsync.Task
		want string
	}{
		{"no IP", w.drainer(nil), tgsync.Task{ARN: "arn:t"}, "no IP address"},
		{"invalid IP", w.drainer(nil), tgsync.Task{ARN: "arn:t", IPs: []netip.Addr{{}}}, "not a usable IP"},
		{"no ARN", w.drainer(nil), tgsync.Task{IPs: mock.Addrs("10.0.0.1")}, "no ARN"},
		{"no groups", &tgsync.Drainer{Groups: w.groups}, task(1, time.Time{}), "no target group configured"},
		{"no API", &tgsync.Drainer{TargetGroupARNs: []string{tg1}}, task(1, time.Time{}), "no target group API"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.d.Drain(context.Background(), tc.task)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if desc, dereg := w.calls(); desc+dereg != 0 {
				t.Fatalf("%d calls for unusable input", desc+dereg)
			}
		})
	}
}

// fullDrains is a state holding DrainRecordLimit drain records, of tasks
// prefix/0000, prefix/0001, ..., the ith made at at(i).
func fullDrains(prefix string, at func(i int) time.Time) *tgsync.State {
	st := tgsync.NewState()
	st.Drains = map[string]tgsync.DrainRecord{}
	for i := range tgsync.DrainRecordLimit {
		st.Drains[fmt.Sprintf("%s/%04d", prefix, i)] = tgsync.DrainRecord{Version: 1, At: at(i)}
	}
	return st
}

func TestDrainerStateConflictAndBounds(t *testing.T) {
	ctx := context.Background()
	w := newDrainWorld(t)
	mem := memstore.New()
	// The first 1,440 minutes are within a day.
	old := fullDrains("arn:old", func(i int) time.Time { return start.Add(-time.Duration(i) * time.Minute) })
	old.Drains["arn:expired"] = tgsync.DrainRecord{Version: 1, At: start.Add(-tgsync.DrainRetention - time.Second)}
	if _, err := mem.Save(ctx, old, ""); err != nil {
		t.Fatal(err)
	}
	// Another writer saves just before the drainer's first save, as a
	// second invocation for another task would.
	other := func() {
		st, rev, err := mem.Load(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		st.Drains["arn:other"] = tgsync.DrainRecord{Version: 9, At: start}
		if _, err := mem.Save(ctx, st, rev); err != nil {
			t.Error(err)
		}
	}
	store := mock.StoreOf(mem)
	store.SaveFn = func(ctx context.Context, st *tgsync.State, rev string) (string, error) {
		if other != nil {
			f := other
			other = nil
			f()
		}
		return mem.Save(ctx, st, rev)
	}
	res, err := w.drainer(store).Drain(ctx, task(4, start))
	if err != nil || !res.StateWritten {
		t.Fatalf("Drain: %v, state written %v", err, res.StateWritten)
	}
	st, _, err := mem.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Drains[task(4, start).ARN].Version != 4 || st.Drains["arn:other"].Version != 9 {
		t.Fatalf("after the conflict: ours %+v, the other writer's %+v", st.Drains[task(4, start).ARN], st.Drains["arn:other"])
	}
	if _, ok := st.Drains["arn:expired"]; ok {
		t.Error("a record older than DrainRetention was kept")
	}
	if len(st.Drains) != tgsync.DrainRecordLimit {
		t.Errorf("%d records kept, want the limit %d", len(st.Drains), tgsync.DrainRecordLimit)
	}
	// The oldest records went first.
	for _, k := range []string{"arn:old/0999", "arn:old/0998"} {
		if _, ok := st.Drains[k]; ok {
			t.Errorf("%s, among the oldest, was kept", k)
		}
	}
	if _, ok := st.Drains["arn:old/0000"]; !ok {
		t.Error("the newest old record was dropped")
	}
	clone := st.Clone()
	clone.Drains["arn:old/0000"] = tgsync.DrainRecord{Version: 99}
	if st.Drains["arn:old/0000"].Version == 99 {
		t.Error("Clone shares the drain records")
	}
}

func TestDrainerDrainsWhenStateFails(t *testing.T) {
	w := newDrainWorld(t)
	// The store fails every load and save, like an S3 outage.
	failing := &mock.Store{
		LoadFn: func(context.Context) (*tgsync.State, string, error) {
			return nil, "", errors.New("s3: service unavailable")
		},
		SaveFn: func(context.Context, *tgsync.State, string) (string, error) {
			return "", errors.New("s3: service unavailable")
		},
	}
	res, err := w.drainer(failing).Drain(context.Background(), task(4, start))
	if err == nil || !strings.Contains(err.Error(), "load state") {
		t.Fatalf("error %v: want the state failure reported", err)
	}
	if _, dereg := w.calls(); dereg != 2 || len(res.Failed()) != 0 {
		t.Fatalf("%d deregisters, failed %v: the drain must not wait for state", dereg, res.Failed())
	}
}

func TestDrainerKeepsItsOwnRecordAtTheLimit(t *testing.T) {
	// Records stamped by a writer whose clock runs ahead are newer than
	// ours; pruning to the limit must still keep the record just made.
	ctx := context.Background()
	w := newDrainWorld(t)
	mem := memstore.New()
	st := fullDrains("arn:ahead", func(int) time.Time { return start.Add(time.Hour) })
	if _, err := mem.Save(ctx, st, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.drainer(mem).Drain(ctx, task(4, start)); err != nil {
		t.Fatal(err)
	}
	got, _, err := mem.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Drains[task(4, start).ARN].Version != 4 || len(got.Drains) != tgsync.DrainRecordLimit {
		t.Fatalf("own record %+v, %d records", got.Drains[task(4, start).ARN], len(got.Drains))
	}
}
