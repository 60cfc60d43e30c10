package elbv2fake

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// BenchmarkDescribe measures the world's own cost of describing a group,
// so that benchmarks built on it know what they include.
func BenchmarkDescribe(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			w := New(NewManualClock(t0), Options{})
			if err := w.CreateTargetGroup(testARN, GroupSpec{Port: 443, HealthyAfter: -1}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := register(ctx, w, testARN, "", targets(n)...); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := describeTargets(ctx, w, testARN); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReconcileSteadyState is one reconcile run with nothing to change
// on a group of 100 targets, through the real adapter, without and with
// 20 ms of API latency.
func BenchmarkReconcileSteadyState(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run("latency="+latency.String(), func(b *testing.B) {
			clock := NewManualClock(t0)
			w := New(clock, Options{})
			if err := w.CreateTargetGroup(testARN, GroupSpec{Port: 443}); err != nil {
				b.Fatal(err)
			}
			src := &listSource{}
			for _, t := range targets(100) {
				src.addrs = append(src.addrs, t.IP)
			}
			r := &tgsync.Reconciler{
				Bindings: []tgsync.Binding{{Name: "b", Source: src, TargetGroupARN: testARN,
					Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()}},
				Groups: adapter(w), Store: &memStore{}, Now: clock.Now,
			}
			ctx := context.Background()
			if _, err := r.Run(ctx, tgsync.RunOptions{}); err != nil {
				b.Fatal(err)
			}
			clock.Advance(time.Minute)
			if latency > 0 {
				if err := w.Inject(Fault{Kind: FaultLatency, Latency: latency}); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				res, err := r.Run(ctx, tgsync.RunOptions{})
				if err != nil || res.Bindings[0].Err != nil || !res.Bindings[0].Plan.Empty() {
					b.Fatalf("run: %v %+v", err, res.Bindings[0])
				}
			}
		})
	}
}
