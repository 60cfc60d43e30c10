package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
)

// sdkEnv points the SDK of this process at url (moto, or a proxy in front
// of it) with moto's credentials, and away from this machine's own AWS
// configuration. Tests that use it cannot run in parallel.
func sdkEnv(t *testing.T, url string) {
	t.Helper()
	home := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": url, "AWS_REGION": testenv.Region, "AWS_ACCESS_KEY_ID": "testing",
		"AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

// inProcFunc is the Lambda function built in this process from env, as a
// cold start builds it, with its EMF lines in metrics.
func inProcFunc(t *testing.T, env map[string]string) (*lambdaFunc, *syncBuffer) {
	t.Helper()
	metrics, logs := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := newLambdaFunc(ctx, func(k string) string { return env[k] }, obs.NewLogger(logs, obs.FormatJSON, -8), metrics)
	if err != nil {
		t.Fatalf("cold start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("function log:\n%s", logs)
		}
	})
	return f, metrics
}

// emfRunLines returns the EMF lines without a Binding, keyed by their
// Action ("" for the run's own line).
func emfRunLines(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	lines := map[string]map[string]any{}
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(raw), &doc); err != nil {
			t.Fatalf("EMF line %q: %v", raw, err)
		}
		if _, ok := doc["Binding"]; ok {
			continue
		}
		action, _ := doc["Action"].(string)
		lines[action] = doc
	}
	return lines
}

// TestLambdaReportsThrottles: an attempt AWS throttled, which the SDK
// retried to success, reaches the function's metrics as Throttles, in
// all and for its action. A proxy in front of moto throttles the first
// DescribeTargetHealth, which moto never does.
func TestLambdaReportsThrottles(t *testing.T) {
	w := newLambdaWorld(t)
	proxy := testenv.StartProxy(t, w.Moto)
	var throttled atomic.Int64
	proxy.Intercept(func(r testenv.Request) (int, string, bool) {
		if r.Action == "DescribeTargetHealth" && throttled.Add(1) == 1 {
			return http.StatusBadRequest, testenv.ThrottlingBody, true
		}
		return 0, "", false
	})
	sdkEnv(t, proxy.URL)
	tg := w.targetGroup(t, 443)
	f, metrics := inProcFunc(t, map[string]string{
		"TGSYNC_CONFIG_YAML": "bindings:\n  - name: web\n    source: {dns: " + w.name("web", "10.40.0.11") +
			"}\n    targetGroupArn: " + tg + "\n    ports: [443]\nstate: {s3: s3://" + w.Bucket + "/throttles/}\n",
		"TGSYNC_DNS_SERVERS": w.DNS.Addr(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if _, err := f.Invoke(ctx, []byte(`{"action":"reconcile"}`)); err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if got := w.members(t, tg); len(got) != 1 {
		t.Fatalf("members after the run: %v", got)
	}
	lines := emfRunLines(t, metrics.String())
	tests := []struct {
		line      string
		throttles float64
	}{{"", 1}, {"DescribeTargetHealth", 1}, {"RegisterTargets", 0}}
	for _, tc := range tests {
		doc, ok := lines[tc.line]
		if !ok {
			t.Errorf("no EMF line for %q:\n%s", tc.line, metrics)
			continue
		}
		got, _ := doc["Throttles"].(float64)
		if got != tc.throttles {
			t.Errorf("line %q: Throttles %v, want %v", tc.line, doc["Throttles"], tc.throttles)
		}
	}
	if calls, _ := lines["DescribeTargetHealth"]["ApiCalls"].(float64); calls != 2 {
		t.Errorf("DescribeTargetHealth ApiCalls %v, want 2: the throttled attempt and its retry", calls)
	}
}

// TestDrainSharesTheBudget: the Spot drain waits on the same budget as the
// bindings of its account. With a budget of two describes, the first
// reconcile (DescribeTargetGroups and DescribeTargetHealth of its group)
// spends it, and a drain right after cannot describe its group within
// its deadline; with a budget of its own, as a second adapter would have,
// it would.
func TestDrainSharesTheBudget(t *testing.T) {
	w := newLambdaWorld(t)
	sdkEnv(t, w.Moto.URL)
	tg, spot := w.targetGroup(t, 443), w.targetGroup(t, 5044)
	f, _ := inProcFunc(t, map[string]string{
		"TGSYNC_CONFIG_YAML": "limits: {describePerSecond: 0.001, describeBurst: 2}\nbindings:\n  - name: web\n    source: {dns: " +
			w.name("web", "10.40.0.11") + "}\n    targetGroupArn: " + tg + "\n    ports: [443]\nspotDrain: {targetGroupArns: [" + spot +
			"]}\nstate: {s3: s3://" + w.Bucket + "/shared-budget/}\n",
		"TGSYNC_DNS_SERVERS": w.DNS.Addr(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := f.Invoke(ctx, []byte(`{"action":"reconcile"}`)); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	_, err := f.Invoke(ctx, drainEvent(t, "../../ecsevent/testdata/fargate-spot-interruption.json", 0, time.Now()))
	if err == nil || !strings.Contains(err.Error(), "describe rate limit") {
		t.Fatalf("drain after the budget was spent: %v, want it to wait on the describe limit", err)
	}
}
