package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/tgsync/tgsync"
)

// AnswerCap is the most address records Route 53 puts in one answer. A
// first round with fewer records for a family saw the whole set, so the
// repeats for that family are skipped.
const AnswerCap = 8

// ednsSize is the UDP payload size announced with EDNS(0): the DNS Flag
// Day 2020 value, which avoids fragmentation and still fits 70 A records.
const ednsSize = 1232

// Lookup makes one observation of name: its A and/or AAAA addresses,
// following CNAMEs, repeated Lookups times per family and united.
//
// Repeats cost queries, so a family whose first round showed fewer than
// AnswerCap address records in every reply is not asked again: such an
// answer is complete. A family whose first round hit the cap is asked
// Lookups times in all.
//
// Repeats only help where answers differ: a caching resolver (the VPC
// resolver caches for the record's TTL) shows the same subset until its
// cache expires, and then successive observations see different subsets,
// which the miss counter of the safety rules absorbs.
//
// Any failed query fails the whole observation with a *LookupError: a
// partial union could make a live target look absent. A family with no
// address is fine as long as another has some; none at all is ErrNoData.
// On error the returned Answer holds only Queries. A bad name or family is
// a plain error, returned before any query.
func (r *Resolver) Lookup(ctx context.Context, name string, fams Families) (tgsync.Answer, error) {
	q, err := fqdn(name)
	if err != nil {
		return tgsync.Answer{}, err
	}
	fams, err = fams.normalize()
	if err != nil {
		return tgsync.Answer{}, err
	}
	var (
		all     extracted // the union of every round
		queries int
	)
	for _, fam := range fams {
		for round := 0; round < r.lookups; round++ {
			res, n, err := r.resolve(ctx, q, fam.qtype())
			queries += n
			if err != nil {
				return tgsync.Answer{Queries: queries}, err
			}
			all.add(res)
			if round == 0 && res.records < AnswerCap {
				break
			}
		}
	}
	if len(all.addrs) == 0 {
		return tgsync.Answer{Queries: queries}, &LookupError{
			Name: strings.TrimSuffix(q, "."), Type: fams.typeNames(), Kind: ErrNoData, Rcode: mdns.RcodeSuccess}
	}
	slices.SortFunc(all.addrs, netip.Addr.Compare)
	ans := tgsync.Answer{Addrs: slices.Compact(all.addrs), Queries: queries}
	if all.used > 0 {
		ans.TTL = time.Duration(all.ttl) * time.Second
	}
	return ans, nil
}

// resolve follows name to its addresses, asking again for the target when
// a reply stops at a CNAME. The result unites the replies of the chain
// (records is the most of one reply); its chain and next are unset. It
// returns the queries sent, failed or not.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16) (extracted, int, error) {
	var (
		out     extracted
		queries int
		chain   []string
	)
	seen := map[string]bool{mdns.CanonicalName(name): true}
	cur := name
	for {
		res, n, err := r.query(ctx, cur, qtype)
		queries += n
		if err != nil {
			if len(chain) > 0 {
				// Report the name looked up, and where in the chain it failed.
				err.Name = strings.TrimSuffix(name, ".")
				at := "at " + chainString(name, chain)
				if err.Err != nil {
					err.Err = fmt.Errorf("%s: %w", at, err.Err)
				} else {
					err.Err = errors.New(at)
				}
			}
			return extracted{}, queries, err
		}
		for _, c := range res.chain {
			chain = append(chain, c)
			if seen[c] || len(chain) > MaxCNAMEDepth {
				why := chainString(name, chain)
				if !seen[c] {
					why = fmt.Sprintf("chain longer than %d: %s", MaxCNAMEDepth, why)
				}
				return extracted{}, queries, &LookupError{
					Name: strings.TrimSuffix(name, "."), Type: typeString(qtype), Kind: ErrCNAMELoop, Rcode: mdns.RcodeSuccess,
					Err: errors.New(why)}
			}
			seen[c] = true
		}
		out.add(res)
		if res.next == "" {
			return out, queries, nil
		}
		cur = res.next
	}
}

// query asks the servers in order for name and qtype until one gives a
// usable reply. A UDP reply with TC, or larger than the EDNS size it was
// allowed, is asked again over TCP. Timeouts and network errors retry the
// same server up to Attempts times; SERVFAIL, REFUSED, unusable and
// still-truncated replies move on to the next server; NXDOMAIN and a CNAME
// loop end the query. It returns the queries sent, UDP and TCP alike.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (extracted, int, *LookupError) {
	var (
		last    *LookupError
		queries int
	)
	fail := func(server string, kind error, rcode int, err error) *LookupError {
		return &LookupError{Name: strings.TrimSuffix(name, "."), Type: typeString(qtype), Server: server, Kind: kind, Rcode: rcode, Err: stable(err)}
	}
	for _, server := range r.servers {
	attempts:
		for range r.attempts {
			if err := ctx.Err(); err != nil {
				return extracted{}, queries, fail(server, ErrTimeout, -1, err)
			}
			reply, oversized, err := r.exchangeUDP(ctx, server, name, qtype)
			queries++
			truncated := reply != nil && reply.Truncated
			if err != nil && !truncated && !oversized {
				// A truncated datagram may fail to parse; TCP decides.
				if ctxErr := ctx.Err(); ctxErr != nil {
					return extracted{}, queries, fail(server, ErrTimeout, -1, ctxErr)
				}
				if isNetErr(err) {
					last = fail(server, ErrTimeout, -1, err)
					continue
				}
				last = fail(server, ErrMalformed, -1, err)
				break attempts
			}
			if truncated || oversized {
				why := "TCP retry failed"
				if oversized {
					why = fmt.Sprintf("UDP reply over the advertised %d bytes without TC, %s", ednsSize, why)
				}
				reply, err = exchange(ctx, r.tcp, server, name, qtype)
				queries++
				if err != nil {
					if ctxErr := ctx.Err(); ctxErr != nil {
						return extracted{}, queries, fail(server, ErrTimeout, -1, ctxErr)
					}
					last = fail(server, ErrTruncated, -1, fmt.Errorf("%s: %w", why, stable(err)))
					break attempts
				}
				if reply.Truncated {
					last = fail(server, ErrTruncated, reply.Rcode, errors.New("TC set over TCP too"))
					break attempts
				}
			}
			res, lerr := extract(name, qtype, reply)
			if lerr == nil {
				return res, queries, nil
			}
			lerr.Name, lerr.Type, lerr.Server = strings.TrimSuffix(name, "."), typeString(qtype), server
			switch lerr.Kind {
			case ErrNXDOMAIN, ErrCNAMELoop:
				return extracted{}, queries, lerr
			}
			last = lerr
			break attempts
		}
	}
	if last == nil { // no servers or no attempts: New prevents both
		last = fail("", ErrTimeout, -1, errors.New("no server to ask"))
	}
	return extracted{}, queries, last
}

// udpReadSize is the receive buffer for UDP replies: one byte more than
// the EDNS size announced, so that a reply from a server that ignores the
// size is seen to be larger. The kernel cuts a datagram at the end of the
// buffer, and a cut reply fails to parse or, cut between two records,
// parses as a shorter answer that could make a live target look absent.
const udpReadSize = ednsSize + 1

// question is the query for name and qtype, with a fresh ID and EDNS(0).
func question(name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(ednsSize, false)
	return m
}

// exchangeUDP sends one query over UDP and returns the reply, which may be
// non-nil alongside a parse error. oversized reports a reply larger than
// ednsSize, which is not read (it may be cut) but asked again over TCP,
// as a truncated one is. Replies with another ID are ignored, as
// miekg/dns does: a late reply to an earlier query, or a spoof.
func (r *Resolver) exchangeUDP(ctx context.Context, server, name string, qtype uint16) (reply *mdns.Msg, oversized bool, err error) {
	q := question(name, qtype)
	conn, err := r.udp.DialContext(ctx, server)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	deadline := time.Now().Add(r.udp.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, false, err
	}
	if err := conn.WriteMsg(q); err != nil {
		return nil, false, err
	}
	conn.UDPSize = udpReadSize
	for {
		var hdr mdns.Header
		raw, err := conn.ReadMsgHeader(&hdr)
		switch {
		case err != nil:
			return nil, false, err
		case hdr.Id != q.Id:
			continue
		case len(raw) > ednsSize:
			return nil, true, nil
		}
		reply = new(mdns.Msg)
		return reply, false, reply.Unpack(raw)
	}
}

// exchange sends one query with client c (TCP) and returns the reply,
// which may be non-nil alongside a parse error.
func exchange(ctx context.Context, c *mdns.Client, server, name string, qtype uint16) (*mdns.Msg, error) {
	reply, _, err := c.ExchangeContext(ctx, question(name, qtype), server)
	return reply, err
}
