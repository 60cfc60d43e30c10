package faults

import (
	"fmt"
	"testing"

	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/dns/dnstest"
)

// TestDNSFaults runs each DNS failure against the real resolver and an
// authoritative server in the process. Every one must fail the observation
// (rule 1): nothing registered or removed, no miss counted.
func TestDNSFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault dnstest.Fault
		kind  error
	}{
		{"timeout (no reply)", dnstest.FaultTimeout, dns.ErrTimeout},
		{"SERVFAIL", dnstest.FaultServFail, dns.ErrServerFailure},
		{"NXDOMAIN", dnstest.FaultNXDomain, dns.ErrNXDOMAIN},
		{"empty answer (NOERROR, no records)", dnstest.FaultEmpty, dns.ErrNoData},
		{"truncated over UDP, TCP fails", dnstest.FaultTruncateDropTCP, dns.ErrTruncated},
	}
	var faults []fault
	for _, tt := range tests {
		faults = append(faults, fault{
			area: "DNS", name: tt.name, runs: 3, everyRun: true, fired: sourceFailedWith(tt.kind),
			on: func(e *env) {
				for _, b := range e.bindings {
					e.dns.SetFault(b.host, tt.fault)
				}
			},
			off: func(e *env) {
				for _, b := range e.bindings {
					e.dns.SetFault(b.host, dnstest.FaultNone)
				}
			},
		})
	}
	// A CNAME loop: the name points into a pair of aliases that point at
	// each other, as a broken zone change can leave it. The next run's
	// records replace the alias.
	faults = append(faults, fault{
		area: "DNS", name: "CNAME loop", runs: 3, everyRun: true, fired: sourceFailedWith(dns.ErrCNAMELoop),
		on: func(e *env) {
			for _, b := range e.bindings {
				a, c := "loop-a."+b.host, "loop-b."+b.host
				e.dns.SetCNAME(b.host, a, 60)
				e.dns.SetCNAME(a, c, 60)
				e.dns.SetCNAME(c, a, 60)
			}
		},
	})
	for _, f := range faults {
		for _, mv := range []movement{moveDuring, moveAfter} {
			t.Run(fmt.Sprintf("%s/move %s", f.name, mv), func(t *testing.T) {
				t.Parallel()
				runPlay(t, play{before: nodesBefore, after: nodesAfter, move: mv}, f)
			})
		}
	}
}

// sourceFailedWith is a fired check: the source failed with the kind.
func sourceFailedWith(kind error) func(e *env, o outcome) bool {
	return func(e *env, o outcome) bool {
		for _, b := range e.bindings {
			for _, r := range o.of(b.name) {
				if isErr(kind)(r.SourceErr) {
					return true
				}
			}
		}
		return false
	}
}
