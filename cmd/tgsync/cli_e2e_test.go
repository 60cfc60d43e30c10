package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
)

// TestE2EPlanAndOnceOutput runs plan and once against moto: plan prints
// the plan once, on stdout, and with --detailed-exitcode exits 3 while it
// has changes, 0 once it has none and 1 when a binding fails; once prints
// what it changed on stdout, in text or JSON, and logs each change.
func TestE2EPlanAndOnceOutput(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	const a, b = "10.0.7.1", "10.0.7.2"
	w.answer(a, b)
	config := w.writeConfig(t, "tgsync.yaml", configOpts{})
	reason := "in the answer for " + w.name + " and not in the target group"

	res := w.run(t, config, "plan", "--detailed-exitcode")
	if res.code != exitChanges || !hasLine(res.stdout, "+ register", a+":443", reason) || !hasLine(res.stdout, "+ register", b+":443") {
		t.Fatalf("plan with changes: want exit 3 and the plan on stdout, got %s", res)
	}
	if strings.Contains(res.stderr, a) || !strings.Contains(res.stderr, `msg="run finished"`) {
		t.Errorf("plan logged the plan again, or no summary, on stderr:\n%s", res.stderr)
	}
	if res := w.run(t, config, "plan"); res.code != exitOK {
		t.Errorf("plan without --detailed-exitcode: want exit 0, got %s", res)
	}

	res = w.run(t, config, "once")
	if res.code != exitOK || !hasLine(res.stdout, "+ registered", a+":443", reason) || !hasLine(res.stdout, "+ registered", b+":443") {
		t.Fatalf("once: want exit 0 and what it registered on stdout, got %s", res)
	}
	if !hasLine(res.stderr, "level=INFO", "msg=register", "target="+a+":443") {
		t.Errorf("once did not log the registration:\n%s", res.stderr)
	}

	res = w.run(t, config, "plan", "--detailed-exitcode")
	if res.code != exitOK || !strings.Contains(res.stdout, "  no changes\n") {
		t.Errorf("plan without changes: want exit 0 and no changes, got %s", res)
	}

	w.answer(a)
	res = w.run(t, config, "once", "-o", "json")
	var sum obs.RunSummary
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil || res.code != exitOK {
		t.Fatalf("once -o json: %v\n%s", err, res)
	}
	if sum.DryRun || len(sum.Bindings) != 1 || len(sum.Bindings[0].Changes) != 0 || len(sum.Bindings[0].Pending) != 1 {
		t.Errorf("once -o json: %+v; want one binding, no change, one pending removal", sum)
	}
	if !hasLine(res.stderr, "level=INFO", `msg="pending deregistration"`, "target="+b+":443", "timeLeftSeconds=") {
		t.Errorf("the pending removal is not logged at info with its time left in seconds:\n%s", res.stderr)
	}

	w.dns.SetFault(w.name, dnstest.FaultServFail)
	if res := w.run(t, config, "plan", "--detailed-exitcode"); res.code != exitFailed {
		t.Errorf("plan with a failing binding: want exit 1, got %s", res)
	}
}

// TestE2EStatusExitCode: status --exit-code exits 1 while a binding's last
// run failed or it refuses a change, and 0 when all is well; status alone
// exits 0 either way.
func TestE2EStatusExitCode(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	w.answer("10.0.8.1")
	config := w.writeConfig(t, "tgsync.yaml", configOpts{})
	for _, step := range []struct {
		name  string
		world func()
		code  int // of status --exit-code
		want  string
	}{
		{"no run yet", func() {}, exitOK, ""},
		{"last run failed", func() { w.dns.SetFault(w.name, dnstest.FaultServFail) }, exitFailed, "SERVFAIL"},
		{"well again", func() { w.answer("10.0.8.1") }, exitOK, ""},
	} {
		step.world()
		if step.name != "no run yet" {
			w.run(t, config, "once")
		}
		for _, args := range [][]string{{"status", "--exit-code"}, {"status", "--exit-code", "--no-describe", "-o", "json"}} {
			res := w.run(t, config, args...)
			if res.code != step.code || !strings.Contains(res.stdout, step.want) {
				t.Errorf("%s: %s: want exit %d and %q on stdout, got %s", step.name, strings.Join(args, " "), step.code, step.want, res)
			}
		}
		if res := w.run(t, config, "status"); res.code != exitOK {
			t.Errorf("%s: status without --exit-code: want exit 0, got %s", step.name, res)
		}
	}
}

// TestE2ESDKLogsInTheLog: the SDK's own log lines go to tgsync's log, in
// its format, not to stderr in the SDK's. moto answers a state GetObject
// without a checksum, which the SDK notes at debug level.
func TestE2ESDKLogsInTheLog(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	w.answer("10.0.9.1")
	bucket := testenv.Bucket(t, w.moto.AWSConfig(), "sdklog")
	config := filepath.Join(w.dir, "s3.yaml")
	yaml := fmt.Sprintf("dns: {servers: [%q]}\nstate: {s3: s3://%s/sdklog/}\nbindings:\n  - {name: b, source: {dns: %s}, targetGroupArn: %s, ports: [443]}\n",
		w.dns.Addr(), bucket, w.name, w.arn)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var sdkLines int
	for range 2 { // the second run reads the state the first wrote
		res := w.run(t, config, "once", "--log-level", "debug", "--log-format", "json")
		if res.code != exitOK {
			t.Fatalf("once: %s", res)
		}
		for _, line := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
			var rec struct{ Level, Msg string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("not a JSON log line: %s", line)
			}
			if strings.Contains(rec.Msg, "checksum") && rec.Level == "DEBUG" {
				sdkLines++
			}
		}
	}
	if sdkLines == 0 {
		t.Errorf("no SDK log line in the JSON log")
	}
}

// TestE2ENoCredentials: without credentials anywhere, the commands that
// call AWS say in one line what to set, not where the SDK looked.
func TestE2ENoCredentials(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	w.answer("10.0.9.2")
	config := w.writeConfig(t, "tgsync.yaml", configOpts{})
	env := testenv.ChildEnv(t, "AWS_ENDPOINT_URL="+w.moto.URL, "AWS_REGION="+testenv.Region, "AWS_EC2_METADATA_DISABLED=true")
	for _, cmd := range []string{"plan", "once", "status"} {
		res := runTgsync(t, env, "--config", config, cmd)
		lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
		if res.code != exitFailed || len(lines) != 1 || !strings.HasPrefix(lines[0], "tgsync: no AWS credentials found: set AWS_PROFILE") ||
			!strings.Contains(lines[0], "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
			t.Errorf("%s without credentials: want exit 1 and one line saying what to set, got %s", cmd, res)
		}
		if strings.Contains(res.stderr, "IMDS") || strings.Contains(res.stderr, "failed to refresh") {
			t.Errorf("%s without credentials shows the SDK's provider chain:\n%s", cmd, res.stderr)
		}
	}
	if got := w.group(t); len(got) != 0 {
		t.Errorf("the group holds %v", got)
	}
}

// TestE2EStatusExitCodeRefusing: a binding that refuses a change, with no
// failure, makes status --exit-code exit 1 until the refusal clears.
func TestE2EStatusExitCodeRefusing(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	config := w.writeConfig(t, "tgsync.yaml", configOpts{afterMisses: 1})
	w.answer("10.0.6.1", "10.0.6.2", "10.0.6.3")
	if res := w.run(t, config, "once"); res.code != exitOK {
		t.Fatalf("setting up: %s", res)
	}
	// Three targets leave at once: at most half of those registered go
	// per run, and the rest is refused.
	w.answer("10.0.6.4")
	if res := w.run(t, config, "once"); res.code != exitOK || !strings.Contains(res.stdout, "! refuse deregister") {
		t.Fatalf("want a run that refuses a removal and succeeds, got %s", res)
	}
	if res := w.run(t, config, "status", "--exit-code", "--no-describe"); res.code != exitFailed {
		t.Errorf("status --exit-code while refusing: want exit 1, got %s", res)
	}
	if res := w.run(t, config, "status", "--no-describe"); res.code != exitOK {
		t.Errorf("status while refusing: want exit 0, got %s", res)
	}
	// A run removes what it may; within four runs the rest has gone.
	for i := 0; ; i++ {
		res := w.run(t, config, "once")
		if res.code != exitOK || i == 4 {
			t.Fatalf("want the removals to end without a refusal, got %s", res)
		}
		if !strings.Contains(res.stdout, "! refuse") {
			break
		}
	}
	if res := w.run(t, config, "status", "--exit-code", "--no-describe"); res.code != exitOK {
		t.Errorf("status --exit-code once the refusal cleared: want exit 0, got %s", res)
	}
}
