// Package dnstest runs an authoritative DNS server in the process, on
// loopback, for tests and for the demo: records are set from Go, and
// faults (SERVFAIL, timeouts, truncation, garbage, ...) are switched on per
// name. Like net/http/httptest it is ordinary code, not test code.
//
// The server answers like Route 53 where that matters to tgsync: it
// follows CNAMEs to the targets it holds, can return a random subset of at
// most n address records per answer (SetMaxAnswers(8)), and truncates UDP
// replies that exceed the client's buffer so that the client must retry
// over TCP (unless FaultOversize says otherwise).
package dnstest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"

	mdns "github.com/miekg/dns"
)

// Fault is a misbehaviour of the server for one name.
type Fault int

// The faults. Each applies to queries for the name it is set on, whatever
// the records hold.
const (
	FaultNone     Fault = iota
	FaultServFail       // rcode SERVFAIL
	FaultRefused        // rcode REFUSED
	FaultNXDomain       // rcode NXDOMAIN even if records exist
	FaultTimeout        // no reply at all
	FaultEmpty          // NOERROR with no records
	// FaultTruncate: UDP replies carry TC and no records; TCP answers
	// fully.
	FaultTruncate
	// FaultGarbage: a reply with the right ID that does not parse.
	FaultGarbage
	// FaultWrongID: a well-formed reply with another ID. A careful UDP
	// client ignores it (it could be spoofed) and so sees a timeout.
	FaultWrongID
	// FaultTruncateAll: UDP and TCP replies both carry TC and no records.
	FaultTruncateAll
	// FaultTruncateDropTCP: UDP replies carry TC; TCP queries get no reply.
	FaultTruncateDropTCP
	// FaultOversize: UDP replies carry every record, however many, without
	// TC, as a server that ignores the client's EDNS size does; TCP answers
	// normally.
	FaultOversize
)

var faultNames = [...]string{"none", "servfail", "refused", "nxdomain", "timeout", "empty",
	"truncate", "garbage", "wrong-id", "truncate-all", "truncate-drop-tcp", "oversize"}

func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// ParseFault reads a fault by the name String gives it, for the demo's
// command line.
func ParseFault(s string) (Fault, error) {
	for i, n := range faultNames {
		if n == s {
			return Fault(i), nil
		}
	}
	return 0, fmt.Errorf("dnstest: unknown fault %q; want one of %v", s, faultNames)
}

// Server is an authoritative DNS server on 127.0.0.1, UDP and TCP on the
// same port. Its methods are safe for concurrent use.
type Server struct {
	addr      string
	udp, tcp  *mdns.Server
	closeOnce sync.Once
	closeErr  error

	mu         sync.Mutex
	names      map[string]*entry // by canonical name
	faults     map[string]Fault
	maxAnswers int
	noFollow   bool
	rng        *rand.Rand
	queries    int
	perName    map[string]int
}

// entry is what one name holds: addresses or a CNAME.
type entry struct {
	ttl      uint32
	addrs    []netip.Addr
	cname    string
	cnameTTL uint32
}

// Start binds UDP and TCP on the same free port of 127.0.0.1 and serves.
func Start() (*Server, error) {
	var lastErr error
	// The UDP port is free by construction; the same TCP port may be
	// taken, so try a few ports.
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dnstest: listen udp: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		s := &Server{
			addr:    addr,
			names:   map[string]*entry{},
			faults:  map[string]Fault{},
			perName: map[string]int{},
			rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		}
		s.udp = &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(s.serve)}
		s.tcp = &mdns.Server{Listener: ln, Handler: mdns.HandlerFunc(s.serve)}
		if err := s.activate(); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("dnstest: no port free for both UDP and TCP: %w", lastErr)
}

// activate starts both servers and waits until they serve, so that Close
// right after Start is safe.
func (s *Server) activate() error {
	errc := make(chan error, 2)
	for _, srv := range []*mdns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { errc <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-errc:
			s.udp.PacketConn.Close()
			s.tcp.Listener.Close()
			return fmt.Errorf("dnstest: serve: %w", err)
		}
	}
	return nil
}

// Addr returns "127.0.0.1:port", for UDP and TCP alike.
func (s *Server) Addr() string { return s.addr }

// Close stops both servers; closing again does nothing.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = errors.Join(s.udp.Shutdown(), s.tcp.Shutdown()) })
	return s.closeErr
}

func canonical(name string) string { return mdns.CanonicalName(name) }

// SetA makes name hold addrs, with A records for IPv4 and AAAA records for
// IPv6 addresses, replacing what it held. No addresses leave a name that
// exists but answers every type empty. Invalid addresses are ignored.
func (s *Server) SetA(name string, ttl uint32, addrs ...netip.Addr) {
	e := &entry{ttl: ttl}
	for _, a := range addrs {
		if a.IsValid() {
			e.addrs = append(e.addrs, a.Unmap())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[canonical(name)] = e
}

// SetCNAME makes name an alias of target, replacing what it held.
func (s *Server) SetCNAME(name, target string, ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[canonical(name)] = &entry{cname: canonical(target), cnameTTL: ttl}
}

// Remove deletes the records of name; it answers NXDOMAIN from then on.
// Its fault, if any, stays.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, canonical(name))
}

// SetFault makes queries for name misbehave; FaultNone restores normal
// answers.
func (s *Server) SetFault(name string, f Fault) { s.setFault(canonical(name), f) }

// SetTypeFault is SetFault for queries of one type only (e.g.
// mdns.TypeAAAA), for servers that fail one type and answer the other. It
// takes precedence over the name's fault.
func (s *Server) SetTypeFault(name string, qtype uint16, f Fault) {
	s.setFault(typeKey(canonical(name), qtype), f)
}

func typeKey(name string, qtype uint16) string { return fmt.Sprintf("%s/%d", name, qtype) }

// setFault sets the fault of a name or name/type key; FaultNone clears it.
func (s *Server) setFault(key string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == FaultNone {
		delete(s.faults, key)
		return
	}
	s.faults[key] = f
}

// SetMaxAnswers makes every answer carry a random subset of at most n of a
// name's address records, in random order, as Route 53 does with n = 8.
// n <= 0 returns them all, in the order they were set.
func (s *Server) SetMaxAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxAnswers = n
}

// Seed makes the random subsets of SetMaxAnswers reproducible: with the
// same seed and the same sequence of queries they are the same.
func (s *Server) Seed(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rng = rand.New(rand.NewPCG(seed, seed))
}

// SetFollowCNAME chooses whether an answer goes on with the records of a
// CNAME target the server holds (the default, as Route 53 does within a
// hosted zone), or stops at the CNAME, as a server not authoritative for
// the target does; the client must then ask again.
func (s *Server) SetFollowCNAME(follow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noFollow = !follow
}

// Queries returns the number of queries received, over UDP and TCP.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// QueriesFor returns the number of queries received for name.
func (s *Server) QueriesFor(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perName[canonical(name)]
}

// ResetQueries sets the query counters back to zero.
func (s *Server) ResetQueries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = 0
	clear(s.perName)
}
