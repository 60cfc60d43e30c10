package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// The task of the shared samples and its IP.
const (
	drainTaskIP   = "10.20.3.41"
	drainPortA    = 5044
	drainPortB    = 9600
	drainSample   = "../../ecsevent/testdata/fargate-spot-interruption.json"
	drainSamples  = "../../ecsevent/testdata/"
	drainNotFound = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef"
)

// drainWorld is two ip target groups in the shared moto server. moto keeps
// one target per IP in a group and deregisters by IP whatever the port, so
// the task's IP is on port A in the first group and on port B in the
// second; two ports in one group are covered against elbv2fake in the root
// package.
type drainWorld struct {
	cfg  aws.Config
	elb  *elasticloadbalancingv2.Client
	arns [2]string
}

func newDrainWorld(t testing.TB) *drainWorld {
	t.Helper()
	w := &drainWorld{cfg: testenv.StartMoto(t).AWSConfig()}
	vpc := testenv.NewVPC(t, w.cfg, "10.20.0.0/16")
	w.elb = vpc.ELB
	for i, port := range []int32{drainPortA, drainPortB} {
		w.arns[i] = vpc.IPTargetGroup(t, types.ProtocolEnumTcp, port)
	}
	w.fill(t)
	return w
}

// fill registers the task's IP and unrelated IPs in both groups.
func (w *drainWorld) fill(t testing.TB) {
	t.Helper()
	testenv.Register(t, w.elb, w.arns[0], drainPortA, drainTaskIP, "10.20.3.42", "10.20.4.1")
	testenv.Register(t, w.elb, w.arns[1], drainPortB, drainTaskIP, "10.20.3.43")
}

// members returns both groups as sorted "ip:port" lists.
func (w *drainWorld) members(t testing.TB) [2][]string {
	t.Helper()
	return [2][]string{testenv.Members(t, w.elb, w.arns[0]), testenv.Members(t, w.elb, w.arns[1])}
}

// drainCalls counts API calls by operation and notes when the first
// DeregisterTargets attempt was sent.
type drainCalls struct {
	elbv2.Calls
	mu         sync.Mutex
	deregister time.Time
}

func (c *drainCalls) record(service, op string) {
	c.Record(service, op)
	c.mu.Lock()
	defer c.mu.Unlock()
	if op == "DeregisterTargets" && c.deregister.IsZero() {
		c.deregister = time.Now()
	}
}

// reset returns the counts so far and starts again.
func (c *drainCalls) reset() map[string]int {
	c.mu.Lock()
	c.deregister = time.Time{}
	c.mu.Unlock()
	return c.Take()
}

// adapter returns a real elbv2 adapter on moto whose calls are counted.
func (w *drainWorld) adapter(calls *drainCalls, opts elbv2.Options) *elbv2.Adapter {
	cfg := w.cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, elbv2.CountCalls(calls.record))
	return elbv2.NewFromConfig(cfg, opts)
}

// drainEvent is the interruption sample with its version, send time and
// JSON changed.
func drainEvent(t testing.TB, file string, version int64, sent time.Time) []byte {
	t.Helper()
	return changeEvent(t, file, func(ev, detail map[string]any) {
		if !sent.IsZero() {
			ev["time"] = sent.UTC().Format(time.RFC3339)
		}
		if version > 0 {
			detail["version"] = version
		}
	})
}

// changeEvent is a sample with its decoded JSON changed by f.
func changeEvent(t testing.TB, file string, f func(ev, detail map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.EditJSON(t, data, func(ev map[string]any) { f(ev, ev["detail"].(map[string]any)) })
}

func TestDrainEndToEndOnMoto(t *testing.T) {
	t.Parallel()
	for _, withStore := range []bool{false, true} {
		t.Run(fmt.Sprintf("store=%v", withStore), func(t *testing.T) {
			w := newDrainWorld(t)
			calls := &drainCalls{}
			h, err := newDrainHandler(&config.SpotDrain{TargetGroupARNs: w.arns[:], StopCodes: []string{"SpotInterruption", "TerminationNotice"}}, w.adapter(calls, elbv2.Options{}), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if withStore {
				h.drainer.Store = memstore.New()
			}
			ctx := testenv.Context(t, 30*time.Second)
			ev := drainEvent(t, drainSample, 4, time.Now())
			out, err := h.handleECSEvent(ctx, ev)
			if err != nil || out.Result != drainDrained {
				t.Fatalf("handle: %v, %+v", err, out)
			}
			want := []string{w.arns[0] + " 10.20.3.41:5044", w.arns[1] + " 10.20.3.41:9600"}
			if !slices.Equal(out.Deregistered, want) {
				t.Fatalf("deregistered %v, want %v", out.Deregistered, want)
			}
			if got := w.members(t); !slices.Equal(got[0], []string{"10.20.3.42:5044", "10.20.4.1:5044"}) || !slices.Equal(got[1], []string{"10.20.3.43:9600"}) {
				t.Fatalf("groups after the drain: %v", got)
			}
			n := calls.reset()
			if n["DescribeTargetHealth"] != 2 || n["DeregisterTargets"] != 2 {
				t.Fatalf("calls %v: want one describe and one deregister per group", n)
			}

			// The same event again: no change call; with a store not even
			// a describe.
			out, err = h.handleECSEvent(ctx, ev)
			if err != nil {
				t.Fatalf("repeat: %v", err)
			}
			n = calls.reset()
			if n["DeregisterTargets"] != 0 || n["RegisterTargets"] != 0 {
				t.Fatalf("a repeated event made change calls: %v", n)
			}
			wantDescribes, wantResult := 2, drainDrained
			if withStore {
				wantDescribes, wantResult = 0, drainSkipped
			}
			if n["DescribeTargetHealth"] != wantDescribes || out.Result != wantResult || len(out.Deregistered) != 0 {
				t.Fatalf("repeat: calls %v, outcome %+v", n, out)
			}
		})
	}
}

// drainCLI runs the CLI in process against moto. The SDK reads its
// endpoint and credentials from the environment, as in production.
func drainCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &CLI{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(stdin), Getenv: func(string) string { return "" }}
	code = c.Main(context.Background(), args)
	return code, out.String(), errOut.String()
}

// motoSetenv points the SDK of this process at moto, with moto's
// credentials and a home of its own, away from this machine's AWS
// configuration, and returns moto. Tests that use it cannot run in
// parallel.
func motoSetenv(t *testing.T) *testenv.Moto {
	t.Helper()
	m := testenv.StartMoto(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return m
}

func drainConfig(t *testing.T, dir string, arns ...string) string {
	t.Helper()
	yaml := fmt.Sprintf("state:\n  file: %q\nspotDrain:\n  targetGroupArns: [%s]\n  group: service:logstash\n", filepath.Join(dir, "state.json"), strings.Join(arns, ", "))
	path := filepath.Join(dir, "tgsync.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDrainCLIExitCodes(t *testing.T) {
	motoSetenv(t)
	w := newDrainWorld(t)
	dir := t.TempDir()
	cfg := drainConfig(t, dir, w.arns[:]...)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fresh := write("fresh.json", drainEvent(t, drainSample, 4, time.Now()))
	future := write("future.json", drainEvent(t, drainSample, 4, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)))
	timeless := write("timeless.json", changeEvent(t, drainSample, func(ev, _ map[string]any) { delete(ev, "time") }))
	noSpot := filepath.Join(dir, "nospot.yaml")
	if err := os.WriteFile(noSpot, []byte("state:\n  memory: true\nbindings:\n  - name: b\n    source: {dns: a.example.internal}\n    targetGroupArn: "+w.arns[0]+"\n    ports: [443]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	untouched := [2][]string{{"10.20.3.41:5044", "10.20.3.42:5044", "10.20.4.1:5044"}, {"10.20.3.41:9600", "10.20.3.43:9600"}}
	drained := [2][]string{{"10.20.3.42:5044", "10.20.4.1:5044"}, {"10.20.3.43:9600"}}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr []string
		after  [2][]string
		// refill puts the targets back first, which the failing case
		// before drained from the first group.
		refill bool
	}{
		{name: "no --event", args: []string{"--config", cfg, "drain"}, code: exitUsage, stderr: []string{"--event is required"}, after: untouched},
		{name: "not JSON", args: []string{"--config", cfg, "drain", "--event", write("bad.json", []byte("hello"))}, code: exitUsage,
			stdout: `"reason": "not JSON: invalid character 'h'`, stderr: []string{"level=ERROR", `not JSON`, `hello`}, after: untouched},
		{name: "not ECS, on stdin", args: []string{"--config", cfg, "drain", "--event", "-"}, stdin: `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`,
			code: exitUsage, stdout: `not an ECS event: source \"aws.events\", detail-type \"Scheduled Event\"`, stderr: []string{"level=ERROR", "not an ECS event"}, after: untouched},
		{name: "too large", args: []string{"--config", cfg, "drain", "--event", "-"}, stdin: strings.Repeat(" ", maxEventSize+1), code: exitUsage, stderr: []string{"larger than"}, after: untouched},
		{name: "no spotDrain section", args: []string{"--config", noSpot, "drain", "--event", fresh}, code: exitUsage, stderr: []string{"no spotDrain section"}, after: untouched},
		{name: "ignored task event", args: []string{"--config", cfg, "drain", "--event", drainSamples + "task-running.json"}, code: exitOK,
			stdout: `"result": "ignored"`, stderr: []string{"has no stopCode"}, after: untouched},
		{name: "a notice older than --max-age", args: []string{"--config", cfg, "drain", "--event", drainSample}, code: exitOK,
			stdout: `"result": "skipped"`, stderr: []string{"may belong to another task"}, after: untouched},
		// Bad input, refused whatever --max-age says.
		{name: "a notice dated in the future", args: []string{"--config", cfg, "drain", "--event", future}, code: exitUsage,
			stdout: `"result": "failed"`, stderr: []string{"level=ERROR", "2099-01-01T00:00:00Z", "in the future"}, after: untouched},
		{name: "a notice dated in the future, --max-age 0", args: []string{"--config", cfg, "drain", "--max-age", "0", "--event", future}, code: exitUsage,
			stdout: `in the future`, after: untouched},
		{name: "a notice without a time", args: []string{"--config", cfg, "drain", "--event", timeless}, code: exitUsage,
			stdout: `has no time`, stderr: []string{"level=ERROR", "has no time"}, after: untouched},
		{name: "a notice without a time, --max-age 0", args: []string{"--config", cfg, "drain", "--max-age", "0", "--event", timeless}, code: exitUsage,
			stdout: `has no time`, after: untouched},
		{name: "a notice naming 2,000 addresses", args: []string{"--config", cfg, "drain", "--event", write("many.json", manyAddresses(t, 2000))}, code: exitUsage,
			stdout: `2001 IPv4 addresses`, stderr: []string{"level=ERROR", "bad event"}, after: untouched},
		{name: "AWS failure", args: []string{"--config", drainConfig(t, t.TempDir(), drainNotFound, w.arns[0]), "drain", "--event", fresh}, code: exitFailed,
			stdout: `"failedTargetGroups"`, stderr: []string{drainNotFound, "not found"}, after: [2][]string{drained[0], untouched[1]}},
		{name: "dry run", refill: true, args: []string{"--config", cfg, "drain", "--dry-run", "--event", fresh}, code: exitOK, stdout: `"result": "dry-run"`,
			stderr: []string{"would deregister", "10.20.3.41:9600"}, after: untouched},
		{name: "dry run, text", args: []string{"--config", cfg, "drain", "--dry-run", "--event", fresh, "-o", "text"}, code: exitOK,
			stdout: " before it stops\n  - would deregister " + w.arns[0] + " 10.20.3.41:5044\n",
			after:  untouched},
		{name: "interruption", args: []string{"--config", cfg, "drain", "--event", fresh}, code: exitOK, stdout: `"result": "drained"`,
			stderr: []string{"msg=deregister", "task=arn:aws:ecs:ap-northeast-1:111122223333:task/ingest/b8a1c2d3e4f5061728394a5b6c7d8e9f", "target=10.20.3.41:5044", "reason=\"task "}, after: drained},
		{name: "the same event again", args: []string{"--config", cfg, "drain", "--event", fresh}, code: exitOK, stdout: `"result": "skipped"`,
			stderr: []string{"not newer than version 4"}, after: drained},
		{name: "an older notice of the same task", args: []string{"--config", cfg, "drain", "--event", write("v3.json", drainEvent(t, drainSample, 3, time.Now()))},
			code: exitOK, stdout: `"result": "skipped"`, after: drained},
		{name: "--max-age 0 replays a saved notice", refill: true, args: []string{"--config", cfg, "drain", "--max-age", "0", "--event", write("saved-v5.json", drainEvent(t, drainSample, 5, time.Time{}))},
			code: exitOK, stdout: `"result": "drained"`, after: drained},
	}
	for _, tc := range tests {
		if tc.refill {
			w.fill(t)
		}
		code, stdout, stderr := drainCLI(t, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.stdout) {
			t.Errorf("%s: exit %d, want %d; stdout:\n%s\nstderr:\n%s", tc.name, code, tc.code, stdout, stderr)
			continue
		}
		for _, s := range tc.stderr {
			if !strings.Contains(stderr, s) {
				t.Errorf("%s: stderr does not say %q:\n%s", tc.name, s, stderr)
			}
		}
		if got := w.members(t); !slices.Equal(got[0], tc.after[0]) || !slices.Equal(got[1], tc.after[1]) {
			t.Errorf("%s: groups %v, want %v", tc.name, got, tc.after)
		}
	}
}

// manyAddresses is a fresh interruption whose task names n more IPv4
// addresses in its containers than the ENI's, some of them in the target
// groups: more than ECS gives a task.
func manyAddresses(t testing.TB, n int) []byte {
	t.Helper()
	return changeEvent(t, drainSample, func(ev, detail map[string]any) {
		ev["time"] = time.Now().UTC().Format(time.RFC3339)
		var cs []any
		for i := range n {
			ip := fmt.Sprintf("10.20.%d.%d", 3+i/200, 42+i%200)
			cs = append(cs, map[string]any{"name": fmt.Sprintf("c%d", i), "networkInterfaces": []any{map[string]any{"privateIpv4Address": ip}}})
		}
		detail["containers"] = cs
	})
}

// TestLambdaRefusesBadECSEvents hands the Lambda function ECS events that
// are bad input and checks that each is a BadEvent error saying why, makes
// no ELB call and leaves the target groups as they were.
func TestLambdaRefusesBadECSEvents(t *testing.T) {
	w := newDrainWorld(t)
	calls := &drainCalls{}
	h, err := newDrainHandler(&config.SpotDrain{TargetGroupARNs: w.arns[:], StopCodes: []string{"SpotInterruption"}}, w.adapter(calls, elbv2.Options{}), memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &lambdaFunc{reconciler: &tgsync.Reconciler{}, log: obs.NewLogger(&syncBuffer{}, obs.FormatJSON, 0), ecs: ecsHandler(h)}
	untouched := w.members(t)
	tests := []struct {
		name  string
		event []byte
		want  []string
	}{
		{"dated 2099", drainEvent(t, drainSample, 4, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)), []string{"2099-01-01T00:00:00Z", "in the future"}},
		{"dated beyond the clock skew", drainEvent(t, drainSample, 4, time.Now().Add(tgsync.MaxClockSkew+time.Minute)), []string{"in the future", "clock skew"}},
		{"without a time", changeEvent(t, drainSample, func(ev, _ map[string]any) { delete(ev, "time") }), []string{"has no time"}},
		{"2,000 addresses for one task", manyAddresses(t, 2000), []string{"2001 IPv4 addresses", "awsvpc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.Invoke(testenv.Context(t, 10*time.Second), tc.event)
			var ie messages.InvokeResponse_Error
			if !errors.As(err, &ie) || ie.Type != errBadEvent {
				t.Fatalf("Invoke = %s, %v; want a %s error", out, err, errBadEvent)
			}
			for _, s := range tc.want {
				if !strings.Contains(ie.Message, s) {
					t.Errorf("message does not say %q: %s", s, ie.Message)
				}
			}
			if n := calls.reset(); len(n) != 0 {
				t.Errorf("a refused event made ELB calls: %v", n)
			}
			if got := w.members(t); !slices.Equal(got[0], untouched[0]) || !slices.Equal(got[1], untouched[1]) {
				t.Errorf("groups %v, want %v", got, untouched)
			}
		})
	}
}

// BenchmarkDrainEvent measures, against moto, the time from the start of
// handling an interruption event to the first DeregisterTargets being sent,
// and the API calls per event and target group. warm reuses one adapter, as
// a Lambda does between invocations; cold builds a new one per event and
// pays the DescribeTargetGroups lookup of each group and a new connection.
// The client-side limiters run at a rate that refills them between events,
// as the time between real interruptions does: back to back at the default
// 2 changes/s they would measure the limiter, not the handling.
func BenchmarkDrainEvent(b *testing.B) {
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			w := newDrainWorld(b)
			calls := &drainCalls{}
			opts := elbv2.Options{DescribeRate: 1000, ChangeRate: 1000}
			groups := w.adapter(calls, opts)
			store := memstore.New()
			sd := &config.SpotDrain{TargetGroupARNs: w.arns[:]}
			ctx := context.Background()
			var lat []time.Duration
			counts := map[string]int{}
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				w.fill(b)
				if mode == "cold" {
					groups = w.adapter(calls, opts)
				}
				h, err := newDrainHandler(sd, groups, store, nil)
				if err != nil {
					b.Fatal(err)
				}
				ev := drainEvent(b, drainSample, int64(i+1), time.Now())
				calls.reset()
				b.StartTimer()
				start := time.Now()
				out, err := h.handleECSEvent(ctx, ev)
				b.StopTimer()
				if err != nil || len(out.Deregistered) != 2 {
					b.Fatalf("event %d: %v %+v", i, err, out)
				}
				calls.mu.Lock()
				lat = append(lat, calls.deregister.Sub(start))
				calls.mu.Unlock()
				for op, n := range calls.reset() {
					counts[op] += n
				}
				b.StartTimer()
			}
			reportLatencies(b, lat, "deregister")
			perGroup := float64(len(lat) * len(w.arns))
			b.ReportMetric(float64(counts["DescribeTargetHealth"])/perGroup, "describes/group")
			b.ReportMetric(float64(counts["DeregisterTargets"])/perGroup, "deregisters/group")
			b.ReportMetric(float64(counts["DescribeTargetGroups"])/perGroup, "metadata/group")
		})
	}
}

// reportLatencies reports the mean, median and maximum of lat (not empty)
// in milliseconds, as <stat>-ms-to-<what>, and returns the median.
func reportLatencies(b *testing.B, lat []time.Duration, what string) time.Duration {
	b.Helper()
	slices.Sort(lat)
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(total)/float64(len(lat)), "mean-ms-to-"+what)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms-to-"+what)
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms-to-"+what)
	return lat[len(lat)/2]
}
