package storetest

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// SampleState fills every field of the schema, so that a round trip that
// drops one shows up in the comparison.
func SampleState(bindings int) *tgsync.State {
	s := tgsync.NewState()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range bindings {
		b := s.Binding(fmt.Sprintf("binding-%03d", i))
		t := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), Port: 443}
		gone := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 2}), Port: 443}
		b.Owned = map[tgsync.Target]time.Time{t: at, gone: at}
		b.Misses = map[tgsync.Target]tgsync.Miss{gone: {Count: 2, Since: at.Add(time.Minute)}}
		b.AZAll = i%2 == 0
		b.Answer = &tgsync.SourceAnswer{Addrs: []netip.Addr{t.IP}, TTL: tgsync.Duration(60 * time.Second), At: at}
		b.LastError = "source vpc-x.es.amazonaws.com failed: SERVFAIL"
		b.Refusing = []string{"deregister " + gone.String() + " last-healthy"}
		b.History = []tgsync.Event{
			{Time: at, Action: tgsync.ActionRegister, Target: t.String(), Reason: "in the answer and not in the target group"},
			{Time: at, Action: tgsync.ActionDeregister, Target: gone.String(), Refused: true, Rule: tgsync.RuleLastHealthy, Reason: "last healthy"},
		}
	}
	return s
}

// benchStates are 100 bindings with the sample's two history events, and
// the same with every binding's history full (tgsync.HistoryLimit), the
// largest a state of 100 bindings gets.
func benchStates() []struct {
	name  string
	state *tgsync.State
} {
	full := SampleState(100)
	for _, b := range full.Bindings {
		for len(b.History) < tgsync.HistoryLimit {
			b.History = append(b.History, b.History[len(b.History)%2])
		}
	}
	return []struct {
		name  string
		state *tgsync.State
	}{{"100-bindings", SampleState(100)}, {"100-bindings-full-history", full}}
}

// BenchSave measures saving each bench state over and over into a place
// from open; size reports the bytes the place holds, as state-bytes.
func BenchSave(b *testing.B, open func(b *testing.B) (s tgsync.Store, size func() int)) {
	for _, bs := range benchStates() {
		b.Run(bs.name, func(b *testing.B) {
			ctx := b.Context()
			s, size := open(b)
			rev := ""
			for b.Loop() {
				var err error
				if rev, err = s.Save(ctx, bs.state, rev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size()), "state-bytes")
		})
	}
}

// BenchLoad measures loading each bench state from a place from open.
func BenchLoad(b *testing.B, open func(b *testing.B) (s tgsync.Store, size func() int)) {
	for _, bs := range benchStates() {
		b.Run(bs.name, func(b *testing.B) {
			ctx := b.Context()
			s, size := open(b)
			if _, err := s.Save(ctx, bs.state, ""); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, _, err := s.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size()), "state-bytes")
		})
	}
}
