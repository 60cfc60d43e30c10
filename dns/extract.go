package dns

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

// MaxCNAMEDepth bounds the CNAME links followed for one name, within one
// reply and across re-queries together. A longer chain is reported as
// ErrCNAMELoop: resolvers give up at about this depth too.
const MaxCNAMEDepth = 8

// extracted is what one reply says about one name and query type.
type extracted struct {
	// addrs are the addresses at the end of the chain, sorted and
	// deduplicated.
	addrs []netip.Addr
	// records counts the address records at the end of the chain before
	// deduplication: Route 53 caps it at 8.
	records int
	// ttl is the smallest TTL of the records used; valid when used > 0.
	ttl uint32
	// used counts the records used: CNAMEs and addresses.
	used int
	// chain lists the CNAME targets followed, canonical, in order.
	chain []string
	// next is the CNAME target to ask for when the chain in this reply
	// ends without addresses; "" otherwise.
	next string
}

// add unites o into e: the addresses, the larger record count and the
// smaller TTL of the records used. Chain and next are left alone.
func (e *extracted) add(o extracted) {
	e.addrs = append(e.addrs, o.addrs...)
	e.records = max(e.records, o.records)
	switch {
	case o.used == 0:
	case e.used == 0:
		e.ttl = o.ttl
	default:
		e.ttl = min(e.ttl, o.ttl)
	}
	e.used += o.used
}

// extract reads the addresses of name for qtype (A or AAAA) out of a reply,
// following CNAMEs inside it. It is pure and total: any message, however
// broken, gives a result or an error, never a panic. Records for other
// names, classes or types are ignored; a broken address record for the
// name is an error rather than skipped, because a silently shorter answer
// could make a live target look absent.
//
// Errors are *LookupError with Kind and Rcode set; the caller fills in the
// name, type and server.
func extract(name string, qtype uint16, msg *mdns.Msg) (extracted, *LookupError) {
	var res extracted
	if msg == nil {
		return res, malformed(-1, "no reply")
	}
	if !msg.Response {
		return res, malformed(msg.Rcode, "reply is not a response")
	}
	if msg.Opcode != mdns.OpcodeQuery {
		return res, malformed(msg.Rcode, fmt.Sprintf("reply has opcode %s", opcodeString(msg.Opcode)))
	}
	want := mdns.CanonicalName(name)
	if len(msg.Question) > 0 {
		q := msg.Question[0]
		if len(msg.Question) > 1 || q.Qtype != qtype || q.Qclass != mdns.ClassINET || mdns.CanonicalName(q.Name) != want {
			return res, malformed(msg.Rcode, fmt.Sprintf("reply answers another question (%s %s)", strings.TrimSuffix(q.Name, "."), typeString(q.Qtype)))
		}
	}
	switch msg.Rcode {
	case mdns.RcodeSuccess:
	case mdns.RcodeNameError:
		return res, &LookupError{Kind: ErrNXDOMAIN, Rcode: msg.Rcode}
	default:
		return res, &LookupError{Kind: ErrServerFailure, Rcode: msg.Rcode}
	}
	if msg.Truncated {
		return res, &LookupError{Kind: ErrTruncated, Rcode: msg.Rcode}
	}

	cur := want
	seen := map[string]bool{cur: true}
	res.ttl = math.MaxUint32
	for {
		n, err := collect(&res, cur, qtype, msg.Answer)
		if err != nil {
			return extracted{}, malformed(msg.Rcode, err.Error())
		}
		if n > 0 {
			break
		}
		target, ttl, err := cnameOf(cur, msg.Answer)
		if err != nil {
			return extracted{}, malformed(msg.Rcode, err.Error())
		}
		if target == "" {
			if cur != want {
				res.next = cur
			}
			break
		}
		res.chain = append(res.chain, target)
		if seen[target] {
			return extracted{}, &LookupError{Kind: ErrCNAMELoop, Rcode: msg.Rcode, Err: errors.New(chainString(want, res.chain))}
		}
		if len(res.chain) > MaxCNAMEDepth {
			return extracted{}, &LookupError{Kind: ErrCNAMELoop, Rcode: msg.Rcode,
				Err: fmt.Errorf("chain longer than %d: %s", MaxCNAMEDepth, chainString(want, res.chain))}
		}
		seen[target] = true
		res.ttl = min(res.ttl, ttl)
		res.used++
		cur = target
	}
	if res.used == 0 {
		res.ttl = 0
	}
	slices.SortFunc(res.addrs, netip.Addr.Compare)
	res.addrs = slices.Compact(res.addrs)
	return res, nil
}

// collect adds the address records of owner to res and returns how many
// there were.
func collect(res *extracted, owner string, qtype uint16, answer []mdns.RR) (int, error) {
	n := 0
	for _, rr := range answer {
		if rr == nil || !ownedBy(rr, owner) {
			continue
		}
		var addr netip.Addr
		switch rr := rr.(type) {
		case *mdns.A:
			if qtype != mdns.TypeA {
				continue
			}
			a, ok := netip.AddrFromSlice(rr.A)
			if a = a.Unmap(); !ok || !a.Is4() {
				return 0, fmt.Errorf("%s has an A record without an IPv4 address", strings.TrimSuffix(owner, "."))
			}
			addr = a
		case *mdns.AAAA:
			if qtype != mdns.TypeAAAA {
				continue
			}
			a, ok := netip.AddrFromSlice(rr.AAAA)
			if !ok || len(rr.AAAA) != 16 || a.Is4In6() {
				return 0, fmt.Errorf("%s has an AAAA record without an IPv6 address", strings.TrimSuffix(owner, "."))
			}
			addr = a
		default:
			continue
		}
		res.addrs = append(res.addrs, addr)
		res.ttl = min(res.ttl, rr.Header().Ttl)
		res.used++
		res.records++
		n++
	}
	return n, nil
}

// cnameOf returns the canonical CNAME target of owner, "" when it has
// none, and the CNAME's TTL.
func cnameOf(owner string, answer []mdns.RR) (string, uint32, error) {
	var target string
	var ttl uint32
	for _, rr := range answer {
		c, ok := rr.(*mdns.CNAME)
		if !ok || c == nil || !ownedBy(c, owner) {
			continue
		}
		t := mdns.CanonicalName(c.Target)
		if _, ok := mdns.IsDomainName(t); !ok || t == "." {
			return "", 0, fmt.Errorf("CNAME of %s has an invalid target %q", strings.TrimSuffix(owner, "."), c.Target)
		}
		switch {
		case target == "":
			target, ttl = t, c.Hdr.Ttl
		case target != t:
			return "", 0, fmt.Errorf("%s has two CNAMEs (%s and %s)", strings.TrimSuffix(owner, "."),
				strings.TrimSuffix(target, "."), strings.TrimSuffix(t, "."))
		default:
			ttl = min(ttl, c.Hdr.Ttl)
		}
	}
	return target, ttl, nil
}

func ownedBy(rr mdns.RR, owner string) bool {
	h := header(rr)
	return h != nil && h.Class == mdns.ClassINET && mdns.CanonicalName(h.Name) == owner
}

// header returns rr's header, nil for a nil or typed-nil record (which only
// a hand-built message can hold, but extract must survive any message).
func header(rr mdns.RR) (h *mdns.RR_Header) {
	if rr == nil {
		return nil
	}
	defer func() {
		if recover() != nil {
			h = nil
		}
	}()
	return rr.Header()
}

func malformed(rcode int, why string) *LookupError {
	return &LookupError{Kind: ErrMalformed, Rcode: rcode, Err: errors.New(why)}
}

// chainString renders a CNAME chain as "a -> b -> c".
func chainString(first string, chain []string) string {
	parts := []string{strings.TrimSuffix(first, ".")}
	for _, c := range chain {
		parts = append(parts, strings.TrimSuffix(c, "."))
	}
	return strings.Join(parts, " -> ")
}

func typeString(t uint16) string {
	if s, ok := mdns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

func opcodeString(op int) string {
	if s, ok := mdns.OpcodeToString[op]; ok {
		return s
	}
	return fmt.Sprintf("%d", op)
}
