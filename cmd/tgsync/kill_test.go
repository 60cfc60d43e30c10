package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
)

// killFigures are what the rounds of one target group counted.
type killFigures struct {
	runs, kills int
	// afterChange counts the kills that came after moto had answered a
	// RegisterTargets or DeregisterTargets of the run.
	afterChange int
	conflicts   int
	// gaveUp counts runs that lost every save attempt to other runs;
	// races, runs that failed because moto refused to deregister a
	// target another run had just deregistered.
	gaveUp, races int
	// wrongful counts targets an answer held that a round deregistered;
	// gone, those of them still out of the group after the round.
	wrongful, gone  int
	leaked, missing int
}

func (f *killFigures) add(g killFigures) {
	f.runs += g.runs
	f.kills += g.kills
	f.afterChange += g.afterChange
	f.conflicts += g.conflicts
	f.gaveUp += g.gaveUp
	f.races += g.races
	f.wrongful += g.wrongful
	f.gone += g.gone
	f.leaked += g.leaked
	f.missing += g.missing
}

// TestSharedGroupKills is rule 9 with real processes and real kills:
// shared bindings on one target group in moto, each following its own DNS
// name, their answers churning every round; each round starts one to
// three 'tgsync once' at once on one state file and SIGKILLs about a
// third of them, half after a random delay up to a typical run's length,
// half as moto answers their first or second RegisterTargets or
// DeregisterTargets (the window between the call and the save). A proxy
// between each process and moto records the changes it made. No round may
// deregister a target that a binding's answer of the round holds, and
// once the churn stops, quiet runs must leave the group equal to the
// union of the answers: nothing a killed run registered is forgotten,
// nothing wanted is missing.
func TestSharedGroupKills(t *testing.T) {
	t.Parallel()
	rounds := 40
	if testing.Short() {
		rounds = 12
	}
	tests := []struct {
		name     string
		bindings int
		seed     uint64
	}{
		{"two bindings", 2, 1},
		{"three bindings", 3, 2},
	}
	var mu sync.Mutex
	var total killFigures
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newKillWorld(t, tt.bindings, tt.seed).churn(t, rounds)
			mu.Lock()
			defer mu.Unlock()
			total.add(f)
		})
	}
	t.Cleanup(func() {
		t.Logf("shared group kills: %d groups × %d rounds: %d runs, %d killed (%d after a change in AWS), %d save conflicts (%d runs gave up), %d deregister races, %d wrongful removals (%d still out after the round), %d targets leaked, %d missing",
			len(tests), rounds, total.runs, total.kills, total.afterChange, total.conflicts, total.gaveUp, total.races, total.wrongful, total.gone, total.leaked, total.missing)
		if total.runs > 0 && total.afterChange == 0 {
			t.Errorf("no kill came after a change in AWS: the test tested nothing")
		}
	})
}

// killPool is the addresses the answers draw from: few, so that the
// bindings' answers overlap and targets pass from one to another.
var killPool = func() []string {
	var out []string
	for i := range 8 {
		out = append(out, fmt.Sprintf("10.0.8.%d", 10+i))
	}
	return out
}()

// killWorld is one target group in moto with shared bindings on it, their
// DNS names and a state file, and the runs made on it.
type killWorld struct {
	*e2eWorld
	rng     *rand.Rand
	bin     string
	config  string
	names   []string   // the bindings; binding i follows names[i]+".e2e.internal"
	answers [][]string // what each binding's name answers
	f       killFigures
	history []string
}

func newKillWorld(t *testing.T, bindings int, seed uint64) *killWorld {
	k := &killWorld{e2eWorld: newE2EWorld(t), rng: rand.New(rand.NewPCG(seed, 0x6b11)), bin: testenv.CLI(t)}
	for i := range bindings {
		k.names = append(k.names, fmt.Sprintf("%s-%d", k.binding, i))
	}
	k.answers = make([][]string, bindings)
	var b strings.Builder
	fmt.Fprintf(&b, "dns:\n  servers: [%q]\n  timeout: 1s\n  lookups: 1\nstate:\n  file: %q\nbindings:\n", k.dns.Addr(), k.state)
	for _, n := range k.names {
		// A target leaves at its first miss, so that every round can
		// remove what the last one's answers dropped.
		fmt.Fprintf(&b, `  - name: %s
    source:
      dns: %s.e2e.internal
    targetGroupArn: %s
    ports: [%d]
    shared: true
    deregister:
      afterMisses: 1
      afterDuration: 0s
      maxFraction: 1
`, n, n, k.arn, e2ePort)
	}
	k.config = filepath.Join(k.dir, "shared.yaml")
	if err := os.WriteFile(k.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// churn runs the rounds and the quiet runs after them, checks the group
// against the answers, and returns the figures.
func (k *killWorld) churn(t *testing.T, rounds int) killFigures {
	quiet := func() killPlan { return killPlan{} }
	// The typical run, measured on a few rounds without kills, bounds
	// the moment of a kill.
	var took []time.Duration
	for range 3 {
		k.setAnswers(false, k.pick)
		for _, r := range k.round(t, 1, quiet) {
			took = append(took, r.took)
		}
	}
	slices.Sort(took)
	typical := took[len(took)/2]
	for range rounds {
		k.setAnswers(false, k.pick)
		k.round(t, 1+k.rng.IntN(3), func() killPlan {
			// Two in five are doomed, one of them by the clock and one by
			// a call; a doomed run that ends first, or makes fewer
			// changes, lives.
			switch k.rng.IntN(5) {
			case 0:
				return killPlan{after: 1 + time.Duration(k.rng.Int64N(int64(typical)))}
			case 1:
				return killPlan{atChange: 1 + k.rng.IntN(2)}
			}
			return killPlan{}
		})
	}
	// The churn stops on one address per binding, so that most of what
	// the rounds registered must go: quiet runs, one at a time.
	k.setAnswers(true, func() []string { return []string{killPool[k.rng.IntN(len(killPool))]} })
	for range 3 {
		k.round(t, 1, quiet)
	}
	want := k.wanted()
	got := k.group(t)
	for _, ip := range got {
		if _, ok := want[ip]; !ok {
			k.f.leaked++
			t.Errorf("leaked: %s is in the group but in no answer", ip)
		}
	}
	for ip := range want {
		if !slices.Contains(got, ip) {
			k.f.missing++
			t.Errorf("missing: %s is in an answer but not in the group", ip)
		}
	}
	if t.Failed() {
		t.Logf("typical run %s; history:\n%s", typical, strings.Join(k.history, "\n"))
	}
	return k.f
}

// pick draws an answer from the pool: each address with odds 1/3, at
// least one.
func (k *killWorld) pick() []string {
	var out []string
	for _, ip := range killPool {
		if k.rng.IntN(3) == 0 {
			out = append(out, ip)
		}
	}
	if len(out) == 0 {
		out = append(out, killPool[k.rng.IntN(len(killPool))])
	}
	return out
}

// setAnswers draws a new answer for every binding if all, else for the
// first one, those without one and each other with odds 1/2, and serves
// every answer.
func (k *killWorld) setAnswers(all bool, draw func() []string) {
	for i, n := range k.names {
		if all || i == 0 || k.answers[i] == nil || k.rng.IntN(2) == 0 {
			k.answers[i] = draw()
		}
		addrs := make([]netip.Addr, len(k.answers[i]))
		for j, ip := range k.answers[i] {
			addrs[j] = netip.MustParseAddr(ip)
		}
		k.dns.SetA(n+".e2e.internal", 60, addrs...)
	}
}

// wanted maps every address an answer holds to a binding whose answer
// does.
func (k *killWorld) wanted() map[string]string {
	out := map[string]string{}
	for i, n := range k.names {
		for _, ip := range k.answers[i] {
			out[ip] = n
		}
	}
	return out
}

// killPlan says when a run is killed: after a delay from its start, or
// as moto answers its atChange-th RegisterTargets or DeregisterTargets,
// before the answer reaches it (the window between the call and the
// save). The zero plan never kills.
type killPlan struct {
	after    time.Duration
	atChange int
}

func (p killPlan) String() string {
	switch {
	case p.after > 0:
		return fmt.Sprintf("kill at %s", p.after.Round(time.Millisecond))
	case p.atChange > 0:
		return fmt.Sprintf("kill at change %d", p.atChange)
	}
	return ""
}

// killRun is one 'tgsync once' process of a round.
type killRun struct {
	cmd            *exec.Cmd
	aws            *awsRecorder
	stdout, stderr bytes.Buffer
	plan           killPlan
	took           time.Duration
}

// round starts n runs at once, kills each as its plan says, and checks
// that no target an answer holds was deregistered: neither between the
// group before and after the round, nor in a call any run made.
func (k *killWorld) round(t *testing.T, n int, plan func() killPlan) []*killRun {
	t.Helper()
	want := k.wanted()
	before := k.group(t)
	runs := make([]*killRun, n)
	for i := range runs {
		r := &killRun{plan: plan()}
		r.cmd = exec.Command(k.bin, "--config", k.config, "once", "--output", "json")
		r.aws = newAWSRecorder(t, k.moto.URL, r.plan.atChange)
		r.cmd.Env = append(slices.Clone(k.env), "AWS_ENDPOINT_URL="+r.aws.srv.URL)
		r.cmd.Dir = k.dir
		r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		runs[i] = r
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		start := time.Now()
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.aws.arm(r.cmd.Process)
		var kill *time.Timer
		if r.plan.after > 0 {
			kill = time.AfterFunc(r.plan.after, func() { _ = r.cmd.Process.Kill() })
		}
		wg.Go(func() {
			_ = r.cmd.Wait()
			r.took = time.Since(start)
			if kill != nil {
				kill.Stop()
			}
			// Close waits for the calls in flight: the record is whole.
			r.aws.srv.Close()
		})
	}
	wg.Wait()
	after := k.group(t)

	number := len(k.history) + 1
	// wrongful holds, by target, how each wrongful removal showed.
	wrongful := map[string][]string{}
	for _, ip := range before {
		if _, ok := want[ip]; ok && !slices.Contains(after, ip) {
			wrongful[ip] = append(wrongful[ip], "out of the group after the round")
			k.f.gone++
		}
	}
	var lines []string
	for i, r := range runs {
		line := fmt.Sprintf("run %d: %s", i, r.took.Round(time.Millisecond))
		if p := r.plan.String(); p != "" {
			line += ", " + p
		}
		changes := r.aws.changes()
		for _, c := range changes {
			line += fmt.Sprintf(", %s %v at %s", c.action, c.ips, c.at.Round(time.Millisecond))
			if c.action == "DeregisterTargets" {
				for _, ip := range c.ips {
					if _, ok := want[ip]; ok {
						wrongful[ip] = append(wrongful[ip], fmt.Sprintf("deregistered by run %d", i))
					}
				}
			}
		}
		lines = append(lines, line+", "+k.ended(t, number, i, r, len(changes)))
	}
	for ip, how := range wrongful {
		k.f.wrongful++
		t.Errorf("round %d: %s %s, although %s's answer holds it", number, ip, strings.Join(how, ", "), want[ip])
	}
	k.history = append(k.history, fmt.Sprintf("round %d: answers %v, group %v -> %v | %s",
		number, k.answers, before, after, strings.Join(lines, "; ")))
	return runs
}

// ended counts how run i of round number ended, which made changes
// changes in AWS, and says it in words. A run that was not killed must
// succeed, or fail for one of two reasons that lose nothing: its saves
// all lost to other runs, or moto refused a deregistration another run
// had just made.
func (k *killWorld) ended(t *testing.T, number, i int, r *killRun, changes int) string {
	t.Helper()
	k.f.runs++
	ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		k.f.kills++
		if changes > 0 {
			k.f.afterChange++
		}
		return "killed"
	}
	var sum obs.RunSummary
	if err := json.Unmarshal(r.stdout.Bytes(), &sum); err != nil {
		t.Errorf("round %d: run %d: stdout is not a run summary (%v):\n%s", number, i, err, r.stdout.String())
	}
	k.f.conflicts += sum.Conflicts
	how := fmt.Sprintf("%d conflicts", sum.Conflicts)
	log := r.stderr.String()
	switch {
	case ws.ExitStatus() == 0:
	case hasLine(log, "run failed", tgsync.ErrConflict.Error()):
		k.f.gaveUp++
		how += ", gave up"
	case hasLine(log, "DeregisterTargets", "InvalidTarget", "does not exist"):
		k.f.races++
		how += ", deregister race"
	default:
		t.Errorf("round %d: run %d ended with %s:\n%s", number, i, r.cmd.ProcessState, log)
	}
	return how
}

// awsRecorder stands between one tgsync process and moto and records the
// target changes moto answered, so that the test knows what a run changed
// in AWS, killed or not. It kills the process as moto answers the
// killAt-th change, before the answer goes on.
type awsRecorder struct {
	srv    *httptest.Server
	start  time.Time
	killAt int
	mu     sync.Mutex
	proc   *os.Process // set once the process started
	log    []awsChange
}

// awsChange is one RegisterTargets or DeregisterTargets moto answered.
type awsChange struct {
	action string
	ips    []string
	at     time.Duration // since the recorder started
}

func newAWSRecorder(t *testing.T, moto string, killAt int) *awsRecorder {
	t.Helper()
	target, err := url.Parse(moto)
	if err != nil {
		t.Fatal(err)
	}
	a := &awsRecorder{start: time.Now(), killAt: killAt}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	proxy.ModifyResponse = func(res *http.Response) error {
		form, _ := res.Request.Context().Value(formKey{}).(url.Values)
		action := form.Get("Action")
		if res.StatusCode != http.StatusOK || (action != "RegisterTargets" && action != "DeregisterTargets") {
			return nil
		}
		c := awsChange{action: action, at: time.Since(a.start)}
		for i := 1; form.Has(fmt.Sprintf("Targets.member.%d.Id", i)); i++ {
			c.ips = append(c.ips, form.Get(fmt.Sprintf("Targets.member.%d.Id", i)))
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.log = append(a.log, c)
		if len(a.log) == a.killAt && a.proc != nil {
			_ = a.proc.Kill()
		}
		return nil
	}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return // the process died while sending
		}
		form, _ := url.ParseQuery(string(body))
		// A call that reached the proxy goes on to moto even when its
		// process dies meanwhile, as it would have without the proxy. (A
		// context that can end keeps the proxy from ending it on the
		// client's close.)
		ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
		defer cancel()
		req = req.WithContext(context.WithValue(ctx, formKey{}, form))
		req.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, req)
	}))
	return a
}

// formKey carries a call's parsed form from the proxy's handler to its
// ModifyResponse.
type formKey struct{}

// arm gives the recorder the process to kill.
func (a *awsRecorder) arm(p *os.Process) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.proc = p
}

func (a *awsRecorder) changes() []awsChange {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.log)
}
