package obs

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/tgsync/tgsync"
)

// TestSummarizeUnknownGroupIsNotEmpty: a binding whose source failed before
// the group was described says nothing of the group's members (null), while
// a described empty group says [] and a described one lists its members.
func TestSummarizeUnknownGroupIsNotEmpty(t *testing.T) {
	member := tgsync.ObservedTarget{Target: tgsync.Target{IP: netip.MustParseAddr("10.0.0.1"), Port: 443}, State: tgsync.HealthHealthy}
	tests := []struct {
		name string
		b    tgsync.BindingResult
		want string
	}{
		{"source failed", tgsync.BindingResult{Binding: "a", SourceErr: errors.New("SERVFAIL"), Err: errors.New("SERVFAIL")}, `"registered":null`},
		{"described, empty", tgsync.BindingResult{Binding: "a", Described: true}, `"registered":[]`},
		{"described", tgsync.BindingResult{Binding: "a", Described: true, Observed: []tgsync.ObservedTarget{member}}, `"registered":["10.0.0.1:443"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := json.Marshal(Summarize(tgsync.RunResult{Bindings: []tgsync.BindingResult{tc.b}}, false))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("summary %s\nwant it to hold %s", out, tc.want)
			}
		})
	}
}
