package ecsevent

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/tgsync/tgsync/internal/testenv"
)

// FuzzParse checks that no input makes Parse or Decide panic, that Parse
// fails only with an *InputError that says something, and that a decision
// to act always carries a task ARN, a reason and at least one usable IP,
// sorted, without duplicates and at most one of each family. The seed
// corpus in testdata/fuzz/FuzzParse holds the shared samples and the error
// shapes.
func FuzzParse(f *testing.F) {
	for _, name := range []string{interruption, "fargate-spot-termination-notice.json", "task-running.json", "task-stopped-by-user.json"} {
		f.Add(testenv.Testdata(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Parse(data)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Kind < NotJSON || ie.Kind > BadDetail || err.Error() == "" {
				t.Fatalf("error %T %q, want an *InputError with a message", err, err)
			}
			if ev != nil {
				t.Fatal("Parse returned an event and an error")
			}
			return
		}
		if ev == nil || ev.Source != Source {
			t.Fatalf("Parse accepted %+v", ev)
		}
		for _, f := range []Filter{{}, {ContainerName: "logstash", Group: "service:logstash"}} {
			task, act, reason := Decide(ev, f)
			if reason == "" {
				t.Fatal("a decision without a reason")
			}
			if !act {
				continue
			}
			if task.ARN == "" || task.Reason == "" || len(task.IPs) == 0 || task.Version < 0 {
				t.Fatalf("act on %+v", task)
			}
			if !slices.IsSortedFunc(task.IPs, netip.Addr.Compare) || len(slices.Compact(slices.Clone(task.IPs))) != len(task.IPs) {
				t.Fatalf("IPs %v not sorted and unique", task.IPs)
			}
			v4 := 0
			for _, ip := range task.IPs {
				if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
					t.Fatalf("unusable IP %v", ip)
				}
				if ip.Is4() {
					v4++
				}
			}
			if v4 > 1 || len(task.IPs)-v4 > 1 {
				t.Fatalf("IPs %v: more than the one IPv4 and one IPv6 address a task has", task.IPs)
			}
		}
	})
}
