package bench

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/s3store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// port is the one port every binding uses: moto keeps one target per IP,
// where AWS keeps one per ip:port.
const port = 443

// unlimited lifts the adapter's client-side rate limits. At the defaults
// (5 describes/s after a burst of 20) a run over 100 target groups waits
// 16 s for the limiter, which would measure the limiter and not tgsync;
// docs/performance.md gives that floor separately.
var unlimited = elbv2.Options{DescribeRate: 1e4, DescribeBurst: 1e4, ChangeRate: 1e4, ChangeBurst: 1e4}

// world is one benchmark's part of the shared moto server and its own DNS
// server.
type world struct {
	*testenv.World
	subnet string // for network interfaces, made on first use
}

func newWorld(b testing.TB) *world {
	b.Helper()
	return &world{World: testenv.NewWorld(b, "tgsync-bench")}
}

// config returns the SDK config for moto; with calls, every attempt the
// clients send is counted.
func (w *world) config(calls *elbv2.Calls) aws.Config {
	cfg := w.Moto.AWSConfig()
	if calls != nil {
		cfg.APIOptions = append(slices.Clone(cfg.APIOptions), elbv2.CountCalls(calls.Record))
	}
	return cfg
}

func (w *world) s3(calls *elbv2.Calls) *s3.Client { return testenv.S3(w.config(calls)) }

// targetGroup creates an ip target group on port.
func (w *world) targetGroup(b testing.TB) string {
	b.Helper()
	return w.VPC.IPTargetGroup(b, types.ProtocolEnumHttps, port)
}

// name makes a fresh DNS name answer addrs.
func (w *world) name(label string, addrs []netip.Addr) string {
	name := label + "." + testenv.UniqueName("n") + ".bench.internal"
	w.DNS.SetA(name, 60, addrs...)
	return name
}

// resolver asks the world's DNS server, lookups times per name and family
// where answers are capped (0: the default, 4).
func (w *world) resolver(b testing.TB, lookups int) *dns.Resolver {
	b.Helper()
	r, err := dns.New(dns.Config{Servers: []string{w.DNS.Addr()}, Lookups: lookups, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// reconciler wires bindings to the real elbv2 adapter and the S3 store on
// moto, counting every API call in calls.
func (w *world) reconciler(bindings []tgsync.Binding, calls *elbv2.Calls, now func() time.Time) *tgsync.Reconciler {
	return &tgsync.Reconciler{
		Bindings: bindings,
		Groups:   elbv2.NewFromConfig(w.config(calls), unlimited),
		Store:    s3store.New(w.s3(calls), w.Bucket, testenv.UniqueName("state")+"/"+s3store.DefaultObjectName),
		Now:      now,
	}
}

// binding is a dedicated binding with the default policy.
func binding(name string, src tgsync.Source, arn string) tgsync.Binding {
	return tgsync.Binding{Name: name, Source: src, TargetGroupARN: arn, Ports: []uint16{port}, Policy: tgsync.DefaultPolicy()}
}

// run runs r once and fails on any error, of the run or of a binding.
func run(b testing.TB, r *tgsync.Reconciler) tgsync.RunResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := r.Run(ctx, tgsync.RunOptions{})
	if err != nil {
		b.Fatalf("run: %v", err)
	}
	for _, br := range res.Bindings {
		if br.Err != nil {
			b.Fatalf("run: %v", br.Err)
		}
	}
	return res
}

// addrPool hands out addresses never handed out before, from 10.128.0.1,
// so that a changed answer is really new to the target group.
type addrPool struct{ next uint32 }

func (p *addrPool) take(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		p.next++
		v := 10<<24 | 128<<16 | p.next
		out[i] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return out
}

// t0 is the start of every manual clock.
var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// ms converts a duration to milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// median returns the middle value (the mean of the two middle ones for an
// even count) without changing ds; zero for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// noTiming hides ns/op for benchmarks whose figures are counts: their time
// is that of moto on loopback, which means nothing.
func noTiming(b *testing.B) { b.ReportMetric(0, "ns/op") }

func perRun(total, runs int) float64 {
	if runs == 0 {
		return 0
	}
	return float64(total) / float64(runs)
}

func fmtCounts(c map[string]int) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(c)) {
		s += fmt.Sprintf(" %s=%d", k, c[k])
	}
	return s
}
