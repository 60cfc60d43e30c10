package tgsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/testenv"
)

// decodeBudget is the heap that loading the largest accepted state may
// take. The stack's function has 128 MB (MemorySize in
// deploy/cloudformation/tgsync.yaml); the process itself peaks at about
// 21 MiB and its goal is 30 MiB (BenchmarkOnce); 64 MiB for the state
// leaves the rest as headroom for the garbage collector.
const decodeBudget = 64 << 20

// sizedState is a state of realistic shape whose stored form (compact as
// EncodeState writes it, or indented as older versions did and jq .
// leaves it) is just under maxBytes: bindings with targets per binding
// owned, a third of them missed, the others in the stored answer, and a
// full history and trend.
func sizedState(t *testing.T, targets int, indented bool, maxBytes int) []byte {
	t.Helper()
	encode := func(s *tgsync.State) []byte {
		var data []byte
		var err error
		if indented {
			data, err = json.MarshalIndent(s, "", "  ")
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
	if testenv.RaceDetector {
		// .ci/run runs it without -race as a step of its own.
		t.Skip("measures what decode allocates, which the race detector changes: run it without -race")
	}
	tests := []struct {
		name     string
		targets  int
		indented bool
	}{
		{"as written, 6 targets per binding", 6, false},
		{"indented as older versions wrote it, 6 targets per binding", 6, true},
		{"as written, shared groups of 200 targets", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := sizedState(t, tt.targets, tt.indented, tgsync.MaxStateBytes)
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

// withObservations adds what the state keeps of each binding's group: its
// members, with their zone, state and reason.
func withObservations(s *tgsync.State, targets int) *tgsync.State {
	s.Observations = map[string]*tgsync.Observation{}
	s.Groups = map[string]tgsync.GroupInfo{}
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	i := 0
	for name := range s.Bindings {
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/%s/%016x", name[len(name)-12:], i)
		obs := &tgsync.Observation{At: at}
		for j := range targets {
			obs.Targets = append(obs.Targets, tgsync.ObservedTarget{
				Target:           tgsync.Target{IP: netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(j)}), Port: 443},
				AvailabilityZone: "ap-northeast-1a", State: tgsync.HealthUnhealthy, Reason: "Target.FailedHealthChecks"})
		}
		s.Observations[arn] = obs
		s.Groups[arn] = tgsync.GroupInfo{TargetType: "ip", Port: 443, Protocol: "HTTPS", VPCID: "vpc-0fa4e7b2c91d35a68", IPAddressType: "ipv4", At: at}
		if len(s.DrainLog) < tgsync.DrainLogLimit {
			s.DrainLog = append(s.DrainLog, tgsync.DrainEntry{At: at, Task: fmt.Sprintf("arn:aws:ecs:ap-northeast-1:111122223333:task/logs/%032x", i),
				Version: 4, TargetGroupARN: arn, Deregistered: []string{"10.0.3.41:443", "10.0.3.41:9600"}, Reason: "Spot interruption"})
		}
		i++
	}
	return s
}

// TestStateOf1000Bindings: 1,000 bindings with full histories and count
// trends, each with its group's observation, and a full drain log, fit in
// half of MaxStateBytes as a run saves them, with 6 targets each (an ALB
// or a search domain), and with room to spare with 20 each, every one
// owned (shared bindings) and observed: events, trend points and drain
// entries all keep their share of the one HistoryBudget. As they were
// stored before (indented, every binding keeping HistoryLimit events)
// neither fitted at all.
func TestStateOf1000Bindings(t *testing.T) {
	tests := []struct {
		bindings, targets     int
		share, points, drains int
		maxFraction           float64 // of MaxStateBytes
		// roundTrip also decodes the state as older versions wrote it
		// (indented, full histories); once is enough, and it is slow
		// under the race detector.
		roundTrip bool
	}{
		{100, 6, tgsync.HistoryLimit, tgsync.TrendLimit, tgsync.DrainLogLimit, 0.5, true},
		{250, 6, 35, 68, 70, 0.5, false},
		{1000, 6, 9, 17, 18, 0.5, false},
		{1000, 20, 9, 17, 18, 0.85, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d bindings of %d targets", tc.bindings, tc.targets), func(t *testing.T) {
			t.Parallel()
			s := withObservations(realisticState(tc.bindings, tc.targets), tc.targets)
			var before []byte
			if tc.roundTrip {
				var err error
				if before, err = json.MarshalIndent(s, "", "  "); err != nil {
					t.Fatal(err)
				}
			}
			s.BoundHistory()
			data, err := tgsync.EncodeState(s)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d bindings: %d bytes (%.1f%% of MaxStateBytes)", tc.bindings, len(data), 100*float64(len(data))/tgsync.MaxStateBytes)
			for name, b := range s.Bindings {
				if len(b.History) != tc.share || len(b.Trend) != tc.points {
					t.Fatalf("%s keeps %d events and %d trend points, want %d and %d", name, len(b.History), len(b.Trend), tc.share, tc.points)
				}
			}
			if len(s.DrainLog) != tc.drains {
				t.Errorf("the drain log keeps %d entries, want %d", len(s.DrainLog), tc.drains)
			}
			if float64(len(data)) > tc.maxFraction*tgsync.MaxStateBytes {
				t.Errorf("%d bindings take %d bytes, more than %g of MaxStateBytes (%d)", tc.bindings, len(data), tc.maxFraction, tgsync.MaxStateBytes)
			}
			if !tc.roundTrip {
				return
			}
			back, err := tgsync.DecodeState(before)
			if err != nil {
				t.Fatalf("an indented state no longer decodes: %v", err)
			}
			back.BoundHistory()
			if !back.Equal(s) {
				t.Error("the indented state decodes to another state")
			}
		})
	}
}

func TestHistoryShare(t *testing.T) {
	tests := []struct{ bindings, events, points, drains int }{
		{0, 50, 96, 100}, {1, 50, 96, 100}, {180, 50, 96, 100}, {181, 49, 94, 98},
		{200, 44, 85, 89}, {400, 21, 41, 43}, {1000, 9, 17, 18}, {5000, 9, 17, 18},
	}
	for _, tc := range tests {
		got := []int{tgsync.HistoryShare(tc.bindings), tgsync.TrendShare(tc.bindings), tgsync.DrainLogShare(tc.bindings)}
		if want := []int{tc.events, tc.points, tc.drains}; !slices.Equal(got, want) {
			t.Errorf("%d bindings: events, trend points, drain entries %v, want %v", tc.bindings, got, want)
		}
	}
}

// TestRunBoundsHistory: a run saves every binding's history and trend, and
// the drain log, cut to their shares of HistoryBudget, once the state holds
// more bindings than it can keep full histories of.
func TestRunBoundsHistory(t *testing.T) {
	const n = 250
	var arns []string
	var bindings []tgsync.Binding
	for i := range n {
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/g%03d/%016x", i, i)
		arns = append(arns, arn)
		bindings = append(bindings, tgsync.Binding{Name: fmt.Sprintf("b%03d", i), TargetGroupARN: arn, Ports: []uint16{443},
			Source: mock.NewAnswers(fmt.Sprintf("b%03d.internal", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)), Policy: tgsync.DefaultPolicy()})
	}
	store := mock.NewMemStore()
	st := tgsync.NewState()
	for _, b := range bindings {
		bs := st.Binding(b.Name)
		for k := range tgsync.HistoryLimit {
			bs.History = append(bs.History, tgsync.Event{Time: t0, Action: tgsync.ActionRegister, Reason: fmt.Sprint(k)})
		}
		for k := range tgsync.TrendLimit {
			bs.Trend.Add(tgsync.TrendPoint{At: t0.Add(time.Duration(k-tgsync.TrendLimit) * time.Minute), Desired: k, Registered: 1})
		}
	}
	for k := range tgsync.DrainLogLimit {
		st.DrainLog = append(st.DrainLog, tgsync.DrainEntry{At: t0.Add(time.Duration(k-tgsync.DrainLogLimit) * time.Minute),
			Task: fmt.Sprint(k), TargetGroupARN: arns[0]})
	}
	if _, err := store.Save(context.Background(), st, ""); err != nil {
		t.Fatal(err)
	}
	r := &tgsync.Reconciler{Bindings: bindings, Groups: mock.NewMemGroups(arns...), Store: store, Now: func() time.Time { return t0 }}
	if _, err := r.Run(context.Background(), tgsync.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	saved, _, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tgsync.HistoryShare(n)
	for _, b := range bindings {
		h := saved.Bindings[b.Name].History
		// The run's own registration is the newest event.
		if len(h) != want || h[len(h)-1].Action != tgsync.ActionRegister || h[0].Reason != fmt.Sprint(tgsync.HistoryLimit-want+1) {
			t.Fatalf("%s keeps %d events from %q, want the newest %d", b.Name, len(h), h[0].Reason, want)
		}
		// The run's point (1 desired, 1 registered) is the newest.
		tr, points := saved.Bindings[b.Name].Trend, tgsync.TrendShare(n)
		if len(tr) != points || tr[len(tr)-1].Desired != 1 || !tr[len(tr)-1].At.Equal(t0) || tr[0].Desired != tgsync.TrendLimit-points+1 {
			t.Fatalf("%s keeps a trend of %d points from %+v to %+v, want the newest %d", b.Name, len(tr), tr[0], tr[len(tr)-1], points)
		}
	}
	if d, want := saved.DrainLog, tgsync.DrainLogShare(n); len(d) != want || d[0].Task != fmt.Sprint(tgsync.DrainLogLimit-want) {
		t.Errorf("the drain log keeps %d entries from %q, want the newest %d", len(d), d[0].Task, want)
	}
}
