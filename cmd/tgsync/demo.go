//go:build !tgsync_lambda

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/web"
	"github.com/tgsync/tgsync/store/memstore"
)

// The demo plays case 1: an OpenSearch VPC domain behind an internal ALB,
// whose data nodes move in a blue/green deployment.
const (
	demoDomain = "vpc-logs-abc123.ap-northeast-1.es.amazonaws.com"
	demoARN    = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5c"
	demoPort   = 443
)

var (
	demoBlue  = []string{"10.0.1.11", "10.0.2.12", "10.0.3.13"}
	demoGreen = []string{"10.0.1.21", "10.0.2.22", "10.0.3.23"}
)

// demoStep is one simulated minute of the story: what happens in the
// world before tgsync runs.
type demoStep struct {
	story string
	world func(d *demoWorld)
}

func demoScript() []demoStep {
	return []demoStep{
		{"The domain has three data nodes; the target group is empty.", func(d *demoWorld) { d.answer(demoBlue...) }},
		{"The ALB health checks reach the nodes.", nil},
		{"A blue/green deployment starts: DNS now answers old and new nodes.", func(d *demoWorld) { d.answer(append(slices.Clone(demoBlue), demoGreen...)...) }},
		{"The new nodes pass their health checks.", nil},
		{"The deployment moves the shards: DNS answers only the new nodes.", func(d *demoWorld) { d.answer(demoGreen...) }},
		{"The VPC resolver fails (SERVFAIL) - a naive sync would empty the group now.", func(d *demoWorld) { d.dns.SetFault(demoDomain, dnstest.FaultServFail) }},
		{"DNS still fails, now with an empty answer.", func(d *demoWorld) { d.dns.SetFault(demoDomain, dnstest.FaultEmpty) }},
		{"DNS is back. The old nodes shut down and fail their health checks.", func(d *demoWorld) {
			d.dns.SetFault(demoDomain, dnstest.FaultNone)
			for _, ip := range demoBlue {
				d.nodes.stop(ip)
			}
		}},
		{"The old nodes are gone from DNS for 4 minutes and 3 answers: their grace runs out.", nil},
		{"The ALB lets the old targets' connections finish (deregistration delay).", nil},
		{"The old targets have drained. Steady state: one describe call, no change.", nil},
	}
}

func demoCommand(c *CLI, g *globals) *cobra.Command {
	var step time.Duration
	var listen string
	cmd := &cobra.Command{
		Use:   "demo [flags]",
		Short: demoShort,
		Long: `Play an OpenSearch blue/green node move on an embedded world (a DNS server, ELB in
memory with real health checks): watch tgsync register the new nodes, ride out a
failing resolver without removing anything, and let the old nodes go only after
their grace. Needs no AWS and no config.`,
		Example: demoExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen != "" && !cmd.Flags().Changed("step") {
				step = 3 * time.Second
			}
			return playDemo(cmd.Context(), c, g, step, listen)
		},
		Annotations: map[string]string{annotationExitCodes: "  0  the story ended as it should\n  1  tgsync did not do what the story expects\n  2  usage error"},
	}
	demoFlags(cmd, &step, &listen)
	logFlags(cmd, g)
	return cmd
}

func playDemo(ctx context.Context, c *CLI, g *globals, step time.Duration, listen string) error {
	if step < 0 || step > 5*time.Second {
		return usageErrorf("--step %s: want 0 to 5s so that the story ends within a minute", step)
	}
	d, err := newDemoWorld()
	if err != nil {
		return &exitStatus{code: exitFailed, msg: err.Error()}
	}
	defer d.close()
	if listen != "" {
		addr, stop, err := serveStatus(g.log, listen, web.Options{Status: d.live.Status, Metrics: d.metrics.Handler(),
			Now: d.clock.Now, Title: "tgsync demo"})
		if err != nil {
			return &exitStatus{code: exitUsage, msg: err.Error()}
		}
		defer stop()
		fmt.Fprintf(c.Stdout, "Status page: http://%s/\n", addr)
	}
	sum, err := d.play(ctx, c.Stdout, step)
	if err != nil {
		return &exitStatus{code: exitFailed, msg: err.Error()}
	}
	if listen != "" && ctx.Err() == nil {
		fmt.Fprintf(c.Stdout, "\nThe status page stays up until interrupted (Ctrl-C).\n")
		<-ctx.Done()
	}
	if !sum.ok() {
		return exit(exitFailed)
	}
	return nil
}

// demoWorld is the embedded world: a DNS server, ELB in memory with health
// checks against real HTTP servers, and the real elbv2 adapter and
// reconciler on them.
type demoWorld struct {
	clock *elbv2fake.ManualClock
	dns   *dnstest.Server
	elb   *elbv2fake.World
	nodes *demoNodes
	rec   *tgsync.Reconciler
	store *memstore.Store
	// live and metrics feed the status page of --listen.
	live    *status.Live
	metrics *obs.Metrics
}

// answer makes DNS answer the domain with ips.
func (d *demoWorld) answer(ips ...string) {
	addrs := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		addrs[i] = netip.MustParseAddr(ip)
	}
	d.dns.SetA(demoDomain, 60, addrs...)
}

func newDemoWorld() (*demoWorld, error) {
	d := &demoWorld{clock: elbv2fake.NewManualClock(time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC))}
	var err error
	if d.dns, err = dnstest.Start(); err != nil {
		return nil, fmt.Errorf("start DNS server: %w", err)
	}
	d.nodes = &demoNodes{servers: map[string]*http.Server{}, addrs: map[string]string{}}
	for i, ip := range slices.Concat(demoBlue, demoGreen) {
		if err := d.nodes.start(ip, i); err != nil {
			d.close()
			return nil, err
		}
	}
	d.elb = elbv2fake.New(d.clock, elbv2fake.Options{Prober: d.nodes.probe})
	if err := d.elb.CreateTargetGroup(demoARN, elbv2fake.GroupSpec{
		Port:         demoPort,
		VPCPrefixes:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		Zones:        []string{"ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"},
		DrainDelay:   90 * time.Second,
		HealthyAfter: 50 * time.Second,
	}); err != nil {
		d.close()
		return nil, err
	}
	resolver, err := dns.New(dns.Config{Servers: []string{d.dns.Addr()}, Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		d.close()
		return nil, err
	}
	d.store = memstore.New()
	d.rec = &tgsync.Reconciler{
		Bindings: []tgsync.Binding{{
			Name:           "opensearch-dashboards",
			Source:         resolver.Source(demoDomain, dns.Families{dns.IPv4}),
			TargetGroupARN: demoARN,
			Ports:          []uint16{demoPort},
			Policy:         tgsync.DefaultPolicy(),
		}},
		// The adapter as tgsync runs it, default rate limits included:
		// the story's few calls fit in their bursts.
		Groups: elbv2.New(d.elb, elbv2.Options{}),
		Store:  d.store,
		Now:    d.clock.Now,
	}
	d.live = status.NewLive(status.SpecsFrom(d.rec.Bindings), d.clock.Now)
	d.metrics = startMetrics(d.rec.Bindings)
	return d, nil
}

func (d *demoWorld) close() {
	if d.nodes != nil {
		d.nodes.closeAll()
	}
	if d.dns != nil {
		_ = d.dns.Close()
	}
}

// demoSummary is what the story ends with, and what the demo checks.
type demoSummary struct {
	runs, registered, deregistered, refusals int
	wrongful                                 []string
	final, want                              []string
}

func (s demoSummary) ok() bool { return len(s.wrongful) == 0 && slices.Equal(s.final, s.want) }

// play runs the script, one reconcile per simulated minute, and tells the
// story on out.
func (d *demoWorld) play(ctx context.Context, out io.Writer, step time.Duration) (demoSummary, error) {
	var sum demoSummary
	start := d.clock.Now()
	fmt.Fprintf(out, "tgsync demo: OpenSearch domain %s\nbehind an internal ALB target group os-dash (type ip, port %d).\n", demoDomain, demoPort)
	fmt.Fprintf(out, "Simulated time: one tgsync run per minute. Policy: a target leaves after 3 missed answers and 3 minutes,\nat most half the group per run, never the last healthy target. Every line marked tgsync is its own reason.\n")
	for i, st := range demoScript() {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		if st.world != nil {
			st.world(d)
		}
		fmt.Fprintf(out, "\n[+%02d:00] %s\n", int(d.clock.Now().Sub(start).Minutes()), st.story)
		before := d.elb.Calls()
		res, err := d.rec.Run(ctx, tgsync.RunOptions{})
		d.live.Record(res, err)
		d.metrics.Observe(res, obs.DiffCalls(before, d.elb.Calls()), nil)
		if err != nil {
			return sum, fmt.Errorf("run %d: %w", i+1, err)
		}
		sum.runs++
		d.tell(out, res, &sum)
		if step > 0 {
			select {
			case <-ctx.Done():
				return sum, ctx.Err()
			case <-time.After(step):
			}
		}
		d.clock.Advance(time.Minute)
	}
	for _, o := range d.elb.Targets(demoARN) {
		sum.final = append(sum.final, o.Target.String())
	}
	for _, ip := range demoGreen {
		sum.want = append(sum.want, netip.AddrPortFrom(netip.MustParseAddr(ip), demoPort).String())
	}
	fmt.Fprintf(out, "\nSummary after %d runs (%s simulated):\n", sum.runs, d.clock.Now().Sub(start))
	fmt.Fprintf(out, "  registered %d, deregistered %d, refused %d time(s), removed while still in DNS: %d\n",
		sum.registered, sum.deregistered, sum.refusals, len(sum.wrongful))
	fmt.Fprintf(out, "  target group now: %s\n  DNS answers:      %s\n", strings.Join(sum.final, " "), strings.Join(sum.want, " "))
	if sum.ok() {
		fmt.Fprintf(out, "  The group followed the nodes without ever being empty, and the DNS outage removed nothing.\n")
	} else {
		fmt.Fprintf(out, "  FAILED: the group does not match the answer, or a target was removed while in DNS: %v\n", sum.wrongful)
	}
	return sum, nil
}

// tell prints one run: tgsync's changes, refusals and waits, then the group.
func (d *demoWorld) tell(out io.Writer, res tgsync.RunResult, sum *demoSummary) {
	for _, b := range res.Bindings {
		switch {
		case b.SourceErr != nil:
			fmt.Fprintf(out, "  DNS      failed: %v\n", b.SourceErr)
		default:
			var ips []string
			for _, a := range b.Answer.Addrs {
				ips = append(ips, a.String())
			}
			fmt.Fprintf(out, "  DNS      %s (ttl %s)\n", strings.Join(ips, " "), b.Answer.TTL)
		}
		answered := map[string]bool{}
		for _, a := range b.Answer.Addrs {
			answered[a.String()] = true
		}
		for _, c := range b.Registered {
			sum.registered++
			fmt.Fprintf(out, "  tgsync + register   %-15s %s\n", c.Target, c.Reason)
		}
		for _, c := range b.Deregistered {
			sum.deregistered++
			if b.SourceErr != nil || answered[c.Target.IP.String()] {
				sum.wrongful = append(sum.wrongful, c.Target.String())
			}
			fmt.Fprintf(out, "  tgsync - deregister %-15s %s\n", c.Target, c.Reason)
		}
		for _, r := range b.Plan.Refused {
			sum.refusals++
			target := ""
			if r.Target.IP.IsValid() {
				target = r.Target.String() + " "
			}
			fmt.Fprintf(out, "  tgsync ! refuses to %s %s[%s]: %s\n", r.Action, target, r.Rule, r.Reason)
		}
		for _, p := range b.Plan.Pending {
			fmt.Fprintf(out, "  tgsync ~ waits      %-15s missed %d of 3 answers over %s; %d more and %s to go\n",
				p.Target, p.Misses, p.MissingFor.Round(time.Second), p.MissesLeft, p.TimeLeft.Round(time.Second))
		}
		if b.Err != nil && b.SourceErr == nil {
			fmt.Fprintf(out, "  tgsync error: %v\n", b.Err)
		}
	}
	var group []string
	for _, o := range d.elb.Targets(demoARN) {
		group = append(group, fmt.Sprintf("%s %s", o.Target, o.State))
	}
	if len(group) == 0 {
		group = []string{"(empty)"}
	}
	fmt.Fprintf(out, "  group    %s\n", strings.Join(group, ", "))
}

// demoNodes are small HTTP servers standing in for the data nodes, one per
// node on its own loopback address where the system allows it, so that
// health checks are real requests.
type demoNodes struct {
	mu      sync.Mutex
	servers map[string]*http.Server
	addrs   map[string]string // node IP -> listening address
}

func (n *demoNodes) start(ip string, i int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 11+i))
	if err != nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("start node %s: %w", ip, err)
		}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"name":"node-%s","status":"green"}`, ip)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.servers[ip], n.addrs[ip] = srv, l.Addr().String()
	return nil
}

func (n *demoNodes) stop(ip string) {
	n.mu.Lock()
	srv := n.servers[ip]
	delete(n.servers, ip)
	n.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (n *demoNodes) closeAll() {
	n.mu.Lock()
	ips := make([]string, 0, len(n.servers))
	for ip := range n.servers {
		ips = append(ips, ip)
	}
	n.mu.Unlock()
	for _, ip := range ips {
		n.stop(ip)
	}
}

// probe is the ALB health check: GET / on the node must answer 200.
func (n *demoNodes) probe(ctx context.Context, t tgsync.Target) bool {
	n.mu.Lock()
	addr, ok := n.addrs[t.IP.String()]
	n.mu.Unlock()
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK && !errors.Is(ctx.Err(), context.DeadlineExceeded)
}
