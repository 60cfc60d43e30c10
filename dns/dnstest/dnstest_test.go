package dnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/tgsync/tgsync/internal/mock"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ask sends one query over network ("udp" or "tcp"), with EDNS(0) when
// edns is non-zero.
func ask(s *Server, network, name string, qtype uint16, edns uint16) (*mdns.Msg, error) {
	c := &mdns.Client{Net: network, Timeout: 300 * time.Millisecond}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	if edns != 0 {
		m.SetEdns0(edns, false)
	}
	r, _, err := c.Exchange(m, s.Addr())
	return r, err
}

func addrsOf(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		case *mdns.CNAME:
			out = append(out, rr.Hdr.Name+">"+rr.Target)
		}
	}
	return out
}

func TestStartBindsLoopbackUDPAndTCP(t *testing.T) {
	s := start(t)
	ap, err := netip.ParseAddrPort(s.Addr())
	if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
		t.Fatalf("Addr() = %q, want 127.0.0.1:port", s.Addr())
	}
	s.SetA("x.test", 60, mock.Addrs("10.0.0.1")...)
	for _, network := range []string{"udp", "tcp"} {
		r, err := ask(s, network, "x.test", mdns.TypeA, 0)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if got := addrsOf(r); !slices.Equal(got, []string{"10.0.0.1"}) {
			t.Errorf("%s: answer %v", network, got)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := ask(s, "tcp", "x.test", mdns.TypeA, 0); err == nil {
		t.Fatal("TCP query after Close succeeded")
	}
}

func TestAnswers(t *testing.T) {
	s := start(t)
	s.SetA("Dual.Test.", 60, mock.Addrs("10.0.0.1", "fd00::1", "10.0.0.2")...)
	s.SetA("empty.test", 60)
	s.SetCNAME("www.test", "alias.test", 30)
	s.SetCNAME("alias.test", "dual.test", 20)
	s.SetCNAME("out.test", "elsewhere.test", 30)
	s.SetCNAME("loop1.test", "loop2.test", 30)
	s.SetCNAME("loop2.test", "loop1.test", 30)
	s.SetA("gone.test", 60, mock.Addrs("10.0.0.9")...)
	s.Remove("gone.test")
	s.SetA("bad.test", 60, netip.Addr{}, netip.MustParseAddr("10.0.0.3"))

	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"A only", "dual.test", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.0.1", "10.0.0.2"}},
		{"AAAA only", "dual.test", mdns.TypeAAAA, mdns.RcodeSuccess, []string{"fd00::1"}},
		{"case and dot do not matter", "DUAL.test.", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.0.1", "10.0.0.2"}},
		{"other type is empty", "dual.test", mdns.TypeMX, mdns.RcodeSuccess, nil},
		{"name without addresses", "empty.test", mdns.TypeA, mdns.RcodeSuccess, nil},
		{"unknown name", "nowhere.test", mdns.TypeA, mdns.RcodeNameError, nil},
		{"removed name", "gone.test", mdns.TypeA, mdns.RcodeNameError, nil},
		{"invalid address ignored", "bad.test", mdns.TypeA, mdns.RcodeSuccess, []string{"10.0.0.3"}},
		{"CNAME chain followed", "www.test", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"www.test.>alias.test.", "alias.test.>dual.test.", "10.0.0.1", "10.0.0.2"}},
		{"CNAME to a name not held", "out.test", mdns.TypeA, mdns.RcodeSuccess, []string{"out.test.>elsewhere.test."}},
		{"CNAME loop stops", "loop1.test", mdns.TypeA, mdns.RcodeSuccess,
			[]string{"loop1.test.>loop2.test.", "loop2.test.>loop1.test."}},
		{"CNAME query", "www.test", mdns.TypeCNAME, mdns.RcodeSuccess, []string{"www.test.>alias.test."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ask(s, "udp", tt.qname, tt.qtype, 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode || !r.Authoritative {
				t.Errorf("rcode %s aa=%v, want %s aa=true", mdns.RcodeToString[r.Rcode], r.Authoritative, mdns.RcodeToString[tt.rcode])
			}
			if got := addrsOf(r); !slices.Equal(got, tt.answer) {
				t.Errorf("answer %v, want %v", got, tt.answer)
			}
		})
	}
}

func TestFollowCNAMEOff(t *testing.T) {
	s := start(t)
	s.SetCNAME("www.test", "a.test", 30)
	s.SetA("a.test", 60, mock.Addrs("10.0.0.1")...)
	s.SetFollowCNAME(false)
	r, err := ask(s, "udp", "www.test", mdns.TypeA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsOf(r); !slices.Equal(got, []string{"www.test.>a.test."}) {
		t.Fatalf("answer %v, want only the CNAME", got)
	}
}

func TestFaults(t *testing.T) {
	s := start(t)
	for _, f := range []Fault{FaultServFail, FaultRefused, FaultNXDomain, FaultTimeout, FaultEmpty, FaultTruncate,
		FaultGarbage, FaultWrongID, FaultTruncateAll, FaultTruncateDropTCP} {
		s.SetA(f.String()+".test", 60, mock.Addrs("10.0.0.1")...)
		s.SetFault(f.String()+".test", f)
	}
	s.SetA("cleared.test", 60, mock.Addrs("10.0.0.1")...)
	s.SetFault("cleared.test", FaultServFail)
	s.SetFault("cleared.test", FaultNone)
	s.SetA("typed.test", 60, mock.Addrs("10.0.0.1", "fd00::1")...)
	s.SetTypeFault("typed.test", mdns.TypeAAAA, FaultServFail)
	s.SetFault("typed-over.test", FaultServFail)
	s.SetA("typed-over.test", 60, mock.Addrs("10.0.0.1")...)
	s.SetTypeFault("typed-over.test", mdns.TypeA, FaultNone) // a cleared type fault leaves the name fault
	s.SetTypeFault("typed-over.test", mdns.TypeAAAA, FaultRefused)

	tests := []struct {
		name, qname string
		qtype       uint16
		network     string
		rcode       int
		tc          bool
		answer      []string
		err         string // substring of the client error; "" for none
	}{
		{"servfail", "servfail.test", mdns.TypeA, "udp", mdns.RcodeServerFailure, false, nil, ""},
		{"refused", "refused.test", mdns.TypeA, "udp", mdns.RcodeRefused, false, nil, ""},
		{"nxdomain despite records", "nxdomain.test", mdns.TypeA, "udp", mdns.RcodeNameError, false, nil, ""},
		{"timeout udp", "timeout.test", mdns.TypeA, "udp", 0, false, nil, "timeout"},
		{"timeout tcp", "timeout.test", mdns.TypeA, "tcp", 0, false, nil, "timeout"},
		{"empty", "empty.test", mdns.TypeA, "udp", mdns.RcodeSuccess, false, nil, ""},
		{"truncate udp", "truncate.test", mdns.TypeA, "udp", mdns.RcodeSuccess, true, nil, ""},
		{"truncate tcp answers", "truncate.test", mdns.TypeA, "tcp", mdns.RcodeSuccess, false, []string{"10.0.0.1"}, ""},
		{"garbage udp", "garbage.test", mdns.TypeA, "udp", 0, false, nil, "bad question"},
		{"garbage tcp", "garbage.test", mdns.TypeA, "tcp", 0, false, nil, "bad question"},
		{"wrong id udp is ignored", "wrong-id.test", mdns.TypeA, "udp", 0, false, nil, "timeout"},
		{"wrong id tcp", "wrong-id.test", mdns.TypeA, "tcp", 0, false, nil, "id mismatch"},
		{"truncate-all tcp", "truncate-all.test", mdns.TypeA, "tcp", mdns.RcodeSuccess, true, nil, ""},
		{"truncate-drop-tcp udp", "truncate-drop-tcp.test", mdns.TypeA, "udp", mdns.RcodeSuccess, true, nil, ""},
		{"truncate-drop-tcp tcp", "truncate-drop-tcp.test", mdns.TypeA, "tcp", 0, false, nil, "timeout"},
		{"cleared fault", "cleared.test", mdns.TypeA, "udp", mdns.RcodeSuccess, false, []string{"10.0.0.1"}, ""},
		{"type fault spares A", "typed.test", mdns.TypeA, "udp", mdns.RcodeSuccess, false, []string{"10.0.0.1"}, ""},
		{"type fault hits AAAA", "typed.test", mdns.TypeAAAA, "udp", mdns.RcodeServerFailure, false, nil, ""},
		{"name fault after cleared type fault", "typed-over.test", mdns.TypeA, "udp", mdns.RcodeServerFailure, false, nil, ""},
		{"type fault wins over name fault", "typed-over.test", mdns.TypeAAAA, "udp", mdns.RcodeRefused, false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ask(s, tt.network, tt.qname, tt.qtype, 0)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode || r.Truncated != tt.tc {
				t.Errorf("rcode %s tc=%v, want %s tc=%v", mdns.RcodeToString[r.Rcode], r.Truncated, mdns.RcodeToString[tt.rcode], tt.tc)
			}
			if got := addrsOf(r); !slices.Equal(got, tt.answer) {
				t.Errorf("answer %v, want %v", got, tt.answer)
			}
		})
	}
}

// startMany starts a server whose many.test holds 100 addresses, more
// than a 512-byte UDP reply or a 1232-byte EDNS one carries.
func startMany(t *testing.T) *Server {
	t.Helper()
	s := start(t)
	var addrs []netip.Addr
	for i := range 100 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}))
	}
	s.SetA("many.test", 60, addrs...)
	return s
}

// TestUDPTruncatesToClientBuffer: a reply larger than the client's buffer
// is cut to whole records with TC set, and TCP carries all of it.
func TestUDPTruncatesToClientBuffer(t *testing.T) {
	s := startMany(t)
	tests := []struct {
		network string
		edns    uint16
		tc      bool
	}{
		{"udp", 0, true},    // 512 bytes
		{"udp", 1232, true}, // 100 records need about 1,650
		{"udp", 4096, false},
		{"tcp", 0, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.network, tt.edns), func(t *testing.T) {
			r, err := ask(s, tt.network, "many.test", mdns.TypeA, tt.edns)
			if err != nil {
				t.Fatal(err)
			}
			n := len(r.Answer)
			if r.Truncated != tt.tc || (tt.tc && (n == 0 || n >= 100)) || (!tt.tc && n != 100) {
				t.Fatalf("tc=%v with %d records, want tc=%v", r.Truncated, n, tt.tc)
			}
		})
	}
}

// TestOversizeIgnoresClientBuffer: with FaultOversize a UDP reply carries
// every record past the client's EDNS size, without TC; TCP is normal.
func TestOversizeIgnoresClientBuffer(t *testing.T) {
	s := startMany(t)
	s.SetFault("many.test", FaultOversize)

	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := new(mdns.Msg)
	q.SetQuestion("many.test.", mdns.TypeA)
	q.SetEdns0(1232, false)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(wire); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var r mdns.Msg
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if n <= 1232 || r.Truncated || len(r.Answer) != 100 {
		t.Errorf("UDP reply of %d bytes, tc=%v, %d records; want over 1232 bytes, no TC, 100 records", n, r.Truncated, len(r.Answer))
	}
	tcp, err := ask(s, "tcp", "many.test", mdns.TypeA, 1232)
	if err != nil {
		t.Fatal(err)
	}
	if tcp.Truncated || len(tcp.Answer) != 100 {
		t.Errorf("TCP reply tc=%v with %d records, want all 100", tcp.Truncated, len(tcp.Answer))
	}
}

func TestMaxAnswersGivesRandomSubsets(t *testing.T) {
	s := start(t)
	var all []string
	var addrs []netip.Addr
	for i := range 12 {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		addrs = append(addrs, a)
		all = append(all, a.String())
	}
	s.SetA("alb.test", 60, addrs...)
	s.SetMaxAnswers(8)

	seen := map[string]bool{}
	distinct := map[string]bool{}
	for range 30 {
		r, err := ask(s, "udp", "alb.test", mdns.TypeA, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := addrsOf(r)
		sorted := slices.Sorted(slices.Values(got))
		if len(got) != 8 || len(slices.Compact(sorted)) != 8 {
			t.Fatalf("answer %v: want 8 distinct records", got)
		}
		for _, a := range got {
			if !slices.Contains(all, a) {
				t.Fatalf("answer holds %s, which was never set", a)
			}
			seen[a] = true
		}
		distinct[fmt.Sprint(sorted)] = true
	}
	// 30 answers that each miss 4 of 12: with 495 possible subsets, a
	// random server cannot show fewer than 2 of them (probability 495^-29).
	if len(distinct) < 2 || len(seen) != 12 {
		t.Fatalf("%d distinct subsets covering %d records: subsets are not random", len(distinct), len(seen))
	}

	s.SetMaxAnswers(0)
	r, err := ask(s, "udp", "alb.test", mdns.TypeA, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := addrsOf(r); !slices.Equal(got, all) {
		t.Fatalf("max answers off: %v, want all 12 in order", got)
	}
}

func TestSeedMakesSubsetsReproducible(t *testing.T) {
	s := start(t)
	var addrs []netip.Addr
	for i := range 12 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
	}
	s.SetA("alb.test", 60, addrs...)
	s.SetMaxAnswers(8)
	run := func(seed uint64) []string {
		s.Seed(seed)
		var out []string
		for range 5 {
			r, err := ask(s, "udp", "alb.test", mdns.TypeA, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(addrsOf(r)))
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different answers:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("seeds 7 and 8 gave the same five answers: %v", a)
	}
}

func TestQueryCounts(t *testing.T) {
	s := start(t)
	s.SetA("a.test", 60, mock.Addrs("10.0.0.1")...)
	s.SetFault("t.test", FaultTimeout)
	for _, q := range []struct {
		network, name string
	}{{"udp", "a.test"}, {"tcp", "A.TEST."}, {"udp", "a.test"}, {"udp", "nowhere.test"}, {"udp", "t.test"}} {
		_, _ = ask(s, q.network, q.name, mdns.TypeA, 0)
	}
	if got := s.Queries(); got != 5 {
		t.Errorf("Queries() = %d, want 5", got)
	}
	for name, want := range map[string]int{"a.test": 3, "nowhere.test.": 1, "t.test": 1, "other.test": 0} {
		if got := s.QueriesFor(name); got != want {
			t.Errorf("QueriesFor(%s) = %d, want %d", name, got, want)
		}
	}
	s.ResetQueries()
	if s.Queries() != 0 || s.QueriesFor("a.test") != 0 {
		t.Errorf("after ResetQueries: %d, %d", s.Queries(), s.QueriesFor("a.test"))
	}
}

// TestConcurrentUse runs queries while records, faults and settings change;
// it proves its worth under -race.
func TestConcurrentUse(t *testing.T) {
	s := start(t)
	s.SetA("a.test", 60, mock.Addrs("10.0.0.1", "10.0.0.2")...)
	var wg sync.WaitGroup
	const workers, each = 8, 25
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				network := "udp"
				if (w+i)%3 == 0 {
					network = "tcp"
				}
				r, err := ask(s, network, "a.test", mdns.TypeA, 0)
				if err != nil {
					errs <- err
					continue
				}
				if r.Rcode != mdns.RcodeSuccess && r.Rcode != mdns.RcodeServerFailure {
					errs <- fmt.Errorf("rcode %s", mdns.RcodeToString[r.Rcode])
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			s.SetA("a.test", 60, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), netip.MustParseAddr("fd00::1"))
			s.SetMaxAnswers(i % 3)
			s.Seed(uint64(i))
			s.SetFollowCNAME(i%2 == 0)
			if i%5 == 0 {
				s.SetFault("a.test", FaultServFail)
			} else {
				s.SetFault("a.test", FaultNone)
			}
			_ = s.Queries()
			_ = s.QueriesFor("a.test")
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.QueriesFor("a.test"); got != workers*each {
		t.Errorf("QueriesFor = %d, want %d", got, workers*each)
	}
}

func TestParseFault(t *testing.T) {
	for f := FaultNone; f <= FaultOversize; f++ {
		got, err := ParseFault(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFault(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFault("explode"); err == nil {
		t.Error("ParseFault(explode) succeeded")
	}
	if s := Fault(99).String(); s != "Fault(99)" {
		t.Errorf("Fault(99).String() = %q", s)
	}
}

// TestGarbageIsUnparseable checks the raw garbage reply itself.
func TestGarbageIsUnparseable(t *testing.T) {
	b := garbage(0x1234)
	var m mdns.Msg
	err := m.Unpack(b)
	if err == nil {
		t.Fatal("garbage parsed")
	}
	if m.Id != 0x1234 || !m.Response {
		t.Errorf("header id=%#x qr=%v, want the query's id and QR", m.Id, m.Response)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		t.Errorf("parse error looks like a network error: %v", err)
	}
}
