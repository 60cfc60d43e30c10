package dnstest

import (
	"encoding/binary"
	"net"

	mdns "github.com/miekg/dns"
)

// serve answers one query.
func (s *Server) serve(w mdns.ResponseWriter, req *mdns.Msg) {
	_, udp := w.LocalAddr().(*net.UDPAddr)
	reply, raw := s.reply(req, udp)
	switch {
	case raw != nil:
		_, _ = w.Write(raw)
	case reply != nil:
		_ = w.WriteMsg(reply)
	}
	// Neither: no reply at all (FaultTimeout and friends).
}

// reply builds the reply to req: a message, raw bytes, or neither for no
// reply. It holds the lock throughout, so that counts, records and the
// random source are read consistently.
func (s *Server) reply(req *mdns.Msg, udp bool) (*mdns.Msg, []byte) {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 || req.Opcode != mdns.OpcodeQuery {
		m.SetRcode(req, mdns.RcodeFormatError)
		return m, nil
	}
	q := req.Question[0]
	key := canonical(q.Name)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	s.perName[key]++

	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		m.SetEdns0(uint16(size), false)
	}

	fault, ok := s.faults[typeKey(key, q.Qtype)]
	if !ok {
		fault = s.faults[key]
	}
	switch fault {
	case FaultServFail:
		m.Rcode = mdns.RcodeServerFailure
		return m, nil
	case FaultRefused:
		m.Rcode = mdns.RcodeRefused
		return m, nil
	case FaultNXDomain:
		m.Rcode = mdns.RcodeNameError
		return m, nil
	case FaultTimeout:
		return nil, nil
	case FaultEmpty:
		return m, nil
	case FaultGarbage:
		return nil, garbage(req.Id)
	case FaultWrongID:
		m.Id = req.Id + 1
		s.answer(m, q, key)
		return m, nil
	case FaultTruncateAll:
		m.Truncated = true
		return m, nil
	case FaultTruncate, FaultTruncateDropTCP:
		if udp {
			m.Truncated = true
			return m, nil
		}
		if fault == FaultTruncateDropTCP {
			return nil, nil
		}
	}
	if _, ok := s.names[key]; !ok {
		m.Rcode = mdns.RcodeNameError
		return m, nil
	}
	s.answer(m, q, key)
	if udp && fault != FaultOversize {
		// Sets TC when records had to go, as a real server must.
		m.Truncate(size)
	}
	return m, nil
}

// answer fills m with the records for q, following CNAMEs the server
// holds unless told not to. A CNAME loop ends where it would repeat.
func (s *Server) answer(m *mdns.Msg, q mdns.Question, key string) {
	owner := q.Name // the client's spelling, as real servers echo it
	seen := map[string]bool{}
	for {
		e, ok := s.names[key]
		if !ok || seen[key] {
			return
		}
		seen[key] = true
		if e.cname != "" {
			m.Answer = append(m.Answer, &mdns.CNAME{
				Hdr:    mdns.RR_Header{Name: owner, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: e.cnameTTL},
				Target: e.cname,
			})
			if s.noFollow || q.Qtype == mdns.TypeCNAME {
				return
			}
			owner, key = e.cname, e.cname
			continue
		}
		var rrs []mdns.RR
		for _, a := range e.addrs {
			hdr := mdns.RR_Header{Name: owner, Class: mdns.ClassINET, Ttl: e.ttl}
			switch {
			case a.Is4() && q.Qtype == mdns.TypeA:
				hdr.Rrtype = mdns.TypeA
				rrs = append(rrs, &mdns.A{Hdr: hdr, A: a.AsSlice()})
			case a.Is6() && q.Qtype == mdns.TypeAAAA:
				hdr.Rrtype = mdns.TypeAAAA
				rrs = append(rrs, &mdns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
		if s.maxAnswers > 0 && len(rrs) > s.maxAnswers {
			s.rng.Shuffle(len(rrs), func(i, j int) { rrs[i], rrs[j] = rrs[j], rrs[i] })
			rrs = rrs[:s.maxAnswers]
		}
		m.Answer = append(m.Answer, rrs...)
		return
	}
}

// garbage is a reply with the right ID and a NOERROR header announcing a
// question and an answer, followed by bytes that are neither.
func garbage(id uint16) []byte {
	b := make([]byte, 12, 15)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x8580) // QR, AA, RD, RA, NOERROR
	binary.BigEndian.PutUint16(b[4:], 1)      // QDCOUNT
	binary.BigEndian.PutUint16(b[6:], 1)      // ANCOUNT
	return append(b, 0xff, 0xff, 0xff)
}
