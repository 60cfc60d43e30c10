package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/mock"
)

// testTimeout keeps the timeout cases fast.
const testTimeout = 200 * time.Millisecond

var allKinds = []error{ErrNXDOMAIN, ErrNoData, ErrServerFailure, ErrTimeout, ErrTruncated, ErrCNAMELoop, ErrMalformed}

func startServer(t testing.TB) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newResolver(t testing.TB, cfg Config, servers ...string) *Resolver {
	t.Helper()
	cfg.Servers = servers
	if cfg.Timeout == 0 {
		cfg.Timeout = testTimeout
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// addrRange returns n addresses counting up from first.
func addrRange(first string, n int) []netip.Addr {
	a := netip.MustParseAddr(first)
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	out := slices.Clone(as)
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// checkKind fails unless err matches exactly the kind want (nil: no error).
func checkKind(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	var le *LookupError
	if !errors.As(err, &le) {
		t.Fatalf("error %T %v is not a *LookupError", err, err)
	}
	for _, k := range allKinds {
		if errors.Is(err, k) != (k == want) {
			t.Errorf("errors.Is(%v, %v) = %v", err, k, errors.Is(err, k))
		}
	}
}

func TestLookup(t *testing.T) {
	v4x3 := addrRange("10.0.0.1", 3)
	v6x3 := addrRange("fd00::1", 3)
	many := addrRange("10.1.0.1", 30)
	huge := addrRange("10.2.0.1", 100)
	// faulty serves addrs under name with the fault f.
	faulty := func(name string, f dnstest.Fault, addrs ...netip.Addr) func(*dnstest.Server) {
		return func(s *dnstest.Server) {
			s.SetA(name, 60, addrs...)
			s.SetFault(name, f)
		}
	}
	// chain serves c0.test -> c1.test -> ... -> c<n>.test, which holds
	// v4x3; without follow, each query gets one link of it.
	chain := func(n int, follow bool) func(*dnstest.Server) {
		return func(s *dnstest.Server) {
			s.SetFollowCNAME(follow)
			for i := range n {
				s.SetCNAME(fmt.Sprintf("c%d.test", i), fmt.Sprintf("c%d.test", i+1), 60)
			}
			s.SetA(fmt.Sprintf("c%d.test", n), 60, v4x3...)
		}
	}

	tests := []struct {
		name    string
		setup   func(s *dnstest.Server)
		cfg     Config
		query   string
		fams    Families
		want    []netip.Addr
		ttl     time.Duration
		queries int
		kind    error
		msg     string // substring of the error message
	}{
		{name: "one A record", query: "a.test",
			setup: func(s *dnstest.Server) { s.SetA("a.test", 60, mock.Addrs("10.0.0.1")...) },
			want:  mock.Addrs("10.0.0.1"), ttl: 60 * time.Second, queries: 1},
		{name: "3 records cost one query per family", query: "dual.test", fams: Families{IPv4, IPv6},
			setup: func(s *dnstest.Server) { s.SetA("dual.test", 60, append(v6x3, v4x3...)...) },
			want:  append(slices.Clone(v4x3), v6x3...), ttl: 60 * time.Second, queries: 2},
		{name: "IPv4 selected", query: "dual.test", fams: Families{IPv4},
			setup: func(s *dnstest.Server) { s.SetA("dual.test", 60, append(v6x3, v4x3...)...) },
			want:  v4x3, ttl: 60 * time.Second, queries: 1},
		{name: "IPv6 selected", query: "dual.test", fams: Families{IPv6},
			setup: func(s *dnstest.Server) { s.SetA("dual.test", 60, append(v6x3, v4x3...)...) },
			want:  v6x3, ttl: 60 * time.Second, queries: 1},
		{name: "no family means IPv4", query: "dual.test",
			setup: func(s *dnstest.Server) { s.SetA("dual.test", 60, append(v6x3, v4x3...)...) },
			want:  v4x3, ttl: 60 * time.Second, queries: 1},
		{name: "one family empty is fine", query: "v6.test", fams: Families{IPv6, IPv4, IPv6},
			setup: func(s *dnstest.Server) { s.SetA("v6.test", 60, v6x3...) },
			want:  v6x3, ttl: 60 * time.Second, queries: 2},
		{name: "30 records without a cap: a full answer triggers the repeats", query: "many.test",
			setup: func(s *dnstest.Server) { s.SetA("many.test", 60, many...) },
			want:  many, ttl: 60 * time.Second, queries: 4},
		{name: "100 records: UDP truncates, TCP completes", query: "huge.test",
			setup: func(s *dnstest.Server) { s.SetA("huge.test", 60, huge...) },
			want:  huge, ttl: 60 * time.Second, queries: 8},
		{name: "lookups 1 never repeats", query: "many.test", cfg: Config{Lookups: 1},
			setup: func(s *dnstest.Server) { s.SetA("many.test", 60, many...) },
			want:  many, ttl: 60 * time.Second, queries: 1},
		{name: "duplicates are merged", query: "dup.test",
			setup: func(s *dnstest.Server) { s.SetA("dup.test", 60, mock.Addrs("10.0.0.2", "10.0.0.1", "10.0.0.2")...) },
			want:  mock.Addrs("10.0.0.1", "10.0.0.2"), ttl: 60 * time.Second, queries: 1},
		{name: "case and trailing dot", query: "MiXeD.Test.",
			setup: func(s *dnstest.Server) { s.SetA("mixed.test.", 60, mock.Addrs("10.0.0.1")...) },
			want:  mock.Addrs("10.0.0.1"), ttl: 60 * time.Second, queries: 1},
		{name: "CNAME chain in one answer, smallest TTL from a CNAME", query: "www.test",
			setup: func(s *dnstest.Server) {
				s.SetCNAME("www.test", "alias.test", 300)
				s.SetCNAME("alias.test", "target.test", 30)
				s.SetA("target.test", 60, v4x3...)
			},
			want: v4x3, ttl: 30 * time.Second, queries: 1},
		{name: "CNAME chain in one answer, smallest TTL from the addresses", query: "www.test",
			setup: func(s *dnstest.Server) {
				s.SetCNAME("www.test", "target.test", 300)
				s.SetA("target.test", 5, v4x3...)
			},
			want: v4x3, ttl: 5 * time.Second, queries: 1},
		{name: "CNAME chain across queries", query: "www.test", fams: Families{IPv4, IPv6},
			setup: func(s *dnstest.Server) {
				s.SetFollowCNAME(false)
				s.SetCNAME("www.test", "alias.test", 300)
				s.SetCNAME("alias.test", "target.test", 120)
				s.SetA("target.test", 60, append(v4x3, v6x3...)...)
			},
			want: append(slices.Clone(v4x3), v6x3...), ttl: 60 * time.Second, queries: 6},
		{name: "CNAME chain of 8 is followed", query: "c0.test",
			setup: chain(8, true),
			want:  v4x3, ttl: 60 * time.Second, queries: 1},
		{name: "CNAME chain of 9 is a loop", query: "c0.test", kind: ErrCNAMELoop, queries: 1, msg: "chain longer than 8",
			setup: chain(9, true)},
		{name: "CNAME chain of 9 across queries is a loop", query: "c0.test", kind: ErrCNAMELoop, queries: 9,
			msg:   "lookup c0.test A: CNAME loop: chain longer than 8: c0.test -> c1.test",
			setup: chain(9, false)},
		{name: "CNAME loop in one answer", query: "loop1.test", kind: ErrCNAMELoop, queries: 1,
			msg: "loop1.test -> loop2.test -> loop1.test",
			setup: func(s *dnstest.Server) {
				s.SetCNAME("loop1.test", "loop2.test", 60)
				s.SetCNAME("loop2.test", "loop1.test", 60)
			}},
		{name: "CNAME loop across queries", query: "loop1.test", kind: ErrCNAMELoop, queries: 2,
			msg: "loop1.test -> loop2.test -> loop1.test",
			setup: func(s *dnstest.Server) {
				s.SetFollowCNAME(false)
				s.SetCNAME("loop1.test", "loop2.test", 60)
				s.SetCNAME("loop2.test", "loop1.test", 60)
			}},
		{name: "CNAME to a missing name", query: "www.test", kind: ErrNXDOMAIN, queries: 2,
			msg:   "lookup www.test A via 127.0.0.1:",
			setup: func(s *dnstest.Server) { s.SetCNAME("www.test", "gone.test", 60) }},
		{name: "NXDOMAIN", query: "nowhere.test", kind: ErrNXDOMAIN, queries: 1, msg: "lookup nowhere.test A via"},
		{name: "NXDOMAIN fault on a name with records", query: "a.test", kind: ErrNXDOMAIN, queries: 1,
			setup: faulty("a.test", dnstest.FaultNXDomain, v4x3...)},
		{name: "name without addresses", query: "empty.test", fams: Families{IPv4, IPv6}, kind: ErrNoData, queries: 2,
			msg:   "lookup empty.test A+AAAA: no address records",
			setup: func(s *dnstest.Server) { s.SetA("empty.test", 60) }},
		{name: "empty answer", query: "a.test", kind: ErrNoData, queries: 1,
			setup: faulty("a.test", dnstest.FaultEmpty, v4x3...)},
		{name: "only the other family", query: "v6.test", fams: Families{IPv4}, kind: ErrNoData, queries: 1,
			setup: func(s *dnstest.Server) { s.SetA("v6.test", 60, v6x3...) }},
		{name: "SERVFAIL", query: "a.test", kind: ErrServerFailure, queries: 1, msg: "lookup a.test A via 127.0.0.1:",
			setup: faulty("a.test", dnstest.FaultServFail, v4x3...)},
		{name: "REFUSED", query: "a.test", kind: ErrServerFailure, queries: 1, msg: ": REFUSED",
			setup: faulty("a.test", dnstest.FaultRefused, v4x3...)},
		{name: "AAAA fails while A answers: the whole observation fails", query: "a.test", fams: Families{IPv4, IPv6},
			kind: ErrServerFailure, queries: 2, msg: "lookup a.test AAAA via",
			setup: func(s *dnstest.Server) {
				s.SetA("a.test", 60, append(v4x3, v6x3...)...)
				s.SetTypeFault("a.test", mdns.TypeAAAA, dnstest.FaultServFail)
			}},
		{name: "timeout, each attempt counted", query: "a.test", kind: ErrTimeout, queries: 2,
			setup: faulty("a.test", dnstest.FaultTimeout, v4x3...)},
		{name: "attempts 3", query: "a.test", cfg: Config{Attempts: 3}, kind: ErrTimeout, queries: 3,
			setup: func(s *dnstest.Server) { s.SetFault("a.test", dnstest.FaultTimeout) }},
		{name: "truncated, then TCP", query: "a.test", fams: Families{IPv4, IPv6},
			setup: faulty("a.test", dnstest.FaultTruncate, append(v4x3, v6x3...)...),
			want:  append(slices.Clone(v4x3), v6x3...), ttl: 60 * time.Second, queries: 4},
		{name: "TC over TCP too", query: "a.test", kind: ErrTruncated, queries: 2, msg: "TC set over TCP too",
			setup: faulty("a.test", dnstest.FaultTruncateAll, v4x3...)},
		{name: "TCP fails after TC", query: "a.test", kind: ErrTruncated, queries: 2, msg: "TCP retry failed",
			setup: faulty("a.test", dnstest.FaultTruncateDropTCP, v4x3...)},
		{name: "UDP reply past the EDNS size without TC: TCP completes", query: "huge.test", cfg: Config{Lookups: 1},
			setup: faulty("huge.test", dnstest.FaultOversize, huge...),
			want:  huge, ttl: 60 * time.Second, queries: 2},
		{name: "UDP reply past the EDNS size without TC, every round", query: "huge.test",
			setup: faulty("huge.test", dnstest.FaultOversize, huge...),
			want:  huge, ttl: 60 * time.Second, queries: 8},
		{name: "oversize fault on a reply that fits: UDP suffices", query: "a.test",
			setup: faulty("a.test", dnstest.FaultOversize, v4x3...),
			want:  v4x3, ttl: 60 * time.Second, queries: 1},
		{name: "garbage", query: "a.test", kind: ErrMalformed, queries: 1,
			setup: faulty("a.test", dnstest.FaultGarbage, v4x3...)},
		{name: "wrong ID is ignored like a spoof", query: "a.test", kind: ErrTimeout, queries: 2,
			setup: faulty("a.test", dnstest.FaultWrongID, v4x3...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			r := newResolver(t, tt.cfg, s.Addr())
			ans, err := r.Lookup(context.Background(), tt.query, tt.fams)
			checkKind(t, err, tt.kind)
			if err != nil {
				t.Logf("error: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if ans.Queries != tt.queries {
				t.Errorf("Answer.Queries = %d, want %d", ans.Queries, tt.queries)
			}
			if got := s.Queries(); got != ans.Queries {
				t.Errorf("server received %d queries, Answer.Queries says %d", got, ans.Queries)
			}
			if !slices.Equal(ans.Addrs, sortedAddrs(tt.want)) {
				t.Errorf("Addrs = %v, want %v", ans.Addrs, sortedAddrs(tt.want))
			}
			if ans.TTL != tt.ttl {
				t.Errorf("TTL = %s, want %s", ans.TTL, tt.ttl)
			}
		})
	}
}
