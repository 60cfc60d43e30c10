package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/lambdatest"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
)

// The end-to-end tests of Lambda mode run the packaged bootstrap (built by
// the Makefile, taken out of the zip) against the Runtime API harness,
// moto and a DNS server on loopback. moto's gaps shape them: a target
// group holds one target per IP, and new targets are healthy at once.

// checkJSONLog checks that every line the function wrote to stderr is a
// JSON log record, and that the wanted messages are among them.
func checkJSONLog(t *testing.T, stderr string, msgs ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec struct {
			Msg string `json:"msg"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Msg == "" {
			t.Errorf("stderr line is not a JSON log record: %q", line)
			continue
		}
		seen[rec.Msg] = true
	}
	for _, m := range msgs {
		if !seen[m] {
			t.Errorf("no %q line in the log:\n%s", m, stderr)
		}
	}
}

func summaryOf(t *testing.T, res lambdatest.Result) obs.RunSummary {
	t.Helper()
	var sum obs.RunSummary
	if err := res.DecodeResponse(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestLambdaScheduledEventRegisters runs a scheduled event through the
// bootstrap for every way of configuring it, and checks the target group,
// the response, the JSON log and the metrics.
func TestLambdaScheduledEventRegisters(t *testing.T) {
	t.Parallel()
	ips := []string{"10.40.0.11", "10.40.0.12"}
	type setup struct {
		env    []string
		arn    string
		port   int
		metric string   // a legacy EMF metric the run must write
		keep   []string // members that must survive (not owned)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, w *lambdaWorld) setup
	}{
		{"Go function (DomainEndpoint)", func(t *testing.T, w *lambdaWorld) setup {
			tg := w.targetGroup(t, 443)
			lb := w.loadBalancer(t, tg)
			return setup{arn: tg, port: 443, env: []string{"DomainEndpoint=" + w.name("os", ips...), "AlbId=" + lb,
				"AlbTargetGroupId=" + tg, "TGSYNC_STATE_S3=s3://" + w.Bucket + "/go/"}}
		}},
		{"populate_NLB_TG_with_ALB", func(t *testing.T, w *lambdaWorld) setup {
			tg := w.targetGroup(t, 80)
			return setup{arn: tg, port: 8080, metric: `"LoadBalancerIPCount":2`, env: []string{"ALB_DNS_NAME=" + w.name("alb", ips...),
				"ALB_LISTENER=8080", "S3_BUCKET=" + w.Bucket, "NLB_TG_ARN=" + tg, "MAX_LOOKUP_PER_INVOCATION=50",
				"INVOCATIONS_BEFORE_DEREGISTRATION=3", "CW_METRIC_FLAG_IP_COUNT=true", "SAME_VPC=TRUE"}}
		}},
		{"hostname-as-target", func(t *testing.T, w *lambdaWorld) setup {
			tg := w.targetGroup(t, 8443)
			testenv.Register(t, w.VPC.ELB, tg, 8443, "10.99.0.1") // untracked: REMOVE_UNTRACKED_TG_IP is false
			return setup{arn: tg, port: 8443, metric: `"HostnameAsTargetIPCount":2`, keep: []string{"10.99.0.1:8443"},
				env: []string{"TARGET_FQDN=" + w.name("db", ips...), "ELB_TG_ARN=" + tg, "S3_BUCKET=" + w.Bucket,
					"DNS_SERVER=" + w.DNS.Addr(), "BUCKET_REGION=us-east-1", "INVOCATIONS_BEFORE_DEREGISTRATION=1"}}
		}},
		{"TGSYNC_CONFIG_YAML", func(t *testing.T, w *lambdaWorld) setup {
			tg := w.targetGroup(t, 443)
			yaml := fmt.Sprintf("state: {s3: s3://%s/yaml/}\nbindings:\n  - {name: web, source: {dns: %s}, targetGroupArn: %s, ports: [9443]}\n",
				w.Bucket, w.name("web", ips...), tg)
			return setup{arn: tg, port: 9443, env: []string{"TGSYNC_CONFIG_YAML=" + yaml}}
		}},
		{"TGSYNC_CONFIG", func(t *testing.T, w *lambdaWorld) setup {
			tg := w.targetGroup(t, 443)
			file := filepath.Join(t.TempDir(), "tgsync.yaml")
			yaml := fmt.Sprintf("state: {s3: s3://%s/file/}\nbindings:\n  - {name: web, source: {dns: %s}, targetGroupArn: %s, ports: [443]}\n",
				w.Bucket, w.name("web", ips...), tg)
			if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			return setup{arn: tg, port: 443, env: []string{"TGSYNC_CONFIG=" + file}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newLambdaWorld(t)
			s := tc.setup(t, w)
			p := startLambda(t, append(lambdaEnv(t, w.Moto), append(s.env, "TGSYNC_DNS_SERVERS="+w.DNS.Addr())...))
			p.ready(t)
			var want []string
			for _, ip := range ips {
				want = append(want, fmt.Sprintf("%s:%d", ip, s.port))
			}
			res := p.invoke(t, scheduledEvent, 30*time.Second)
			sum := summaryOf(t, res)
			if len(sum.Bindings) != 1 || sum.DryRun || !sum.StateWritten {
				t.Fatalf("summary %+v", sum)
			}
			b := sum.Bindings[0]
			var registered []string
			for _, c := range b.Changes {
				if c.Action == "register" && c.Reason != "" {
					registered = append(registered, c.Target)
				}
			}
			if !slices.Equal(registered, want) || !slices.Equal(b.Desired, want) {
				t.Errorf("registered %v, desired %v; want %v", registered, b.Desired, want)
			}
			wantAll := append(slices.Clone(want), s.keep...)
			slices.Sort(wantAll)
			if got := w.members(t, s.arn); !slices.Equal(got, wantAll) {
				t.Errorf("target group holds %v, want %v", got, wantAll)
			}
			// A second run finds nothing to do.
			if again := summaryOf(t, p.invoke(t, scheduledEvent, 30*time.Second)); len(again.Bindings[0].Changes) != 0 {
				t.Errorf("second run changed %+v", again.Bindings[0].Changes)
			}
			checkJSONLog(t, p.stderr.String(), "ready", "register", "run finished")
			if s.metric != "" && !strings.Contains(p.stdout.String(), s.metric) {
				t.Errorf("no %s in the metrics:\n%s", s.metric, p.stdout)
			}
			if !strings.Contains(p.stdout.String(), `"RegisteredTargets"`) {
				t.Errorf("no EMF metrics on stdout:\n%s", p.stdout)
			}
		})
	}
}

// TestLambdaEvents sends one process a plan, a named reconcile and events
// it must refuse, and checks that it keeps serving.
func TestLambdaEvents(t *testing.T) {
	w := newLambdaWorld(t)
	tgA, tgB := w.targetGroup(t, 443), w.targetGroup(t, 443)
	yaml := fmt.Sprintf(`state: {s3: "s3://%s/events/"}
bindings:
  - {name: alpha, source: {dns: %s}, targetGroupArn: %s, ports: [443]}
  - {name: beta, source: {dns: %s}, targetGroupArn: %s, ports: [443]}
`, w.Bucket, w.name("a", "10.41.0.1"), tgA, w.name("b", "10.42.0.1", "10.42.0.2"), tgB)
	p := startLambda(t, append(lambdaEnv(t, w.Moto), "TGSYNC_CONFIG_YAML="+yaml, "TGSYNC_DNS_SERVERS="+w.DNS.Addr()))
	p.ready(t)

	plan := summaryOf(t, p.invoke(t, `{"action":"plan"}`, 30*time.Second))
	if !plan.DryRun || len(plan.Bindings) != 2 || len(plan.Bindings[0].Changes) != 1 || len(plan.Bindings[1].Changes) != 2 || plan.StateWritten {
		t.Errorf("plan %+v", plan)
	}
	if a, b := w.members(t, tgA), w.members(t, tgB); len(a)+len(b) != 0 {
		t.Errorf("a plan changed the groups: %v %v", a, b)
	}

	one := summaryOf(t, p.invoke(t, `{"action":"reconcile","bindings":["beta"]}`, 30*time.Second))
	if len(one.Bindings) != 1 || one.Bindings[0].Binding != "beta" {
		t.Errorf("reconcile beta: %+v", one)
	}
	if a, b := w.members(t, tgA), w.members(t, tgB); len(a) != 0 || !slices.Equal(b, []string{"10.42.0.1:443", "10.42.0.2:443"}) {
		t.Errorf("after reconciling beta: alpha %v, beta %v", a, b)
	}

	bad := []struct {
		name, event string
		want        []string
	}{
		{"unknown binding", `{"action":"reconcile","bindings":["gamma"]}`, []string{`unknown binding "gamma"`, "alpha, beta"}},
		{"S3 event", `{"source":"aws.s3","detail-type":"Object Created"}`, []string{`source "aws.s3"`, `detail-type "Object Created"`}},
		{"unknown keys", `{"hello":"world"}`, []string{`keys ["hello"]`}},
		{"array", `[]`, []string{"a JSON array"}},
		{"empty", `{}`, []string{"empty event"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			res := p.invoke(t, tc.event, 10*time.Second)
			if res.Error == nil || res.Error.Type != errBadEvent {
				t.Fatalf("response %s, error %+v; want a %s error", res.Response, res.Error, errBadEvent)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.Error.Message, want) {
					t.Errorf("error does not say %q: %s", want, res.Error.Message)
				}
			}
		})
	}

	all := summaryOf(t, p.invoke(t, scheduledEvent, 30*time.Second))
	if len(all.Bindings) != 2 || len(all.Bindings[0].Changes) != 1 || len(all.Bindings[1].Changes) != 0 {
		t.Errorf("scheduled run after the refusals: %+v", all)
	}
	if a := w.members(t, tgA); !slices.Equal(a, []string{"10.41.0.1:443"}) {
		t.Errorf("alpha holds %v", a)
	}
	checkJSONLog(t, p.stderr.String(), "ready", "run finished")
}

// TestLambdaDeadline checks that the bootstrap answers before a short
// deadline and names the bindings that did not finish.
func TestLambdaDeadline(t *testing.T) {
	t.Parallel()
	w := newLambdaWorld(t)
	tg := w.targetGroup(t, 443)
	slow := w.name("slow", "10.43.0.1")
	w.DNS.SetFault(slow, dnstest.FaultTimeout)
	yaml := fmt.Sprintf(`dns: {timeout: 10s}
state: {s3: "s3://%s/deadline/"}
bindings:
  - {name: slow, source: {dns: %s}, targetGroupArn: %s, ports: [443], shared: true}
  - {name: late, source: {dns: %s}, targetGroupArn: %s, ports: [443], shared: true}
`, w.Bucket, slow, tg, w.name("late", "10.43.0.2"), tg)
	p := startLambda(t, append(lambdaEnv(t, w.Moto), "TGSYNC_CONFIG_YAML="+yaml, "TGSYNC_DNS_SERVERS="+w.DNS.Addr()))
	p.ready(t)
	tests := []struct {
		name    string
		timeout time.Duration
		want    []string
	}{
		// The slow lookup runs into the deadline; late is not started.
		{"deadline during a lookup", 4 * time.Second, []string{"2 of 2 bindings failed", "slow: source " + slow, "late: unfinished: deadline near"}},
		// Less time than the margin: nothing is started.
		{"deadline shorter than the margin", 250 * time.Millisecond, []string{"slow: unfinished: deadline near, not started", "late: unfinished: deadline near, not started"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := p.invoke(t, scheduledEvent, tc.timeout)
			if res.Error == nil || res.Error.Type != errBindingsFailed {
				t.Fatalf("response %s, error %+v; want %s", res.Response, res.Error, errBindingsFailed)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.Error.Message, want) {
					t.Errorf("error does not say %q: %s", want, res.Error.Message)
				}
			}
			if !res.Answered.Before(res.Deadline) {
				t.Errorf("answered %s after the deadline", res.Answered.Sub(res.Deadline))
			}
			t.Logf("answered %s before the deadline of %s", res.Deadline.Sub(res.Answered).Round(time.Millisecond), tc.timeout)
		})
	}
	if m := w.members(t, tg); len(m) != 0 {
		t.Errorf("the group changed although no binding got to it: %v", m)
	}
}

// TestLambdaInitErrors checks that a configuration the function cannot
// run with is reported through /runtime/init/error, and the process exits
// without asking for an invocation.
func TestLambdaInitErrors(t *testing.T) {
	w := newLambdaWorld(t)
	tg := w.targetGroup(t, 443)
	other := w.targetGroup(t, 443)
	lbOther := w.loadBalancer(t, other)
	missing := strings.Replace(tg, "targetgroup/", "targetgroup/gone-", 1)
	tests := []struct {
		name     string
		env      []string
		wantType string
		want     []string
	}{
		{"two legacy sets", []string{"ALB_DNS_NAME=a.internal", "ALB_LISTENER=443", "NLB_TG_ARN=" + tg, "TARGET_FQDN=b.internal", "S3_BUCKET=" + w.Bucket},
			initConfigInvalid, []string{"ALB_DNS_NAME", "TARGET_FQDN", "one way only"}},
		{"config and legacy variable", []string{"TGSYNC_CONFIG=/var/task/tgsync.yaml", "ALB_DNS_NAME=a.internal"},
			initConfigInvalid, []string{"TGSYNC_CONFIG", "ALB_DNS_NAME"}},
		{"bad number", []string{"ALB_DNS_NAME=a.internal", "ALB_LISTENER=443", "NLB_TG_ARN=" + tg, "S3_BUCKET=" + w.Bucket, "INVOCATIONS_BEFORE_DEREGISTRATION=soon"},
			initConfigInvalid, []string{"INVOCATIONS_BEFORE_DEREGISTRATION", "whole number from 1 to 10000"}},
		{"nothing configured", nil, initConfigInvalid, []string{"no configuration"}},
		{"state file outside /tmp", []string{"TGSYNC_CONFIG_YAML=bindings: [{name: a, source: {dns: a.internal}, targetGroupArn: " + tg + ", ports: [443]}]"},
			initConfigInvalid, []string{"state.file ./tgsync-state.json", "only /tmp is writable"}},
		{"AlbId not attached", []string{"DomainEndpoint=os.internal", "AlbId=" + lbOther, "AlbTargetGroupId=" + tg},
			initNotAttached, []string{"AlbTargetGroupId " + tg + " is not attached to AlbId " + lbOther, "attached to no load balancer"}},
		{"hostname target group missing", []string{"TARGET_FQDN=db.internal", "ELB_TG_ARN=" + missing, "S3_BUCKET=" + w.Bucket},
			initFailed, []string{"ELB_TG_ARN", missing}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startLambda(t, append(lambdaEnv(t, w.Moto), tc.env...))
			rep, err := p.api.InitError(testenv.Context(t, 30*time.Second))
			if err != nil {
				t.Fatalf("%v; stderr:\n%s", err, p.stderr)
			}
			if rep.Type != tc.wantType || rep.TypeHeader != tc.wantType {
				t.Errorf("init error type %q (header %q), want %q: %s", rep.Type, rep.TypeHeader, tc.wantType, rep.Message)
			}
			for _, want := range tc.want {
				if !strings.Contains(rep.Message, want) {
					t.Errorf("init error does not say %q: %s", want, rep.Message)
				}
			}
			if code := p.exitCode(t); code == 0 {
				t.Error("bootstrap exited 0 after an init error")
			}
			if n := p.api.Nexts(); n != 0 {
				t.Errorf("bootstrap asked for %d invocations after failing init", n)
			}
			checkJSONLog(t, p.stderr.String(), "init failed")
		})
	}
}

// TestLambdaPackage checks that the Makefile packages the function
// reproducibly: a second packaging of both architectures gives zips
// byte-identical to the first, which hold exactly an executable
// bootstrap. It logs the sizes (go test -run TestLambdaPackage -v).
func TestLambdaPackage(t *testing.T) {
	t.Parallel()
	archs := []string{"arm64", "amd64"}
	again := t.TempDir()
	var zips []string
	for _, arch := range archs {
		zips = append(zips, filepath.Join(again, "tgsync-"+arch+".zip"))
	}
	testenv.NeedMake(t)
	if err := testenv.Make(again, testenv.Version, zips...); err != nil {
		t.Fatal(err)
	}
	for _, arch := range archs {
		name := "tgsync-" + arch + ".zip"
		za, err := os.ReadFile(testenv.LambdaZip(t, arch))
		if err != nil {
			t.Fatal(err)
		}
		zb, err := os.ReadFile(filepath.Join(again, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(za, zb) {
			t.Errorf("%s: two packagings of the same source differ (%d and %d bytes)", name, len(za), len(zb))
		}
		zr, err := zip.NewReader(bytes.NewReader(za), int64(len(za)))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode() != 0o755 {
			var got []string
			for _, f := range zr.File {
				got = append(got, fmt.Sprintf("%s %v", f.Name, f.Mode()))
			}
			t.Fatalf("%s holds %v, want exactly bootstrap -rwxr-xr-x", name, got)
		}
		t.Logf("%s: bootstrap %d bytes = %.2f MiB (goal 11 MB), zip %d bytes = %.2f MiB (goal 4.5 MB)", arch,
			zr.File[0].UncompressedSize64, float64(zr.File[0].UncompressedSize64)/(1<<20), len(za), float64(len(za))/(1<<20))
	}
}

// BenchmarkLambdaColdStart measures the time from starting the bootstrap
// to its first GET next, that is its whole init: the config, the SDK
// configuration and the AWS clients. Reported as the median.
func BenchmarkLambdaColdStart(b *testing.B) {
	w := newLambdaWorld(b)
	tg := w.targetGroup(b, 443)
	yaml := fmt.Sprintf("state: {s3: s3://%s/cold/}\nbindings:\n  - {name: web, source: {dns: %s}, targetGroupArn: %s, ports: [443]}\n",
		w.Bucket, w.name("web", "10.50.0.1"), tg)
	env := append(lambdaEnv(b, w.Moto), "TGSYNC_CONFIG_YAML="+yaml, "TGSYNC_DNS_SERVERS="+w.DNS.Addr())
	lambdaBootstrap(b) // not timed
	var samples []time.Duration
	b.ResetTimer()
	for b.Loop() {
		p := startLambda(b, env)
		samples = append(samples, p.ready(b).Sub(p.started))
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-to-next/median")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "ms-to-next/max")
}

// BenchmarkLambdaScheduledRun10Bindings measures a scheduled run over ten
// bindings of four addresses each, and the process's peak RSS after the
// runs (goal 30 MB).
func BenchmarkLambdaScheduledRun10Bindings(b *testing.B) {
	w := newLambdaWorld(b)
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "state: {s3: s3://%s/ten/}\nbindings:\n", w.Bucket)
	for i := range 10 {
		tg := w.targetGroup(b, 443)
		ips := make([]string, 4)
		for j := range ips {
			ips[j] = fmt.Sprintf("10.60.%d.%d", i, j+1)
		}
		fmt.Fprintf(&yaml, "  - {name: b%d, source: {dns: %s}, targetGroupArn: %s, ports: [443]}\n", i, w.name(fmt.Sprintf("b%d", i), ips...), tg)
	}
	p := startLambda(b, append(lambdaEnv(b, w.Moto), "TGSYNC_CONFIG_YAML="+yaml.String(), "TGSYNC_DNS_SERVERS="+w.DNS.Addr()))
	p.ready(b)
	b.ResetTimer()
	for b.Loop() {
		res := p.invoke(b, scheduledEvent, 60*time.Second)
		if res.Error != nil {
			b.Fatalf("%s: %s", res.Error.Type, res.Error.Message)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(p.peakRSS(b))/(1<<20), "MB-peak-RSS")
}
