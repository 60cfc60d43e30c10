package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/shard"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// shardedWorld is a function of at least six bindings in shards, at
// least one in each, built as a cold start builds it, against moto and a
// DNS server on loopback.
type shardedWorld struct {
	w      *lambdaWorld
	f      *lambdaFunc
	arns   map[string]string // by binding
	shard  map[string]int    // by binding
	prefix string
}

// shardedLimit is each of the configured limits of a shardedWorld.
const shardedLimit = 300

func newShardedWorld(t *testing.T, shards int) *shardedWorld {
	t.Helper()
	w := newLambdaWorld(t)
	sdkEnv(t, w.Moto.URL)
	sw := &shardedWorld{w: w, arns: map[string]string{}, shard: map[string]int{}, prefix: testenv.UniqueName("shards") + "/"}
	var yaml strings.Builder
	yaml.WriteString("bindings:\n")
	covered := map[int]bool{}
	for i := 0; i < 6 || len(covered) < shards; i++ {
		name := fmt.Sprintf("b%d", i)
		sw.arns[name] = w.targetGroup(t, 443)
		sw.shard[name] = shard.Of(sw.arns[name], shards)
		covered[sw.shard[name]] = true
		fmt.Fprintf(&yaml, "  - name: %s\n    source: {dns: %s}\n    targetGroupArn: %s\n    ports: [443]\n",
			name, w.name(name, fmt.Sprintf("10.50.%d.1", i)), sw.arns[name])
	}
	fmt.Fprintf(&yaml, "state: {s3: s3://%s/%s}\n", w.Bucket, sw.prefix)
	// Limits far above the defaults, so that the runs do not wait on the
	// limiter: a third of the default describe rate is under 2/s.
	fmt.Fprintf(&yaml, "limits: {describePerSecond: %d, describeBurst: %d, changesPerSecond: %d, changesBurst: %d}\n",
		shardedLimit, shardedLimit, shardedLimit, shardedLimit)
	sw.f, _ = inProcFunc(t, map[string]string{"TGSYNC_CONFIG_YAML": yaml.String(), "TGSYNC_DNS_SERVERS": w.DNS.Addr(),
		envShards: fmt.Sprint(shards)})
	return sw
}

func (sw *shardedWorld) invoke(t *testing.T, payload string) (obs.RunSummary, *messages.InvokeResponse_Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := sw.f.Invoke(ctx, []byte(payload))
	if err != nil {
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) {
			t.Fatalf("invoke %s: %v", payload, err)
		}
		return obs.RunSummary{}, &ie
	}
	var sum obs.RunSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	return sum, nil
}

func (sw *shardedWorld) objects(t *testing.T) []string {
	t.Helper()
	out, err := testenv.S3(sw.w.Moto.AWSConfig()).ListObjectsV2(testenv.Context(t, 10*time.Second),
		&s3.ListObjectsV2Input{Bucket: aws.String(sw.w.Bucket), Prefix: aws.String(sw.prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), sw.prefix))
	}
	slices.Sort(keys)
	return keys
}

// TestShardedReconcile: each scheduled shard reconciles the bindings of
// its target groups, and only those, with a state object of its own; the
// status page sees every shard's state; and the process takes its share
// of the account's API budget.
func TestShardedReconcile(t *testing.T) {
	const n = 3
	sw := newShardedWorld(t, n)
	var wantKeys []string
	for k := 1; k <= n; k++ {
		sum, ie := sw.invoke(t, fmt.Sprintf(`{"action":"reconcile","shard":"%d/%d"}`, k, n))
		if ie != nil {
			t.Fatalf("shard %d: %s: %s", k, ie.Type, ie.Message)
		}
		var got, want []string
		for _, b := range sum.Bindings {
			got = append(got, b.Binding)
		}
		for name, s := range sw.shard {
			if s == k {
				want = append(want, name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("shard %d/%d ran %v, want %v", k, n, got, want)
		}
		wantKeys = append(wantKeys, shard.ObjectName("tgsync-state.json", k))
	}
	for name, arn := range sw.arns {
		if got := sw.w.members(t, arn); len(got) != 1 {
			t.Errorf("%s (shard %d): members %v after every shard ran", name, sw.shard[name], got)
		}
	}
	slices.Sort(wantKeys)
	if got := sw.objects(t); !slices.Equal(got, wantKeys) {
		t.Errorf("state objects %v, want %v", got, wantKeys)
	}
	st, _, err := sw.f.reconciler.Store.Load(testenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Bindings) != len(sw.arns) || len(st.Observations) != len(sw.arns) {
		t.Errorf("the status sees %d bindings and %d groups, want %d of each", len(st.Bindings), len(st.Observations), len(sw.arns))
	}
	budget := sw.f.reconciler.Groups.(*elbv2.Accounts).Budget("123456789012", testenv.Region).Current()
	want := elbv2.Limits{DescribeRate: shardedLimit / n, DescribeBurst: shardedLimit / n, ChangeRate: shardedLimit / n, ChangeBurst: shardedLimit / n}
	if budget != want {
		t.Errorf("budget %+v in a process of %d shards of limits %d, want %+v", budget, n, shardedLimit, want)
	}
}

// TestShardedEvents: what a sharded function takes and refuses. An event
// without a shard runs every binding, each on its shard's state.
func TestShardedEvents(t *testing.T) {
	const n = 3
	sw := newShardedWorld(t, n)
	var other string // a binding outside shard 1
	for name, k := range sw.shard {
		if k != 1 {
			other = name
		}
	}
	all := len(sw.arns)
	tests := []struct {
		name, payload string
		wantErr       string
		wantBindings  int
	}{
		{"a shard of another deployment", `{"action":"reconcile","shard":"1/4"}`, "this function runs 3 shard(s) (TGSYNC_SHARDS=3)", 0},
		{"not K/N", `{"action":"reconcile","shard":"two"}`, "want K/N", 0},
		{"shard 0", `{"action":"plan","shard":"0/3"}`, "the shard must be 1 to 3", 0},
		{"a binding of another shard", fmt.Sprintf(`{"action":"plan","shard":"1/3","bindings":[%q]}`, other),
			fmt.Sprintf("binding %q is in shard %d/3, not 1/3", other, sw.shard[other]), 0},
		{"a shard key in another case", `{"action":"plan","Shard":"1/3"}`, `key "Shard" must be written "shard"`, 0},
		{"a plan of every shard", `{"action":"plan"}`, "", all},
		{"a plan of one binding, wherever it is", fmt.Sprintf(`{"action":"plan","bindings":[%q]}`, other), "", 1},
		{"a scheduled event runs every binding", `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`, "", all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, ie := sw.invoke(t, tc.payload)
			if tc.wantErr != "" {
				if ie == nil || ie.Type != errBadEvent || !strings.Contains(ie.Message, tc.wantErr) {
					t.Fatalf("got %+v, %+v; want %s with %q", sum, ie, errBadEvent, tc.wantErr)
				}
				return
			}
			if ie != nil {
				t.Fatalf("%s: %s", ie.Type, ie.Message)
			}
			if len(sum.Bindings) != tc.wantBindings {
				t.Errorf("%d bindings in the summary, want %d", len(sum.Bindings), tc.wantBindings)
			}
		})
	}
	// The scheduled event reconciled every binding, each saved in its
	// shard's object.
	keys := sw.objects(t)
	for name, k := range sw.shard {
		if !slices.Contains(keys, shard.ObjectName("tgsync-state.json", k)) {
			t.Errorf("no state object for %s's shard %d: %v", name, k, keys)
		}
	}
}

func TestMergeStates(t *testing.T) {
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s1, s2 := tgsync.NewState(), tgsync.NewState()
	s1.Binding("stays").LastError = "one"
	s1.Binding("moved").RemovedAt = at // left shard 1 when a shard was added
	s2.Binding("moved").LastError = "runs in shard 2"
	s2.Observations = map[string]*tgsync.Observation{"arn-2": {At: at}}
	s1.Drains = map[string]tgsync.DrainRecord{"task": {}}
	s1.DrainLog = []tgsync.DrainEntry{{At: at, Task: "task", TargetGroupARN: "arn-1"}}
	for _, order := range [][]*tgsync.State{{s1, s2}, {s2, s1}} {
		m := mergeStates(order...)
		if len(m.Bindings) != 2 || m.Bindings["moved"].LastError != "runs in shard 2" || m.Bindings["stays"].LastError != "one" {
			t.Errorf("merged bindings %+v", m.Bindings)
		}
		if m.Observations["arn-2"] == nil || len(m.Drains) != 1 || len(m.DrainLog) != 1 {
			t.Errorf("merged observations %v, drains %v and drain log %v", m.Observations, m.Drains, m.DrainLog)
		}
	}
}

func TestShardsVariable(t *testing.T) {
	tests := []struct {
		value   string
		want    int
		wantErr bool
	}{{"", 1, false}, {"1", 1, false}, {" 4 ", 4, false}, {"64", 64, false}, {"0", 0, true}, {"65", 0, true}, {"four", 0, true}}
	for _, tc := range tests {
		a := &app{cfg: &config.Config{State: config.State{Memory: true}}, reconciler: &tgsync.Reconciler{}, store: memstore.New()}
		s, err := newShardSet(a, func(k string) string { return map[string]string{envShards: tc.value}[k] }, "")
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), envShards) {
				t.Errorf("%s=%q: %v, want an error naming the variable", envShards, tc.value, err)
			}
			continue
		}
		if err != nil || s.n != tc.want {
			t.Errorf("%s=%q: %v, %v; want %d shards", envShards, tc.value, s, err, tc.want)
		}
	}
}

// TestShardedStore: the shards' stores as one. A save puts each binding,
// and what is kept of its group, in its shard's state and writes only the
// shards whose part changed, so that a run of every binding conflicts
// only with writers of what it changed.
func TestShardedStore(t *testing.T) {
	ctx := context.Background()
	const n = 3
	var bindings []tgsync.Binding
	for i := range 9 {
		bindings = append(bindings, tgsync.Binding{Name: fmt.Sprintf("b%d", i),
			TargetGroupARN: fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g%d/%016x", i, i)})
	}
	stores := []tgsync.Store{memstore.New(), memstore.New(), memstore.New()}
	s := newShardedStore(stores, bindings)
	st, rev, err := s.Load(ctx)
	if err != nil || rev == "" {
		t.Fatalf("load of nothing: %q, %v", rev, err)
	}
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, b := range bindings {
		st.Binding(b.Name).LastError = "x"
		if st.Observations == nil {
			st.Observations = map[string]*tgsync.Observation{}
		}
		st.Observations[b.TargetGroupARN] = &tgsync.Observation{At: at}
	}
	st.Binding("gone").RemovedAt = at
	st.Drains = map[string]tgsync.DrainRecord{"task": {}}
	st.DrainLog = []tgsync.DrainEntry{{At: at, Task: "task", TargetGroupARN: bindings[0].TargetGroupARN, Deregistered: []string{"10.0.0.1:443"}}}
	if _, err = s.Save(ctx, st, rev); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= n; k++ {
		part := stores[k-1].(*memstore.Store).Snapshot()
		for name, b := range part.Bindings {
			want := 1
			if i := slices.IndexFunc(bindings, func(x tgsync.Binding) bool { return x.Name == name }); i >= 0 {
				want = shard.Of(bindings[i].TargetGroupARN, n)
			}
			if want != k || b.LastError == "" && name != "gone" {
				t.Errorf("shard %d holds %s, which belongs to shard %d", k, name, want)
			}
		}
		for arn := range part.Observations {
			if shard.Of(arn, n) != k {
				t.Errorf("shard %d holds the observation of %s", k, arn)
			}
		}
		if (len(part.Drains) > 0) != (k == 1) || (len(part.DrainLog) > 0) != (k == 1) {
			t.Errorf("shard %d holds drains %v and drain log %v", k, part.Drains, part.DrainLog)
		}
	}
	back, rev, err := s.Load(ctx)
	if err != nil || !back.Equal(st) {
		t.Fatalf("load after save: %v; equal %v", err, back.Equal(st))
	}

	// A change in one shard writes that shard alone.
	revs := func() []string {
		var out []string
		for _, m := range stores {
			out = append(out, m.(*memstore.Store).Revision())
		}
		return out
	}
	before := revs()
	b0 := bindings[0]
	back.Binding(b0.Name).LastError = "changed"
	if _, err := s.Save(ctx, back, rev); err != nil {
		t.Fatal(err)
	}
	after := revs()
	for k := 1; k <= n; k++ {
		if changed := before[k-1] != after[k-1]; changed != (k == shard.Of(b0.TargetGroupARN, n)) {
			t.Errorf("shard %d written: %v; only the shard of %s changed", k, changed, b0.Name)
		}
	}

	// Another writer of one shard: a save that changes that shard
	// conflicts; one that leaves it alone does not.
	k0 := shard.Of(b0.TargetGroupARN, n)
	var elsewhere string
	for _, b := range bindings {
		if shard.Of(b.TargetGroupARN, n) != k0 {
			elsewhere = b.Name
		}
	}
	for _, tc := range []struct {
		name, change string
		conflict     bool
	}{
		{"a save that leaves the other writer's shard alone", elsewhere, false},
		{"a save that changes the other writer's shard", b0.Name, true},
	} {
		mine, rev, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		theirs, trev, _ := stores[k0-1].Load(ctx)
		theirs.Binding(b0.Name).LastError = "another writer, during " + tc.name
		if _, err := stores[k0-1].Save(ctx, theirs, trev); err != nil {
			t.Fatal(err)
		}
		mine.Binding(tc.change).LastError = tc.name
		if _, err := s.Save(ctx, mine, rev); errors.Is(err, tgsync.ErrConflict) != tc.conflict {
			t.Errorf("%s: %v, want a conflict: %v", tc.name, err, tc.conflict)
		}
	}
	if _, err := s.Save(ctx, st, "not a revision"); err == nil || !strings.Contains(err.Error(), "not one this store gave") {
		t.Errorf("a foreign revision: %v", err)
	}
}
