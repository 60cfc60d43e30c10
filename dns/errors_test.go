package dns

import (
	"context"
	"errors"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/mock"
)

// hostPort finds IPv4 addresses with or without a port in an error text.
var hostPort = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}(:\d+)?`)

// TestLookupErrorsAreStable: the same failure gives the same text on every
// run. The reconciler keeps the text in the state (LastError), so a text
// that names the local port of the query, or anything else that varies,
// rewrites the state on every failed run. Each case fails twice in a row
// against the same server; the texts must be equal, name the server and
// the kind of failure, and hold no address but the server's.
func TestLookupErrorsAreStable(t *testing.T) {
	s := startServer(t)
	closed := closedPort(t)
	faulty := func(f dnstest.Fault) func(name string) {
		return func(name string) {
			s.SetA(name, 60, mock.Addrs("10.0.0.1")...)
			s.SetFault(name, f)
		}
	}
	tests := []struct {
		name   string
		setup  func(name string)
		server string // "" for the dnstest server
		kind   error
		says   string // the failure as the text must name it
	}{
		{"servfail", faulty(dnstest.FaultServFail), "", ErrServerFailure, ": SERVFAIL"},
		{"refused", faulty(dnstest.FaultRefused), "", ErrServerFailure, ": REFUSED"},
		{"nxdomain", faulty(dnstest.FaultNXDomain), "", ErrNXDOMAIN, ": NXDOMAIN"},
		{"missing", func(string) {}, "", ErrNXDOMAIN, ": NXDOMAIN"},
		{"empty", faulty(dnstest.FaultEmpty), "", ErrNoData, ": no address records"},
		{"timeout", faulty(dnstest.FaultTimeout), "", ErrTimeout, ": timeout: read udp: i/o timeout"},
		{"wrong-id", faulty(dnstest.FaultWrongID), "", ErrTimeout, ": timeout: read udp: i/o timeout"},
		{"garbage", faulty(dnstest.FaultGarbage), "", ErrMalformed, ": malformed answer: "},
		{"truncate-all", faulty(dnstest.FaultTruncateAll), "", ErrTruncated, ": truncated: TC set over TCP too"},
		{"truncate-drop-tcp", faulty(dnstest.FaultTruncateDropTCP), "", ErrTruncated, ": truncated: TCP retry failed: read tcp: i/o timeout"},
		{"cname-loop", func(name string) { s.SetCNAME(name, name, 60) }, "", ErrCNAMELoop, ": CNAME loop: "},
		{"connection-refused", func(string) {}, closed, ErrTimeout, ": unreachable: read udp: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.name + ".test"
			tt.setup(name)
			server := tt.server
			if server == "" {
				server = s.Addr()
			}
			r := newResolver(t, Config{Attempts: 1, Lookups: 1}, server)
			var texts [2]string
			for i := range texts {
				_, err := r.Lookup(context.Background(), name, nil)
				checkKind(t, err, tt.kind)
				texts[i] = err.Error()
			}
			if texts[0] != texts[1] {
				t.Fatalf("the same failure gave two texts:\n%s\n%s", texts[0], texts[1])
			}
			text := texts[0]
			if !strings.Contains(text, tt.says) {
				t.Errorf("error %q does not say %q", text, tt.says)
			}
			if tt.kind != ErrNoData && !strings.Contains(text, " via "+server+": ") {
				t.Errorf("error %q does not name the server %s", text, server)
			}
			for _, a := range hostPort.FindAllString(text, -1) {
				if a != server {
					t.Errorf("error %q names the address %s", text, a)
				}
			}
		})
	}
}

// TestStableCauseKeepsTheOriginal: the stable text drops the socket's
// addresses, and errors.Is and errors.As still reach the network error.
func TestStableCauseKeepsTheOriginal(t *testing.T) {
	op := &net.OpError{Op: "read", Net: "udp",
		Source: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321},
		Addr:   &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 53},
		Err:    os.NewSyscallError("recvfrom", syscall.ECONNREFUSED)}
	err := &LookupError{Name: "x.test", Type: "A", Server: "10.0.0.2:53", Kind: ErrTimeout, Rcode: -1, Err: stable(op)}
	if want := "lookup x.test A via 10.0.0.2:53: unreachable: read udp: connection refused"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	var ope *net.OpError
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &ope) || ope != op {
		t.Errorf("%v: errors.Is/As no longer reach the kind and the network error", err)
	}
	if again := stable(err.Err); again != err.Err {
		t.Error("a stable cause is wrapped again")
	}
	if stable(nil) != nil {
		t.Error("stable(nil) is not nil")
	}
}
