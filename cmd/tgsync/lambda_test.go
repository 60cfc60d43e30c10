package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
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
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// syncBuffer is a bytes.Buffer that other goroutines (the function's, or
// the copier of a child's output) and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inProc is a lambdaFunc built in the test process on real parts: the
// elbv2 adapter against moto, a DNS server on loopback and a memory store.
type inProc struct {
	f       *lambdaFunc
	elb     *elasticloadbalancingv2.Client
	groups  *elbv2.Adapter
	dns     *dnstest.Server
	store   *memstore.Store
	arn     map[string]string // by binding
	name    map[string]string // DNS name by binding
	logs    *syncBuffer
	metrics *syncBuffer
}

const lambdaTestPort = 443

// newInProc gives every binding its own target group and DNS name.
func newInProc(t *testing.T, bindings ...string) *inProc {
	t.Helper()
	m := testenv.StartMoto(t)
	cfg := m.AWSConfig()
	vpc := testenv.NewVPC(t, cfg, "10.0.0.0/16")
	p := &inProc{elb: vpc.ELB, store: memstore.New(),
		arn: map[string]string{}, name: map[string]string{}, logs: &syncBuffer{}, metrics: &syncBuffer{}}
	var err error
	p.dns = testenv.DNS(t)
	resolver, err := dns.New(dns.Config{Servers: []string{p.dns.Addr()}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	calls := &elbv2.Calls{}
	p.groups = elbv2.New(elasticloadbalancingv2.NewFromConfig(cfg, func(o *elasticloadbalancingv2.Options) {
		o.APIOptions = append(o.APIOptions, elbv2.CountCalls(calls.Record))
	}), elbv2.Options{})
	var domain []tgsync.Binding
	for _, b := range bindings {
		p.arn[b] = vpc.IPTargetGroup(t, types.ProtocolEnumHttps, lambdaTestPort)
		p.name[b] = b + "." + testenv.UniqueName("n") + ".lambda.internal"
		policy := tgsync.DefaultPolicy()
		domain = append(domain, tgsync.Binding{Name: b, Source: resolver.Source(p.name[b], dns.Families{dns.IPv4}),
			TargetGroupARN: p.arn[b], Ports: []uint16{lambdaTestPort}, Policy: policy})
	}
	p.f = &lambdaFunc{
		reconciler: &tgsync.Reconciler{Bindings: domain, Groups: p.groups, Store: p.store},
		log:        obs.NewLogger(p.logs, obs.FormatJSON, -8),
		metrics:    p.metrics,
		calls:      calls,
	}
	return p
}

// answer makes a binding's name resolve to ips.
func (p *inProc) answer(binding string, ips ...string) {
	addrs := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		addrs[i] = netip.MustParseAddr(ip)
	}
	p.dns.SetA(p.name[binding], 60, addrs...)
}

// members lists the IPs in a binding's target group.
func (p *inProc) members(t *testing.T, binding string) []string {
	t.Helper()
	out, err := p.elb.DescribeTargetHealth(testenv.Context(t, 10*time.Second), &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(p.arn[binding])})
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, d := range out.TargetHealthDescriptions {
		ips = append(ips, aws.ToString(d.Target.Id))
	}
	slices.Sort(ips)
	return ips
}

// invoke calls the handler as aws-lambda-go would, with a deadline.
func (p *inProc) invoke(t *testing.T, payload string, timeout time.Duration) ([]byte, *messages.InvokeResponse_Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := p.f.Invoke(ctx, []byte(payload))
	if err == nil {
		return out, nil
	}
	var ie messages.InvokeResponse_Error
	if !errors.As(err, &ie) {
		t.Fatalf("Invoke returned %T %v, want a messages.InvokeResponse_Error", err, err)
	}
	return nil, &ie
}

const scheduledEvent = `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",
"source":"aws.events","account":"123456789012","time":"2026-11-22T00:00:00Z","region":"us-east-1",
"resources":["arn:aws:events:us-east-1:123456789012:rule/tgsync"],"detail":{}}`

// scheduledWith is the scheduled event with more top-level fields, e.g.
// an action added by an input transformer.
func scheduledWith(fields string) string {
	return strings.Replace(scheduledEvent, `"detail":{}}`, `"detail":{},`+fields+`}`, 1)
}

// TestDispatchReconciles drives each event that reconciles through the
// handler against moto and checks the summary and the target groups. An
// explicit action wins over the scheduled event's shape, so that a plan
// never changes anything.
func TestDispatchReconciles(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		dryRun  bool
		want    []string // bindings in the summary
		changed []string // bindings whose group holds the answer afterwards
	}{
		{"EventBridge scheduled event", scheduledEvent, false, []string{"a", "b"}, []string{"a", "b"}},
		{"reconcile all", `{"action":"reconcile"}`, false, []string{"a", "b"}, []string{"a", "b"}},
		{"reconcile one", `{"action":"reconcile","bindings":["b"]}`, false, []string{"b"}, []string{"b"}},
		{"reconcile a name twice", `{"action":"reconcile","bindings":["a","a"]}`, false, []string{"a"}, []string{"a"}},
		{"plan", `{"action":"plan"}`, true, []string{"a", "b"}, nil},
		{"plan one", ` {"action":"plan","bindings":["a"]} `, true, []string{"a"}, nil},
		{"scheduled event with action plan", scheduledWith(`"action":"plan"`), true, []string{"a", "b"}, nil},
		{"scheduled event with action plan, one binding", scheduledWith(`"action":"plan","bindings":["b"]`), true, []string{"b"}, nil},
		{"scheduled event with action reconcile, one binding", scheduledWith(`"bindings":["b"],"action":"reconcile"`), false, []string{"b"}, []string{"b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newInProc(t, "a", "b")
			p.answer("a", "10.1.0.1", "10.1.0.2")
			p.answer("b", "10.2.0.1")
			want := map[string][]string{"a": {"10.1.0.1", "10.1.0.2"}, "b": {"10.2.0.1"}}
			out, ierr := p.invoke(t, tc.event, time.Minute)
			if ierr != nil {
				t.Fatalf("error response %s: %s\nlog:\n%s", ierr.Type, ierr.Message, p.logs)
			}
			var sum obs.RunSummary
			if err := json.Unmarshal(out, &sum); err != nil {
				t.Fatalf("response %s: %v", out, err)
			}
			var got []string
			for _, b := range sum.Bindings {
				got = append(got, b.Binding)
				if len(b.Changes) != len(want[b.Binding]) || b.Error != "" {
					t.Errorf("binding %s: changes %+v, error %q; want %d registrations", b.Binding, b.Changes, b.Error, len(want[b.Binding]))
				}
				for _, c := range b.Changes {
					if c.Action != "register" || c.Reason == "" {
						t.Errorf("binding %s: change %+v", b.Binding, c)
					}
				}
			}
			if !slices.Equal(got, tc.want) || sum.DryRun != tc.dryRun {
				t.Errorf("summary of %v (dryRun %v), want %v (dryRun %v)", got, sum.DryRun, tc.want, tc.dryRun)
			}
			for _, b := range []string{"a", "b"} {
				members := p.members(t, b)
				if slices.Contains(tc.changed, b) && !slices.Equal(members, want[b]) || !slices.Contains(tc.changed, b) && len(members) > 0 {
					t.Errorf("group of %s holds %v after the run", b, members)
				}
			}
			metrics := p.metrics.String()
			if tc.dryRun != (metrics == "") {
				t.Errorf("dry run %v wrote metrics %q", tc.dryRun, metrics)
			}
			if !tc.dryRun && !strings.Contains(metrics, `"Binding":"`+tc.want[0]+`"`) {
				t.Errorf("metrics do not name binding %s:\n%s", tc.want[0], metrics)
			}
			if !strings.Contains(p.logs.String(), `"msg":"run finished"`) {
				t.Errorf("no run summary in the log:\n%s", p.logs)
			}
		})
	}
}

// TestDispatchRefuses checks that every event tgsync does not take is an
// error that says what arrived, and never reaches AWS.
func TestDispatchRefuses(t *testing.T) {
	manyKeys := map[string]int{}
	for i := range 40 {
		manyKeys[fmt.Sprintf("key%02d", i)] = i
	}
	many, _ := json.Marshal(manyKeys)
	tests := []struct {
		name  string
		event string
		want  []string
	}{
		{"not JSON", `hello there`, []string{"not JSON", `"hello there"`}},
		{"array", `[1,2]`, []string{"a JSON array", `"[1,2]"`}},
		{"string", `"reconcile"`, []string{"a JSON string"}},
		{"null", `null`, []string{"a JSON null"}},
		{"number", `42`, []string{"a JSON number"}},
		{"empty object", `{}`, []string{"empty event", `{"action":"reconcile"}`}},
		{"other source", `{"source":"aws.s3","detail-type":"Object Created","detail":{}}`, []string{`source "aws.s3"`, `detail-type "Object Created"`}},
		{"other ECS event", `{"source":"aws.ecs","detail-type":"ECS Container Instance State Change"}`, []string{`"ECS Container Instance State Change"`}},
		{"unknown keys", `{"bindings":["a"],"dryRun":true}`, []string{`keys ["bindings", "dryRun"]`}},
		{"many keys", string(many), []string{`"key00"`, "… 28 more"}},
		{"unknown action", `{"action":"destroy"}`, []string{`unknown action "destroy"`}},
		{"action not a string", `{"action":1}`, []string{"action event", "cannot unmarshal number"}},
		{"misspelt field", `{"action":"reconcile","binding":["a"]}`, []string{`unknown field "binding"`}},
		{"bindings not a list", `{"action":"plan","bindings":"a"}`, []string{"action event", "cannot unmarshal string"}},
		{"unknown binding", `{"action":"reconcile","bindings":["a","web"]}`, []string{`unknown binding "web"`, "has a, b"}},
		{"scheduled event with an unknown action", scheduledWith(`"action":"destroy"`), []string{`unknown action "destroy"`}},
		{"scheduled event with an empty action", scheduledWith(`"action":""`), []string{`unknown action ""`}},
		{"scheduled event with action null", scheduledWith(`"action":null`), []string{`unknown action ""`}},
		{"scheduled event with action not a string", scheduledWith(`"action":true`), []string{"action event", "cannot unmarshal bool"}},
		{"scheduled event with action and a misspelt field", scheduledWith(`"action":"plan","binding":["a"]`), []string{`unknown field "binding"`}},
		{"scheduled event with action and an unknown binding", scheduledWith(`"action":"plan","bindings":["web"]`), []string{`unknown binding "web"`}},
		{"scheduled event with Action plan", scheduledWith(`"Action":"plan"`), []string{`key "Action" must be written "action"`}},
		{"action in two spellings", `{"action":"plan","ACTION":"reconcile"}`, []string{`key "ACTION" must be written "action"`}},
		{"Bindings", `{"action":"plan","Bindings":["a"]}`, []string{`key "Bindings" must be written "bindings"`}},
		{"ECS event with an action", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{},"action":"plan"}`, []string{`unknown field "source"`}},
		{"ECS event without spotDrain", `{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{}}`, []string{"no spotDrain section"}},
		{"ALB request without status page", `{"requestContext":{"elb":{"targetGroupArn":"x"}},"httpMethod":"GET","path":"/"}`, []string{"Application Load Balancer request", "status page"}},
	}
	f := &lambdaFunc{
		// No Groups and no Store: an event that reached them would panic,
		// and the panic would show as the wrong error type.
		reconciler: &tgsync.Reconciler{Bindings: []tgsync.Binding{{Name: "a"}, {Name: "b"}}},
		log:        obs.NewLogger(&syncBuffer{}, obs.FormatJSON, 0),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.Invoke(context.Background(), []byte(tc.event))
			var ie messages.InvokeResponse_Error
			if !errors.As(err, &ie) {
				t.Fatalf("Invoke(%s) = %s, %v; want an error response", tc.event, out, err)
			}
			if ie.Type != errBadEvent {
				t.Errorf("error type %s, want %s: %s", ie.Type, errBadEvent, ie.Message)
			}
			for _, w := range tc.want {
				if !strings.Contains(ie.Message, w) {
					t.Errorf("message does not say %q:\n%s", w, ie.Message)
				}
			}
			if len(ie.Message) > 600 {
				t.Errorf("message is %d bytes long", len(ie.Message))
			}
		})
	}
}

// TestExtensionRoutes checks that ECS Task State Change events reach the
// Spot drain and ALB requests the status page handler, once configured.
func TestExtensionRoutes(t *testing.T) {
	t.Run("ALB request", func(t *testing.T) {
		var got string
		f := &lambdaFunc{reconciler: &tgsync.Reconciler{}, log: obs.NewLogger(&syncBuffer{}, obs.FormatJSON, 0),
			alb: func(_ context.Context, raw json.RawMessage) (any, error) {
				got = string(raw)
				return map[string]int{"statusCode": 200}, nil
			}}
		req := `{"requestContext":{"elb":{"targetGroupArn":"arn"}},"httpMethod":"GET","path":"/api/status"}`
		out, err := f.Invoke(context.Background(), []byte(req))
		if err != nil || string(out) != `{"statusCode":200}` || got != req {
			t.Errorf("Invoke = %s, %v; handler saw %q", out, err, got)
		}
	})
	t.Run("ECS Task State Change", func(t *testing.T) {
		p := newInProc(t, "spot")
		const taskIP = "10.20.3.41"
		testenv.Register(t, p.elb, p.arn["spot"], lambdaTestPort, taskIP)
		h, err := newDrainHandler(&config.SpotDrain{TargetGroupARNs: []string{p.arn["spot"]}, StopCodes: []string{config.StopCodeSpotInterruption}},
			p.groups, p.store, p.f.log)
		if err != nil {
			t.Fatal(err)
		}
		p.f.ecs = ecsHandler(h)
		raw, err := os.ReadFile("../../ecsevent/testdata/fargate-spot-interruption.json")
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ev["time"] = time.Now().UTC().Format(time.RFC3339) // a fresh warning, not a stale one
		raw, _ = json.Marshal(ev)
		out, ierr := p.invoke(t, string(raw), time.Minute)
		if ierr != nil {
			t.Fatalf("error response %s: %s", ierr.Type, ierr.Message)
		}
		var outcome drainOutcome
		if err := json.Unmarshal(out, &outcome); err != nil || outcome.Result != drainDrained {
			t.Fatalf("outcome %s (%v), want %s", out, err, drainDrained)
		}
		if m := p.members(t, "spot"); len(m) != 0 {
			t.Errorf("the interrupted task's %s is still in the group: %v", taskIP, m)
		}
	})
	t.Run("bad ECS event", func(t *testing.T) {
		h, err := newDrainHandler(&config.SpotDrain{TargetGroupARNs: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/0123456789abcdef"},
			StopCodes: []string{config.StopCodeSpotInterruption}}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		f := &lambdaFunc{reconciler: &tgsync.Reconciler{}, log: obs.NewLogger(&syncBuffer{}, obs.FormatJSON, 0), ecs: ecsHandler(h)}
		_, err = f.Invoke(context.Background(), []byte(`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":"x"}`))
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) || ie.Type != errBadEvent {
			t.Errorf("Invoke = %v, want a %s error", err, errBadEvent)
		}
	})
}

// TestInvokeRecoversPanic checks that a panic in a handler is an error
// response with the stack in the log, and the function keeps serving.
func TestInvokeRecoversPanic(t *testing.T) {
	logs := &syncBuffer{}
	f := &lambdaFunc{reconciler: &tgsync.Reconciler{}, log: obs.NewLogger(logs, obs.FormatJSON, 0),
		ecs: func(context.Context, json.RawMessage) (any, error) { panic("index out of range [3] with length 2") }}
	for range 2 {
		_, err := f.Invoke(context.Background(), []byte(`{"source":"aws.ecs","detail-type":"ECS Task State Change"}`))
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) || ie.Type != errPanic || !strings.Contains(ie.Message, "index out of range") || !strings.Contains(ie.Message, `source "aws.ecs"`) {
			t.Fatalf("Invoke = %v, want a Panic error that names the panic and the event", err)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"panic"`) || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("no stack in the log:\n%s", logs)
	}
}

// TestReconcileNotStarted checks that an invocation with less time than
// the margin starts no AWS work and names every binding as unfinished.
func TestReconcileNotStarted(t *testing.T) {
	f := &lambdaFunc{
		// No Groups, no Store, sources without ResolveFn: touching them
		// would panic.
		reconciler: &tgsync.Reconciler{Bindings: []tgsync.Binding{
			{Name: "a", Source: &mock.Source{Name: "a.internal"}, TargetGroupARN: "arn-a"},
			{Name: "b", Source: &mock.Source{Name: "b.internal"}, TargetGroupARN: "arn-b"}}},
		log: obs.NewLogger(&syncBuffer{}, obs.FormatJSON, 0),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := f.Invoke(ctx, []byte(`{"action":"reconcile","bindings":["b"]}`))
	var ie messages.InvokeResponse_Error
	if !errors.As(err, &ie) || ie.Type != errBindingsFailed {
		t.Fatalf("Invoke = %v, want %s", err, errBindingsFailed)
	}
	for _, w := range []string{"1 of 1 bindings failed", "b: unfinished: deadline near, not started", "raise the function's timeout"} {
		if !strings.Contains(ie.Message, w) {
			t.Errorf("message does not say %q: %s", w, ie.Message)
		}
	}
	if strings.Contains(ie.Message, "a:") {
		t.Errorf("message names a binding that was not asked for: %s", ie.Message)
	}
}

func TestDeadlineBudget(t *testing.T) {
	tests := []struct {
		left            time.Duration
		margin, reserve time.Duration
		startsWork      bool
	}{
		{15 * time.Minute, 3 * time.Second, 1500 * time.Millisecond, true},
		{30 * time.Second, 3 * time.Second, 1500 * time.Millisecond, true},
		{3 * time.Second, 300 * time.Millisecond, 150 * time.Millisecond, true},
		{1 * time.Second, 200 * time.Millisecond, 100 * time.Millisecond, true},
		{250 * time.Millisecond, 200 * time.Millisecond, 100 * time.Millisecond, false},
		{0, 200 * time.Millisecond, 100 * time.Millisecond, false},
	}
	for _, tc := range tests {
		m, r := deadlineBudget(tc.left)
		if m != tc.margin || r != tc.reserve || (tc.left >= m+r) != tc.startsWork {
			t.Errorf("deadlineBudget(%s) = %s, %s; want %s, %s (starts work: %v)", tc.left, m, r, tc.margin, tc.reserve, tc.startsWork)
		}
	}
}

func TestFailedBindingsMessage(t *testing.T) {
	long := strings.Repeat("x", 1000)
	res := tgsync.RunResult{Bindings: []tgsync.BindingResult{
		{Binding: "ok"},
		{Binding: "dns", Err: errors.New("binding dns: source a.internal: SERVFAIL from 10.0.0.2:53")},
		{Binding: "late", Unfinished: true, Err: errors.New("binding late: deadline near, stopped before resolving b.internal")},
		{Binding: "long", Err: errors.New(long)},
	}}
	msg := failedBindings(res).Error()
	for _, w := range []string{"3 of 4 bindings failed: ", "dns: source a.internal: SERVFAIL", "late: unfinished: deadline near", "long: xxx"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message does not say %q: %s", w, msg)
		}
	}
	if strings.Contains(msg, "ok:") || strings.Contains(msg, "binding dns:") || len(msg) > 1200 {
		t.Errorf("message: %s", msg)
	}
}

func TestUnderTmp(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/tmp/tgsync-state.json", true},
		{"/tmp/a/b/state.json", true},
		{"/tmp", false},
		{"/tmpfoo/state.json", false},
		{"/tmp/../var/state.json", false},
		{"./tgsync-state.json", false}, // /var/task in Lambda: read-only
		{"/var/task/state.json", false},
	}
	for _, tc := range tests {
		if got := underTmp(tc.path); got != tc.want {
			t.Errorf("underTmp(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestLambdaLogLevel(t *testing.T) {
	tests := map[string]string{"": "INFO", "TRACE": "DEBUG", "debug": "DEBUG", "INFO": "INFO", "WARN": "WARN", "ERROR": "ERROR", "FATAL": "ERROR", "bogus": "INFO"}
	for in, want := range tests {
		if got := lambdaLogLevel(in).String(); got != want {
			t.Errorf("lambdaLogLevel(%q) = %s, want %s", in, got, want)
		}
	}
}
