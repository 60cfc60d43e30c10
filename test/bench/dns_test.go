package bench

import (
	"net/netip"
	"testing"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/store/memstore"
)

// BenchmarkDNSQueries counts the queries the DNS server receives per
// binding and run, through the whole reconciler. A name whose answer holds
// fewer than 8 records costs one query per address family: the answer is
// complete. A name with more, behind a server that answers 8 at a time as
// Route 53 does, costs dns.lookups queries, whose union is the answer;
// addrs-seen/run and complete-runs-% show how much of the 12 that union
// found (the miss counter absorbs a run that missed one), and
// state-saves/run how often that changed the state (an S3 PUT in Lambda).
func BenchmarkDNSQueries(b *testing.B) {
	cases := []struct {
		name    string
		v4, v6  int
		fams    dns.Families
		cap     int
		lookups int
		want    int
	}{
		{"3-addresses/ipv4", 3, 0, dns.Families{dns.IPv4}, 0, 0, 1},
		{"3-addresses/ipv4+ipv6", 3, 3, dns.Families{dns.IPv4, dns.IPv6}, 0, 0, 2},
		{"12-addresses-8-per-answer/lookups=4", 12, 0, dns.Families{dns.IPv4}, dns.AnswerCap, 4, 4},
		{"12-addresses-8-per-answer/lookups=10", 12, 0, dns.Families{dns.IPv4}, dns.AnswerCap, 10, 10},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b)
			w.DNS.SetMaxAnswers(c.cap)
			w.DNS.Seed(1)
			var pool addrPool
			addrs := pool.take(c.v4)
			for i := range c.v6 {
				addrs = append(addrs, netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(i + 1)}))
			}
			name := w.name("dns", addrs)
			world := elbv2fake.New(elbv2fake.NewManualClock(t0), elbv2fake.Options{})
			const arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/dns/0123456789abcdef"
			if err := world.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: port, HealthyAfter: -1}); err != nil {
				b.Fatal(err)
			}
			store := &slowStore{Store: memstore.New()} // no latency: it counts
			r := &tgsync.Reconciler{
				Bindings: []tgsync.Binding{binding("dns", w.resolver(b, c.lookups).Source(name, c.fams), arn)},
				Groups:   elbv2.New(world, unlimited), Store: store, Now: world.Now,
			}
			run(b, r) // registers
			w.DNS.ResetQueries()
			store.take()
			seen, complete := 0, 0
			for b.Loop() {
				res := run(b, r)
				n := len(res.Bindings[0].Answer.Addrs)
				seen += n
				if n == len(addrs) {
					complete++
				}
			}
			b.StopTimer()
			queries := perRun(w.DNS.QueriesFor(name), b.N)
			b.ReportMetric(queries, "queries/run")
			b.ReportMetric(perRun(seen, b.N), "addrs-seen/run")
			b.ReportMetric(100*perRun(complete, b.N), "complete-runs-%")
			_, saves := store.take()
			b.ReportMetric(perRun(saves, b.N), "state-saves/run")
			if queries != float64(c.want) {
				b.Fatalf("%g queries per run, want %d", queries, c.want)
			}
		})
	}
}
