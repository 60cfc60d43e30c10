package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// BenchmarkLookup measures whole observations against a loopback server
// and reports the queries each one costs: the skip-repeats rule makes a
// small answer cost one query per family, a capped one Lookups.
func BenchmarkLookup(b *testing.B) {
	cases := []struct {
		name  string
		addrs []netip.Addr
		cap   int
		fams  Families
	}{
		{"3-records", addrRange("10.0.0.1", 3), 0, Families{IPv4}},
		{"3+3-records-dual-stack", append(addrRange("10.0.0.1", 3), addrRange("fd00::1", 3)...), 0, Families{IPv4, IPv6}},
		{"12-records-8-per-answer", addrRange("10.0.0.1", 12), AnswerCap, Families{IPv4}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := startServer(b)
			s.SetA("bench.test", 60, c.addrs...)
			s.SetMaxAnswers(c.cap)
			r := newResolver(b, Config{}, s.Addr())
			ctx := context.Background()
			queries, found := 0, 0
			for b.Loop() {
				ans, err := r.Lookup(ctx, "bench.test", c.fams)
				if err != nil {
					b.Fatal(err)
				}
				queries += ans.Queries
				found += len(ans.Addrs)
			}
			b.ReportMetric(float64(queries)/float64(b.N), "queries/lookup")
			b.ReportMetric(float64(found)/float64(b.N), "addrs/lookup")
		})
	}
}

// FuzzLookupAnswer sends the fuzzer's bytes as the reply to every query
// (with the query's ID patched in) and checks that Lookup, through the
// network code, only ever returns addresses or a *LookupError.
func FuzzLookupAnswer(f *testing.F) {
	const name = "fuzz.test."
	for _, m := range []*mdns.Msg{
		reply(name, mdns.TypeA, rrA(name, 60, "10.0.0.1"), rrA(name, 60, "10.0.0.2")),
		reply(name, mdns.TypeA, rrCNAME(name, 60, "a.test."), rrA("a.test.", 30, "10.0.0.1")),
		reply(name, mdns.TypeA, rrCNAME(name, 60, "a.test."), rrCNAME("a.test.", 60, name)),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0x81, 0x83, 0, 0, 0, 0, 0, 0, 0, 0}) // NXDOMAIN, header only
	f.Add([]byte{})

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { pc.Close() })
	var mu sync.Mutex
	var current []byte
	go func() {
		buf := make([]byte, 2048)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			out := slices.Clone(current)
			mu.Unlock()
			if n >= 2 && len(out) >= 2 {
				copy(out[:2], buf[:2])
			}
			_, _ = pc.WriteTo(out, addr)
		}
	}()
	// TCP retries after TC go to a port where nothing listens and fail
	// at once; a reply the client drops costs one 50ms timeout.
	r, err := New(Config{Servers: []string{pc.LocalAddr().String()}, Timeout: 50 * time.Millisecond, Attempts: 1, Lookups: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, packed []byte) {
		mu.Lock()
		current = packed
		mu.Unlock()
		ans, err := r.Lookup(context.Background(), name, Families{IPv4})
		if err != nil {
			var le *LookupError
			if !errors.As(err, &le) || !slices.Contains(allKinds, le.Kind) {
				t.Fatalf("error %T %v is not a *LookupError of a known kind", err, err)
			}
			return
		}
		if len(ans.Addrs) == 0 || !slices.IsSortedFunc(ans.Addrs, netip.Addr.Compare) || ans.Queries < 1 {
			t.Fatalf("answer %+v: want sorted addresses and queries", ans)
		}
	})
}
