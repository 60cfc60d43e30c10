package status_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
)

// bigInput is a large deployment: 50 bindings, each with 100 targets in
// its group, 20 of them pending, and a full history.
func bigInput() Input {
	in := Input{State: tgsync.NewState(), Observed: map[string][]tgsync.ObservedTarget{}, Now: statustest.Now}
	for b := 0; b < 50; b++ {
		name, arn := fmt.Sprintf("binding-%02d", b), fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/g%02d/%016x", b, b)
		in.Bindings = append(in.Bindings, BindingSpec{Name: name, Source: name + ".internal.example", TargetGroupARN: arn,
			Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()})
		bs := &tgsync.BindingState{Misses: map[tgsync.Target]tgsync.Miss{}, Answer: &tgsync.SourceAnswer{TTL: tgsync.Duration(time.Minute), At: statustest.Now}}
		for i := 0; i < 100; i++ {
			t := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, byte(b), byte(i / 250), byte(i%250 + 1)}), Port: 443}
			in.Observed[arn] = append(in.Observed[arn], tgsync.ObservedTarget{Target: t, State: tgsync.HealthHealthy, AvailabilityZone: "us-east-1a"})
			if i < 80 {
				bs.Answer.Addrs = append(bs.Answer.Addrs, t.IP)
			} else {
				bs.Misses[t] = tgsync.Miss{Count: 2, Since: statustest.Now.Add(-time.Minute)}
			}
		}
		for i := 0; i < tgsync.HistoryLimit; i++ {
			bs.History = append(bs.History, tgsync.Event{Time: statustest.Now, Action: tgsync.ActionRegister, Target: "10.0.0.1:443",
				Reason: "in the answer for " + name + ".internal.example and not in the target group"})
		}
		in.State.Bindings[name] = bs
	}
	return in
}

// BenchmarkBuild measures building the status of a large deployment, which
// the daemon does on every page request.
func BenchmarkBuild(b *testing.B) {
	in := bigInput()
	b.ReportAllocs()
	for b.Loop() {
		Build(in)
	}
}

// BenchmarkRenderHTML measures rendering that status's page.
func BenchmarkRenderHTML(b *testing.B) {
	st := Build(bigInput())
	b.ReportAllocs()
	var size int
	for b.Loop() {
		page, err := RenderHTML(st, PageOptions{Refresh: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		size = len(page)
	}
	b.ReportMetric(float64(size), "bytes/page")
}
