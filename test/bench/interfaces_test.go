package bench

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// nodes makes count in-use network interfaces described desc in the
// world's VPC, one address each from the pool, and returns the addresses.
func (w *world) nodes(b testing.TB, desc string, count int, pool *addrPool) []netip.Addr {
	b.Helper()
	if w.subnet == "" {
		w.subnet = w.VPC.Subnets(b, "10.0.1.0/24")[0] // moto does not check that the addresses lie in it
	}
	addrs := pool.take(count)
	for _, a := range addrs {
		w.VPC.Interface(b, testenv.Interface{Subnet: w.subnet, Description: desc, IPs: []string{a.String()}, InUse: true})
	}
	return addrs
}

// lister reads interfaces from moto, counting the calls in calls.
func (w *world) lister(calls *elbv2.Calls) *eni.Lister {
	return eni.NewLister(ec2.NewFromConfig(w.config(calls)))
}

// BenchmarkNodesPerRun: 12 nodes behind a DNS name whose answers hold 8
// of them at random, as Route 53 answers for an ALB with more nodes than
// that, with dns.lookups at its default of 4, one run a minute. DNS alone
// sees all 12 in most runs, and a run that misses a node counts a miss
// for a live target (the grace keeps it); with the nodes' network
// interfaces beside it every run sees all 12 and counts no miss. The goal,
// checked: all 12 in 100% of runs and 0 misses with interfaces.
func BenchmarkNodesPerRun(b *testing.B) {
	for _, withInterfaces := range []bool{false, true} {
		name := "dns"
		if withInterfaces {
			name = "dns+interfaces"
		}
		b.Run(name, func(b *testing.B) {
			w := newWorld(b)
			w.DNS.SetMaxAnswers(dns.AnswerCap)
			w.DNS.Seed(1)
			lb := testenv.UniqueName("web")
			var pool addrPool
			nodes := w.nodes(b, "ELB app/"+lb+"/50dc6c495c0c9188", 12, &pool)
			host := w.name("web", nodes)
			var src tgsync.Source = w.resolver(b, 0).Source(host, dns.Families{dns.IPv4})
			if withInterfaces {
				ifc, err := eni.LoadBalancer(w.lister(nil), lb)
				if err != nil {
					b.Fatal(err)
				}
				src = tgsync.Union(src, ifc)
			}
			clock := elbv2fake.NewManualClock(t0)
			world := elbv2fake.New(clock, elbv2fake.Options{})
			const arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nodes/0123456789abcdef"
			if err := world.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: port, HealthyAfter: -1}); err != nil {
				b.Fatal(err)
			}
			r := &tgsync.Reconciler{Bindings: []tgsync.Binding{binding("web", src, arn)},
				Groups: elbv2.New(world, unlimited), Store: memstore.New(), Now: world.Now}
			// The first run that sees a node registers it; then the
			// measured runs, a minute apart.
			for range 3 {
				run(b, r)
				clock.Advance(time.Minute)
			}
			seen, complete, misses, removed, registered := 0, 0, 0, 0, 0
			for b.Loop() {
				res := run(b, r)
				clock.Advance(time.Minute)
				br := res.Bindings[0]
				n := len(br.Answer.Addrs)
				seen += n
				if n == len(nodes) {
					complete++
				}
				misses += len(br.Plan.Pending) + len(br.Plan.Deregister)
				removed += len(br.Deregistered)
				registered += len(world.Targets(arn))
			}
			b.StopTimer()
			noTiming(b)
			b.ReportMetric(perRun(seen, b.N), "addrs-seen/run")
			b.ReportMetric(100*perRun(complete, b.N), "complete-runs-%")
			b.ReportMetric(perRun(misses, b.N), "misses/run")
			b.ReportMetric(perRun(registered, b.N), "registered/run")
			b.ReportMetric(float64(removed), "removed")
			if withInterfaces && (complete != b.N || misses != 0 || removed != 0) {
				b.Fatalf("with interfaces: %d of %d runs saw all 12, %d misses, %d removed; goal all runs, no miss", complete, b.N, misses, removed)
			}
		})
	}
}

// BenchmarkInterfaceAPICalls counts the API calls of a steady run of three
// bindings, two of them on the same load balancer, one on an OpenSearch
// domain, each beside a DNS name, against the same bindings with their DNS
// names alone, run for run: the interfaces must cost one
// DescribeNetworkInterfaces per distinct filter set (2) and nothing else.
// Every group is described every run here (DescribeEvery 0), as before the
// describe budget.
func BenchmarkInterfaceAPICalls(b *testing.B) {
	w := newWorld(b)
	var pool addrPool
	lb, domain := testenv.UniqueName("web"), testenv.UniqueName("logs")
	lbNodes := w.nodes(b, "ELB app/"+lb+"/50dc6c495c0c9188", 3, &pool)
	osNodes := w.nodes(b, "ES "+domain, 3, &pool)
	names := []string{w.name("web", lbNodes), w.name("web2", lbNodes), w.name("logs", osNodes)}
	type variant struct {
		r      *tgsync.Reconciler
		calls  *elbv2.Calls
		now    time.Time
		totals map[string]int
	}
	variants := map[bool]*variant{}
	for _, withInterfaces := range []bool{false, true} {
		v := &variant{calls: &elbv2.Calls{}, now: t0, totals: map[string]int{}}
		lister := w.lister(v.calls)
		var bindings []tgsync.Binding
		for i, host := range names {
			var src tgsync.Source = w.resolver(b, 0).Source(host, dns.Families{dns.IPv4})
			if withInterfaces {
				var ifc *eni.Source
				var err error
				if i < 2 {
					ifc, err = eni.LoadBalancer(lister, lb)
				} else {
					ifc, err = eni.OpenSearch(lister, domain)
				}
				if err != nil {
					b.Fatal(err)
				}
				src = tgsync.Union(src, ifc)
			}
			bindings = append(bindings, binding(strings.Split(host, ".")[0], src, w.targetGroup(b)))
		}
		v.r = w.reconciler(bindings, v.calls, func() time.Time { return v.now })
		run(b, v.r) // registers, and learns each group's metadata
		v.now = v.now.Add(time.Minute)
		v.calls.Take()
		variants[withInterfaces] = v
	}
	runs := 0
	for b.Loop() {
		for _, v := range variants {
			run(b, v.r)
			v.now = v.now.Add(time.Minute)
			for op, n := range v.calls.Take() {
				v.totals[op] += n
			}
		}
		runs++
	}
	noTiming(b)
	with, without := variants[true].totals, variants[false].totals
	for op, n := range with {
		b.ReportMetric(perRun(n, runs), strings.ToLower(op)+"/run")
	}
	for op := range with {
		want := 0
		if op == "DescribeNetworkInterfaces" {
			want = 2 * runs
		}
		if with[op]-without[op] != want {
			b.Fatalf("%s: %d in %d steady runs with interfaces, %d without; want %d more: %v vs %v", op, with[op], runs, without[op], want, with, without)
		}
	}
}
