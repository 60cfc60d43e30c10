package dns

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// The kinds of lookup failure. Every error Lookup returns is a *LookupError
// whose Kind is one of these, so callers tell them apart with errors.Is.
// Whatever the kind, a failed lookup is no evidence that an address went
// away: the observation as a whole failed.
var (
	// ErrNXDOMAIN: the name does not exist. It is authoritative and ends
	// the lookup without asking other servers.
	ErrNXDOMAIN = errors.New("NXDOMAIN")
	// ErrNoData: the name exists but holds no address of any requested
	// family.
	ErrNoData = errors.New("no address records")
	// ErrServerFailure: the server answered SERVFAIL, REFUSED or another
	// error rcode (LookupError.Rcode says which).
	ErrServerFailure = errors.New("server failure")
	// ErrTimeout: no usable reply in time, or the server could not be
	// reached at all (LookupError.Err holds the network error, and the
	// message says "unreachable").
	ErrTimeout = errors.New("timeout")
	// ErrTruncated: the UDP reply was truncated, or larger than the EDNS
	// size announced, and TCP did not give a whole one (TC set again, or
	// the TCP query failed).
	ErrTruncated = errors.New("truncated")
	// ErrCNAMELoop: the CNAME chain loops or is longer than MaxCNAMEDepth.
	ErrCNAMELoop = errors.New("CNAME loop")
	// ErrMalformed: a reply that cannot be used (does not parse, answers
	// another question, holds a broken address record, ...).
	ErrMalformed = errors.New("malformed answer")
)

// LookupError says which query failed, where, and how.
type LookupError struct {
	// Name is the name looked up, without the trailing dot. When a later
	// link of its CNAME chain failed, Err shows the chain up to that link.
	Name string
	// Type is the query type ("A", "AAAA"); for ErrNoData, the families
	// asked for ("A+AAAA").
	Type string
	// Server is the server that gave the final reply, "" when the failure
	// concerns the lookup as a whole.
	Server string
	// Kind is one of the Err* sentinels.
	Kind error
	// Rcode is the reply's rcode, or -1 when there was no usable reply.
	Rcode int
	// Err is the underlying cause, if any (a network error, a parse error,
	// a context error). Lookup gives it a text that is the same for the
	// same failure on every query; errors.Is and errors.As still reach the
	// original.
	Err error
}

// Error reads like "lookup vpc-x.es.amazonaws.com A via 10.0.0.2:53: SERVFAIL"
// or "... via 10.0.0.2:53: timeout: read udp: i/o timeout". The text
// names the server and the failure and nothing that changes from query to
// query (local ports, query IDs), because it is kept in the state, which
// must not change while the failure stays the same.
func (e *LookupError) Error() string {
	var b strings.Builder
	b.WriteString("lookup ")
	b.WriteString(e.Name)
	if e.Type != "" {
		b.WriteString(" ")
		b.WriteString(e.Type)
	}
	if e.Server != "" {
		b.WriteString(" via ")
		b.WriteString(e.Server)
	}
	b.WriteString(": ")
	var ne net.Error
	switch {
	case e.Kind == ErrServerFailure && e.Rcode >= 0:
		b.WriteString(rcodeString(e.Rcode))
	case e.Kind == ErrTimeout && errors.As(e.Err, &ne) && !ne.Timeout():
		b.WriteString("unreachable")
	case e.Kind != nil:
		b.WriteString(e.Kind.Error())
	default:
		b.WriteString("failed")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *LookupError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func rcodeString(rcode int) string {
	if s, ok := mdns.RcodeToString[rcode]; ok {
		return s
	}
	return "rcode " + strconv.Itoa(rcode)
}

// causeError is a cause whose text was fixed when it was made. Unwrap
// gives the original to errors.Is and errors.As.
type causeError struct {
	text string
	err  error
}

func (e *causeError) Error() string { return e.text }
func (e *causeError) Unwrap() error { return e.err }

// stable returns err with a text that is the same for the same failure on
// every query: a network error loses the local and remote addresses of its
// socket ("read udp 127.0.0.1:54321->10.0.0.2:53: i/o timeout" becomes
// "read udp: i/o timeout"; LookupError.Server names the server). An error
// that is already stable, or wraps one, is returned as it is.
func stable(err error) error {
	var ce *causeError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return &causeError{text: stableText(err), err: err}
}

func stableText(err error) string {
	var op *net.OpError
	if !errors.As(err, &op) {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(op.Op)
	if op.Net != "" {
		b.WriteString(" " + op.Net)
	}
	b.WriteString(": ")
	cause := op.Err
	var se *os.SyscallError
	if errors.As(cause, &se) {
		cause = se.Err
	}
	var ne net.Error
	switch {
	case cause == nil:
		b.WriteString("failed")
	case errors.As(cause, &ne) && ne.Timeout():
		b.WriteString("i/o timeout")
	default:
		b.WriteString(cause.Error())
	}
	return b.String()
}
