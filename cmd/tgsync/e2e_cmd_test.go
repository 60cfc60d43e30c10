package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
)

// TestE2EPlanChangesNothing checks that plan and once --dry-run print every
// planned change with its reason and leave the target group and the state
// file as they were.
func TestE2EPlanChangesNothing(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	const a, b, c = "10.0.4.1", "10.0.4.2", "10.0.4.3"
	w.answer(a, b)
	if res := w.run(t, w.writeConfig(t, "once.yaml", configOpts{}), "once"); res.code != 0 {
		t.Fatalf("setting up with once: %s", res)
	}
	// One miss is enough under this config, so that the plan holds a
	// deregistration as well as a registration.
	config := w.writeConfig(t, "plan.yaml", configOpts{afterMisses: 1})
	w.answer(a, c)
	groupBefore := w.group(t)
	stateBefore, err := os.ReadFile(w.state)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(groupBefore, []string{a, b}) {
		t.Fatalf("group before the plan is %v, want %v", groupBefore, []string{a, b})
	}

	register := []string{"+ register", c + ":443", "in the answer for " + w.name + " and not in the target group"}
	deregister := []string{"- deregister", b + ":443", "missed by 1 consecutive answers for " + w.name}
	for _, args := range [][]string{{"plan"}, {"once", "--dry-run"}, {"plan", "--output", "text"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := w.run(t, config, args...)
			if res.code != 0 {
				t.Fatalf("want exit 0, got %s", res)
			}
			for _, want := range [][]string{{"binding " + w.binding, w.name, w.arn}, register, deregister} {
				if !hasLine(res.stdout, want...) {
					t.Errorf("no line with all of %q in\n%s", want, res.stdout)
				}
			}
			if hasLine(res.stdout, a+":443") {
				t.Errorf("the plan mentions %s, which needs no change:\n%s", a, res.stdout)
			}
			w.assertUnchanged(t, groupBefore, stateBefore)
		})
	}
	for _, args := range [][]string{{"plan", "--output", "json"}, {"once", "--dry-run", "--output", "json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := w.run(t, config, args...)
			if res.code != 0 {
				t.Fatalf("want exit 0, got %s", res)
			}
			if !json.Valid([]byte(res.stdout)) {
				t.Fatalf("stdout is not JSON:\n%s", res.stdout)
			}
			var sum obs.RunSummary
			dec := json.NewDecoder(strings.NewReader(res.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sum); err != nil {
				t.Fatalf("decode %s: %v", res.stdout, err)
			}
			if !sum.DryRun || sum.StateWritten || len(sum.Bindings) != 1 {
				t.Fatalf("summary: dryRun %v, stateWritten %v, %d bindings; want true, false, 1", sum.DryRun, sum.StateWritten, len(sum.Bindings))
			}
			bs := sum.Bindings[0]
			if bs.Binding != w.binding || bs.Source != w.name || bs.TargetGroupArn != w.arn {
				t.Errorf("binding %q source %q arn %q, want %q %q %q", bs.Binding, bs.Source, bs.TargetGroupArn, w.binding, w.name, w.arn)
			}
			wantChanges := []obs.ChangeSummary{
				{Action: "register", Target: c + ":443", Reason: register[2]},
				{Action: "deregister", Target: b + ":443", Reason: deregister[2] + " over 0s"},
			}
			if !slices.Equal(bs.Changes, wantChanges) {
				t.Errorf("changes %+v, want %+v", bs.Changes, wantChanges)
			}
			// registered is what the group holds now; after, what it would
			// hold after the plan.
			if want := []string{a + ":443", c + ":443"}; !slices.Equal(bs.Desired, want) || !slices.Equal(bs.After, want) {
				t.Errorf("desired %v and after the plan %v, want both %v", bs.Desired, bs.After, want)
			}
			if want := []string{a + ":443", b + ":443"}; !slices.Equal(bs.Registered, want) {
				t.Errorf("registered %v, want what the group holds now, %v", bs.Registered, want)
			}
			w.assertUnchanged(t, groupBefore, stateBefore)
		})
	}
}

func (w *e2eWorld) assertUnchanged(t *testing.T, group []string, state []byte) {
	t.Helper()
	if got := w.group(t); !slices.Equal(got, group) {
		t.Errorf("a dry run changed the group from %v to %v", group, got)
	}
	if got, err := os.ReadFile(w.state); err != nil || !bytes.Equal(got, state) {
		t.Errorf("a dry run changed the state file (err %v):\nbefore %s\nafter  %s", err, state, got)
	}
}

// TestE2EMissingTargetGroup: a target group that does not exist fails the
// run, and the error says which binding and which ARN.
func TestE2EMissingTargetGroup(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	w.answer("10.0.5.1")
	missing := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + testenv.UniqueName("gone") + "/0123456789abcdef"
	config := w.writeConfig(t, "tgsync.yaml", configOpts{arn: missing})
	for _, args := range [][]string{{"once"}, {"plan"}} {
		res := w.run(t, config, args...)
		if res.code != 1 {
			t.Errorf("%s: want exit 1, got %s", args[0], res)
		}
		if !hasLine(res.stderr, "binding "+w.binding, missing) {
			t.Errorf("%s: no log line names both binding %s and %s:\n%s", args[0], w.binding, missing, res.stderr)
		}
	}
}

// TestE2EInvalidConfig: every command that reads the config refuses an
// invalid one with exit 2 and names the key path, before touching AWS.
func TestE2EInvalidConfig(t *testing.T) {
	t.Parallel()
	const valid = `bindings:
  - name: os
    source:
      dns: vpc-logs.e2e.internal
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/os/0123456789abcdef
    ports: [443]
`
	cases := []struct {
		name, yaml string
		want       []string // substrings of one line of stderr
	}{
		{"bad maxFraction", valid + "    deregister:\n      maxFraction: 1.5\n",
			[]string{"tgsync.yaml:8:", "bindings[0].deregister.maxFraction", "1.5"}},
		{"misspelt key", valid + "    deregister:\n      afterMiss: 2\n",
			[]string{"bindings[0].deregister.afterMiss", `did you mean "afterMisses"`}},
		{"bad DNS server", "dns:\n  servers: [resolver.internal]\n" + valid,
			[]string{"tgsync.yaml:2:", "dns.servers[0]", "must be an IP address"}},
		{"bad port", strings.Replace(valid, "[443]", "[0]", 1),
			[]string{"bindings[0].ports[0]", "1..65535"}},
		{"YAML syntax", "bindings: [\n", []string{"tgsync.yaml:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "tgsync.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"once", "plan", "validate", "run"} {
				res := runTgsync(t, testenv.ChildEnv(t, "TGSYNC_CONFIG="+path), cmd)
				if res.code != 2 {
					t.Errorf("%s: want exit 2, got %s", cmd, res)
				}
				if !hasLine(res.stderr, tc.want...) {
					t.Errorf("%s: no stderr line with all of %q:\n%s", cmd, tc.want, res.stderr)
				}
			}
		})
	}
}

// TestE2EDaemon runs 'tgsync run' with a short interval: it registers,
// follows a change on a later run, and on SIGTERM finishes and exits 0.
func TestE2EDaemon(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	const a, b, c = "10.0.6.1", "10.0.6.2", "10.0.6.3"
	w.answer(a, b)
	config := w.writeConfig(t, "tgsync.yaml", configOpts{})
	cmd := exec.Command(testenv.CLI(t), "--config", config, "run", "--interval", "1s", "--min-interval", "1s")
	cmd.Env = w.env
	cmd.Dir = w.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited closes once the process is gone; waitErr is set before.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	waitGroup := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := w.group(t)
			if slices.Equal(got, want) {
				return
			}
			select {
			case <-exited:
				t.Fatalf("the daemon exited (%v) before the group became %v:\n%s", waitErr, want, stderr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("group is %v after 15s, want %v:\n%s", got, want, stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitGroup(a, b)
	w.answer(a, b, c)
	waitGroup(a, b, c)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("daemon ended with %v, want exit 0:\n%s", waitErr, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("daemon still running 10s after SIGTERM:\n%s", stderr)
	}
	log := stderr.String()
	for _, want := range [][]string{{"daemon started"}, {"register", c + ":443"}, {"daemon stopped"}} {
		if !hasLine(log, want...) {
			t.Errorf("no log line with all of %q:\n%s", want, log)
		}
	}
	if hasLine(log, "binding failed") {
		t.Errorf("a run failed:\n%s", log)
	}
}

// TestE2EDemo plays the embedded demo as a user would and checks that the
// story holds what it promises.
func TestE2EDemo(t *testing.T) {
	t.Parallel()
	res := runTgsync(t, testenv.ChildEnv(t), "demo", "--step", "0")
	if res.code != 0 {
		t.Fatalf("want exit 0, got %s", res)
	}
	count := func(parts ...string) int {
		n := 0
		sc := bufio.NewScanner(strings.NewReader(res.stdout))
		for sc.Scan() {
			if hasLine(sc.Text(), parts...) {
				n++
			}
		}
		return n
	}
	checks := []struct {
		what  string
		parts []string
		min   int
	}{
		{"registrations with reasons", []string{"tgsync + register", "not in the target group"}, 6},
		{"the refusal during the DNS outage", []string{"tgsync ! refuses to deregister", "[source-failed]", "SERVFAIL", "removing nothing"}, 1},
		{"the refusal on the empty answer", []string{"tgsync ! refuses to deregister", "[source-failed]", "no address records"}, 1},
		{"deregistrations with reasons", []string{"tgsync - deregister", "missed by 3 consecutive answers"}, 3},
		{"pending removals", []string{"tgsync ~ waits"}, 1},
		{"nothing removed while in DNS", []string{"removed while still in DNS: 0"}, 1},
	}
	for _, c := range checks {
		if n := count(c.parts...); n < c.min {
			t.Errorf("%s: %d line(s) with all of %q, want at least %d", c.what, n, c.parts, c.min)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", res.stdout)
	}
}

// TestE2EOnceFollowsDNS runs 'tgsync once' as a process against moto while
// the DNS answer moves, and checks the target group after every run: new
// addresses are registered at once, an absent one stays until it missed
// two successful runs, and a failed lookup changes nothing and counts no
// miss.
func TestE2EOnceFollowsDNS(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	config := w.writeConfig(t, "tgsync.yaml", configOpts{afterMisses: 2, dnsTimeout: 250 * time.Millisecond})

	const a, b, c, d, e, f, g = "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.2.4", "10.0.2.5", "10.0.2.6", "10.0.3.7"
	steps := []struct {
		name   string
		answer []string      // what DNS answers, when fault is FaultNone
		fault  dnstest.Fault // a failure of the whole lookup
		// wantCode, wantGroup and wantMisses are after the run.
		wantCode   int
		wantGroup  []string
		wantMisses map[string]int
		// wantLog are lines the run's log must hold, each a set of
		// substrings of one line.
		wantLog [][]string
	}{
		{name: "first answer is registered", answer: []string{a, b},
			wantGroup: []string{a, b}, wantMisses: map[string]int{},
			wantLog: [][]string{{"register", a + ":443", "not in the target group"}, {"register", b + ":443"}}},
		{name: "an added address is registered", answer: []string{a, b, c},
			wantGroup: []string{a, b, c}, wantMisses: map[string]int{}},
		{name: "a removed address stays after one miss", answer: []string{a, c},
			wantGroup: []string{a, b, c}, wantMisses: map[string]int{b: 1}},
		{name: "the second miss removes it", answer: []string{a, c},
			wantGroup: []string{a, c}, wantMisses: map[string]int{},
			wantLog: [][]string{{"deregister", b + ":443", "missed by 2 consecutive answers for " + w.name}}},
		{name: "swap all: new addresses join, old ones stay", answer: []string{d, e, f},
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1}},
		{name: "SERVFAIL changes nothing", fault: dnstest.FaultServFail, wantCode: 1,
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1},
			wantLog: [][]string{{"binding failed", w.binding, "SERVFAIL"}}},
		{name: "NXDOMAIN changes nothing", fault: dnstest.FaultNXDomain, wantCode: 1,
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1},
			wantLog: [][]string{{"binding failed", w.binding, "NXDOMAIN"}}},
		{name: "a timeout changes nothing", fault: dnstest.FaultTimeout, wantCode: 1,
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1},
			wantLog: [][]string{{"binding failed", w.binding, "timeout"}}},
		{name: "DNS back: the old addresses miss a second time and go", answer: []string{d, e, f},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{},
			wantLog: [][]string{{"deregister", a + ":443", "missed by 2"}, {"deregister", c + ":443", "missed by 2"}}},
		{name: "one address leaves", answer: []string{d, e},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{f: 1}},
		{name: "it comes back: its misses reset", answer: []string{d, e, f},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{}},
		{name: "it leaves again and waits anew", answer: []string{d, e},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{f: 1}},
		{name: "add and remove in one run", answer: []string{d, e, g},
			wantGroup: []string{d, e, g}, wantMisses: map[string]int{}},
	}

	// consecutive counts, independently of tgsync's state, the successful
	// runs in a row whose answer lacked each member of the group.
	consecutive := map[string]int{}
	for i, st := range steps {
		if st.fault == dnstest.FaultNone {
			w.answer(st.answer...)
		} else {
			w.dns.SetFault(w.name, st.fault)
		}
		before := w.group(t)
		res := w.run(t, config, "once")
		after := w.group(t)
		if res.code != st.wantCode {
			t.Fatalf("step %d (%s): %s", i+1, st.name, res)
		}
		if !slices.Equal(after, sorted(st.wantGroup)) {
			t.Errorf("step %d (%s): group %v, want %v\n%s", i+1, st.name, after, sorted(st.wantGroup), res)
		}
		if got := w.misses(t); !maps.Equal(got, st.wantMisses) {
			t.Errorf("step %d (%s): misses in the state file %v, want %v", i+1, st.name, got, st.wantMisses)
		}
		for _, want := range st.wantLog {
			if !hasLine(res.stderr, want...) {
				t.Errorf("step %d (%s): no log line with all of %q\n%s", i+1, st.name, want, res.stderr)
			}
		}

		// The rules, checked on what moto shows rather than on the table.
		if st.fault != dnstest.FaultNone {
			if !slices.Equal(after, before) {
				t.Errorf("step %d (%s): a failed lookup changed the group from %v to %v", i+1, st.name, before, after)
			}
			continue
		}
		for _, ip := range st.answer {
			if !slices.Contains(after, ip) {
				t.Errorf("step %d (%s): %s is in the answer but not in the group %v", i+1, st.name, ip, after)
			}
		}
		for _, ip := range before {
			if slices.Contains(st.answer, ip) {
				delete(consecutive, ip)
				continue
			}
			consecutive[ip]++
			if !slices.Contains(after, ip) && consecutive[ip] < 2 {
				t.Errorf("step %d (%s): %s removed after %d missed run(s), want at least 2", i+1, st.name, ip, consecutive[ip])
			}
			if slices.Contains(after, ip) && consecutive[ip] >= 2 {
				t.Errorf("step %d (%s): %s still in the group after %d missed runs", i+1, st.name, ip, consecutive[ip])
			}
		}
	}
	last := steps[len(steps)-1].answer
	if got := w.group(t); !slices.Equal(got, sorted(last)) {
		t.Errorf("at the end the group is %v, want the answer %v", got, sorted(last))
	}
}

// TestDemoStatusPageInChromium runs 'tgsync demo --listen' on loopback, as a
// person would, and renders its status page in headless Chromium once the
// story has played: the page alone must explain what happened.
func TestDemoStatusPageInChromium(t *testing.T) {
	t.Parallel()
	chrome := testenv.NeedChromium(t)
	cmd := exec.Command(testenv.CLI(t), "demo", "--step", "0", "--listen", "127.0.0.1:0")
	cmd.Env = testenv.ChildEnv(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// The demo prints the page's address first and announces the end of
	// the story; after that the page holds the final state.
	var pageURL string
	var story strings.Builder
	lines := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for lines.Scan() {
		line := lines.Text()
		story.WriteString(line + "\n")
		if u, ok := strings.CutPrefix(line, "Status page: "); ok {
			pageURL = u
		}
		if strings.Contains(line, "stays up until interrupted") {
			break
		}
	}
	if pageURL == "" || !strings.Contains(story.String(), "removed while still in DNS: 0") {
		t.Fatalf("the demo did not announce its page or did not finish:\n%s", story.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	dom := chrome.DumpDOM(t, pageURL)
	for _, want := range []string{
		"opensearch-dashboards",
		"vpc-logs-abc123.ap-northeast-1.es.amazonaws.com",
		"10.0.1.21:443", "10.0.2.22:443", "10.0.3.23:443", // the new nodes
		"10.0.1.11:443",       // an old node, draining
		"healthy", "draining", // states
		"missed by 3 consecutive answers", // why the old nodes left
		"SERVFAIL",                        // why the outage removed nothing
		"removing nothing",
		"in the answer for", // why the new nodes came
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page does not show %q", want)
		}
	}

	shot := chrome.Screenshot(t, pageURL, testenv.PhoneWidth, testenv.PhoneHeight)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != testenv.PhoneWidth || b.Dy() != testenv.PhoneHeight {
		t.Errorf("screenshot is %dx%d, want the phone's %dx%d", b.Dx(), b.Dy(), testenv.PhoneWidth, testenv.PhoneHeight)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("demo after interrupt: %v, want exit 0", err)
	}
}
