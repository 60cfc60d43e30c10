package tgsync_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// decodeBudget is the heap that loading the largest accepted state may
// take. The stack's function has 128 MB (MemorySize in
// deploy/cloudformation/tgsync.yaml); the process itself peaks at about
// 21 MiB and its goal is 30 MiB (BenchmarkOnce); 64 MiB for the state
// leaves the rest as headroom for the garbage collector.
const decodeBudget = 64 << 20

// sizedState is a state of realistic shape whose stored form (indented as
// EncodeState writes it, or compact as a hand edit with jq -c leaves it)
// is just under maxBytes: bindings with targets per binding owned, a third
// of them missed, the others in the stored answer, and a full history and
// trend.
func sizedState(t *testing.T, targets int, compact bool, maxBytes int) []byte {
	t.Helper()
	encode := func(s *tgsync.State) []byte {
		var data []byte
		var err error
		if compact {
			data, err = json.Marshal(s)
		} else {
			data, err = tgsync.EncodeState(s)
		}
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	// Bindings differ in size by a few bytes (their numbers), so the count
	// is estimated from a sample and corrected once.
	const sample = 256
	n := maxBytes / (len(encode(realisticState(sample, targets))) / sample)
	data := encode(realisticState(n, targets))
	if len(data) > maxBytes {
		data = encode(realisticState(n*maxBytes/len(data)*99/100, targets))
	}
	if len(data) > maxBytes || len(data) < maxBytes*9/10 {
		t.Fatalf("state of %d bytes, want just under %d", len(data), maxBytes)
	}
	return data
}

func realisticState(bindings, targets int) *tgsync.State {
	s := tgsync.NewState()
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	for i := range bindings {
		b := s.Binding(fmt.Sprintf("opensearch-logs-%05d", i))
		b.Owned = map[tgsync.Target]time.Time{}
		b.Misses = map[tgsync.Target]tgsync.Miss{}
		b.Answer = &tgsync.SourceAnswer{TTL: tgsync.Duration(time.Minute), At: at}
		for j := range targets {
			t := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(j)}), Port: 443}
			b.Owned[t] = at
			if j%3 == 0 {
				b.Misses[t] = tgsync.Miss{Count: 2, Since: at}
			} else {
				b.Answer.Addrs = append(b.Answer.Addrs, t.IP)
			}
		}
		for k := range tgsync.TrendLimit {
			b.Trend.Add(tgsync.TrendPoint{At: at.Add(time.Duration(k) * 7 * time.Minute), Desired: targets,
				Registered: targets - k%3, Healthy: targets - k%5, Answer: k%9 == 0})
		}
		b.LastError = "source vpc-logs.es.amazonaws.com failed: SERVFAIL"
		b.Refusing = []string{"deregister 10.0.0.2:443 last-healthy"}
		for k := range tgsync.HistoryLimit {
			b.History = append(b.History, tgsync.Event{Time: at, Action: tgsync.ActionDeregister,
				Target: fmt.Sprintf("10.%d.%d.%d:443", byte(i>>8), byte(i), k), Refused: k%2 == 0, Rule: tgsync.RuleLastHealthy,
				Reason: "missed by 3 answers over 3m0s, but it is the last healthy target; kept until a desired target turns healthy"})
		}
	}
	return s
}

// TestMaxStateBytesFitsMemory decodes states of the cap's size and fails
// when the heap that takes, scaled to exactly MaxStateBytes, is over
// decodeBudget: raising the cap must come with more memory for the
// function. The heap counted is the stored bytes plus everything
// DecodeState allocates (TotalAlloc), which is what the decode would hold
// if no collection ran, and so bounds its peak.
func TestMaxStateBytesFitsMemory(t *testing.T) {
	tests := []struct {
		name    string
		targets int
		compact bool
	}{
		{"as written, 6 targets per binding", 6, false},
		{"compacted by hand, 6 targets per binding", 6, true},
		{"compacted by hand, shared groups of 200 targets", 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := sizedState(t, tt.targets, tt.compact, tgsync.MaxStateBytes)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			st, err := tgsync.DecodeState(data)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			runtime.GC()
			var kept runtime.MemStats
			runtime.ReadMemStats(&kept)
			runtime.KeepAlive(st)
			perByte := float64(uint64(len(data))+allocated) / float64(len(data))
			atCap := perByte * tgsync.MaxStateBytes
			t.Logf("%d bindings in %d bytes: decode allocates %.2f bytes per byte of state, %.2f with the stored bytes; "+
				"%.1f MiB at the cap of %d MiB (budget %d MiB); %.1f MiB of heap in use after it, stored bytes and state kept",
				len(st.Bindings), len(data), float64(allocated)/float64(len(data)), perByte,
				atCap/(1<<20), tgsync.MaxStateBytes>>20, decodeBudget>>20, float64(kept.HeapAlloc)/(1<<20))
			if atCap > decodeBudget {
				t.Errorf("decoding a state of MaxStateBytes (%d) takes about %.0f MiB, over the budget of %d MiB: lower the cap or give the function more memory",
					tgsync.MaxStateBytes, atCap/(1<<20), decodeBudget>>20)
			}
		})
	}
}
