package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/tgsync/tgsync/internal/mock"
)

func rrA(name string, ttl uint32, ip string) *mdns.A {
	return &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip).To4()}
}

func rrAAAA(name string, ttl uint32, ip string) *mdns.AAAA {
	return &mdns.AAAA{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: ttl}, AAAA: net.ParseIP(ip)}
}

func rrCNAME(name string, ttl uint32, target string) *mdns.CNAME {
	return &mdns.CNAME{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: ttl}, Target: target}
}

// reply builds a NOERROR response to name/qtype holding answer.
func reply(name string, qtype uint16, answer ...mdns.RR) *mdns.Msg {
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	m := new(mdns.Msg)
	m.SetReply(q)
	m.Answer = answer
	return m
}

func TestExtract(t *testing.T) {
	const n = "x.test."
	with := func(m *mdns.Msg, f func(*mdns.Msg)) *mdns.Msg { f(m); return m }
	chain := func(links int) []mdns.RR {
		var rrs []mdns.RR
		prev := n
		for i := range links {
			next := fmt.Sprintf("c%d.test.", i)
			rrs = append(rrs, rrCNAME(prev, 60, next))
			prev = next
		}
		return append(rrs, rrA(prev, 60, "10.0.0.1"))
	}
	tests := []struct {
		name    string
		qtype   uint16
		msg     *mdns.Msg
		addrs   []netip.Addr
		records int
		ttl     uint32
		used    int
		next    string
		kind    error
		rcode   int
	}{
		{name: "nil message", msg: nil, kind: ErrMalformed, rcode: -1},
		{name: "not a response", msg: with(reply(n, mdns.TypeA), func(m *mdns.Msg) { m.Response = false }), kind: ErrMalformed},
		{name: "not a query", msg: with(reply(n, mdns.TypeA), func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate }), kind: ErrMalformed},
		{name: "answers another name", msg: reply("y.test.", mdns.TypeA, rrA("y.test.", 60, "10.0.0.1")), kind: ErrMalformed},
		{name: "answers another type", msg: reply(n, mdns.TypeAAAA, rrA(n, 60, "10.0.0.1")), kind: ErrMalformed},
		{name: "two questions", msg: with(reply(n, mdns.TypeA), func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
			kind: ErrMalformed},
		{name: "no question section is accepted", msg: with(reply(n, mdns.TypeA, rrA(n, 60, "10.0.0.1")), func(m *mdns.Msg) { m.Question = nil }),
			addrs: mock.Addrs("10.0.0.1"), records: 1, ttl: 60, used: 1},
		{name: "NXDOMAIN", msg: with(reply(n, mdns.TypeA), func(m *mdns.Msg) { m.Rcode = mdns.RcodeNameError }),
			kind: ErrNXDOMAIN, rcode: mdns.RcodeNameError},
		{name: "SERVFAIL", msg: with(reply(n, mdns.TypeA), func(m *mdns.Msg) { m.Rcode = mdns.RcodeServerFailure }),
			kind: ErrServerFailure, rcode: mdns.RcodeServerFailure},
		{name: "NOTIMP", msg: with(reply(n, mdns.TypeA), func(m *mdns.Msg) { m.Rcode = mdns.RcodeNotImplemented }),
			kind: ErrServerFailure, rcode: mdns.RcodeNotImplemented},
		{name: "truncated", msg: with(reply(n, mdns.TypeA, rrA(n, 60, "10.0.0.1")), func(m *mdns.Msg) { m.Truncated = true }),
			kind: ErrTruncated},
		{name: "NODATA", msg: reply(n, mdns.TypeA)},
		{name: "other names, classes and types are ignored", msg: reply(n, mdns.TypeA,
			rrA("y.test.", 1, "10.9.9.9"),
			&mdns.A{Hdr: mdns.RR_Header{Name: n, Rrtype: mdns.TypeA, Class: mdns.ClassCHAOS, Ttl: 1}, A: net.IPv4(10, 9, 9, 8)},
			rrAAAA(n, 1, "fd00::9"),
			&mdns.TXT{Hdr: mdns.RR_Header{Name: n, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 1}, Txt: []string{"x"}},
			rrA("X.TEST.", 60, "10.0.0.2"),
			rrA(n, 30, "10.0.0.1"),
			nil,
			(*mdns.A)(nil),
			(*mdns.CNAME)(nil),
		), addrs: mock.Addrs("10.0.0.1", "10.0.0.2"), records: 2, ttl: 30, used: 2},
		{name: "AAAA", qtype: mdns.TypeAAAA, msg: reply(n, mdns.TypeAAAA, rrAAAA(n, 60, "fd00::2"), rrA(n, 1, "10.0.0.1"), rrAAAA(n, 60, "fd00::1")),
			addrs: mock.Addrs("fd00::1", "fd00::2"), records: 2, ttl: 60, used: 2},
		{name: "duplicates merged but counted", msg: reply(n, mdns.TypeA, rrA(n, 60, "10.0.0.1"), rrA(n, 50, "10.0.0.1")),
			addrs: mock.Addrs("10.0.0.1"), records: 2, ttl: 50, used: 2},
		{name: "16-byte IPv4 in an A record", msg: reply(n, mdns.TypeA, &mdns.A{Hdr: rrA(n, 60, "10.0.0.1").Hdr, A: net.ParseIP("10.0.0.7")}),
			addrs: mock.Addrs("10.0.0.7"), records: 1, ttl: 60, used: 1},
		{name: "A record without an address", msg: reply(n, mdns.TypeA, rrA(n, 60, "10.0.0.1"), &mdns.A{Hdr: rrA(n, 60, "").Hdr}),
			kind: ErrMalformed},
		{name: "A record with an IPv6 address", msg: reply(n, mdns.TypeA, &mdns.A{Hdr: rrA(n, 60, "").Hdr, A: net.ParseIP("fd00::1")}),
			kind: ErrMalformed},
		{name: "AAAA record with an IPv4-mapped address", qtype: mdns.TypeAAAA,
			msg: reply(n, mdns.TypeAAAA, rrAAAA(n, 60, "::ffff:10.0.0.1")), kind: ErrMalformed},
		{name: "AAAA record with 4 bytes", qtype: mdns.TypeAAAA,
			msg: reply(n, mdns.TypeAAAA, &mdns.AAAA{Hdr: rrAAAA(n, 60, "fd00::1").Hdr, AAAA: net.IP{10, 0, 0, 1}}), kind: ErrMalformed},
		{name: "broken record of another name is ignored", msg: reply(n, mdns.TypeA, rrA(n, 60, "10.0.0.1"), &mdns.A{Hdr: rrA("y.test.", 60, "").Hdr}),
			addrs: mock.Addrs("10.0.0.1"), records: 1, ttl: 60, used: 1},
		{name: "CNAME chain, records out of order", msg: reply(n, mdns.TypeA,
			rrA("t.test.", 60, "10.0.0.1"), rrCNAME("a.test.", 20, "t.test."), rrCNAME(n, 300, "A.test.")),
			addrs: mock.Addrs("10.0.0.1"), records: 1, ttl: 20, used: 3},
		{name: "CNAME chain ends without addresses", msg: reply(n, mdns.TypeA, rrCNAME(n, 300, "a.test"), rrCNAME("a.test.", 40, "T.test.")),
			ttl: 40, used: 2, next: "t.test."},
		{name: "addresses win over a CNAME at the same name", msg: reply(n, mdns.TypeA, rrCNAME(n, 10, "a.test."), rrA(n, 60, "10.0.0.1")),
			addrs: mock.Addrs("10.0.0.1"), records: 1, ttl: 60, used: 1},
		{name: "the same CNAME twice", msg: reply(n, mdns.TypeA, rrCNAME(n, 50, "a.test."), rrCNAME(n, 40, "A.test"), rrA("a.test.", 60, "10.0.0.1")),
			addrs: mock.Addrs("10.0.0.1"), records: 1, ttl: 40, used: 2},
		{name: "two different CNAMEs", msg: reply(n, mdns.TypeA, rrCNAME(n, 50, "a.test."), rrCNAME(n, 40, "b.test.")), kind: ErrMalformed},
		{name: "CNAME to the root", msg: reply(n, mdns.TypeA, rrCNAME(n, 50, ".")), kind: ErrMalformed},
		{name: "CNAME to itself", msg: reply(n, mdns.TypeA, rrCNAME(n, 50, n)), kind: ErrCNAMELoop},
		{name: "CNAME loop", msg: reply(n, mdns.TypeA, rrCNAME(n, 50, "a.test."), rrCNAME("a.test.", 50, "x.TEST.")), kind: ErrCNAMELoop},
		{name: "chain of 8", msg: reply(n, mdns.TypeA, chain(8)...), addrs: mock.Addrs("10.0.0.1"), records: 1, ttl: 60, used: 9},
		{name: "chain of 9", msg: reply(n, mdns.TypeA, chain(9)...), kind: ErrCNAMELoop},
		{name: "other query type finds nothing", qtype: mdns.TypeMX, msg: reply(n, mdns.TypeMX, rrA(n, 60, "10.0.0.1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qtype := tt.qtype
			if qtype == 0 {
				qtype = mdns.TypeA
			}
			got, lerr := extract(n, qtype, tt.msg)
			if tt.kind != nil {
				if lerr == nil || lerr.Kind != tt.kind || lerr.Rcode != tt.rcode {
					t.Fatalf("extract = %+v, %v; want kind %v rcode %d", got, lerr, tt.kind, tt.rcode)
				}
				t.Logf("error: %v", lerr)
				return
			}
			if lerr != nil {
				t.Fatalf("unexpected error %v", lerr)
			}
			if !slices.Equal(got.addrs, tt.addrs) || got.records != tt.records || got.ttl != tt.ttl || got.used != tt.used || got.next != tt.next {
				t.Errorf("extract = addrs %v records %d ttl %d used %d next %q;\nwant addrs %v records %d ttl %d used %d next %q",
					got.addrs, got.records, got.ttl, got.used, got.next, tt.addrs, tt.records, tt.ttl, tt.used, tt.next)
			}
		})
	}
}

// FuzzExtract feeds extract any bytes the fuzzer makes of a packed reply
// (the seeds are under testdata/fuzz/FuzzExtract), with any name and query
// type. extract must not panic, and what it returns must hold together.
func FuzzExtract(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string, qtype uint16, packed []byte) {
		msg := new(mdns.Msg)
		// A reply that fails to parse completely may still reach extract
		// (a truncated datagram), so the partial message is used as well.
		_ = msg.Unpack(packed)
		res, lerr := extract(name, qtype, msg)
		if lerr != nil {
			if !slices.Contains(allKinds, lerr.Kind) || lerr.Error() == "" {
				t.Fatalf("error of unknown kind: %v", lerr)
			}
			if !errors.Is(lerr, lerr.Kind) {
				t.Fatalf("errors.Is(err, its kind) is false")
			}
			return
		}
		if !slices.IsSortedFunc(res.addrs, netip.Addr.Compare) || len(slices.Compact(slices.Clone(res.addrs))) != len(res.addrs) {
			t.Fatalf("addresses not sorted and unique: %v", res.addrs)
		}
		for _, a := range res.addrs {
			ok := (qtype == mdns.TypeA && a.Is4()) || (qtype == mdns.TypeAAAA && a.Is6() && !a.Is4In6())
			if !ok {
				t.Fatalf("%s in the answer to a %s query", a, typeString(qtype))
			}
		}
		if res.records < len(res.addrs) || res.used != res.records+len(res.chain) || len(res.chain) > MaxCNAMEDepth {
			t.Fatalf("inconsistent counts: %d addrs, %d records, %d used, chain %v", len(res.addrs), res.records, res.used, res.chain)
		}
		if res.next != "" && (len(res.addrs) > 0 || res.next != res.chain[len(res.chain)-1]) {
			t.Fatalf("next %q with addresses %v and chain %v", res.next, res.addrs, res.chain)
		}
	})
}
