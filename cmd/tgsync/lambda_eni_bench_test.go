package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tgsync/tgsync/store/memstore"
)

// BenchmarkInterfaceEvent measures, against moto, the time from a
// CloudTrail CreateNetworkInterface event reaching the handler to the
// RegisterTargets of the new node's address being sent: the match by
// config, the reconcile of that binding (the state load, its DNS lookup
// and DescribeNetworkInterfaces, DescribeTargetHealth) and the call. Warm
// is a function that ran before, as a Lambda between invocations; cold
// builds the function on new clients for each event and pays new
// connections (the target group's type and port come from the state, as
// in a Lambda cold start; the process's own init is
// BenchmarkLambdaColdStart's). Each event announces
// an interface that is already in use, as it normally is by the time
// EventBridge delivers the event. The one-minute schedule, for
// comparison, registers a new node 30 s after it appears on average and
// 60 s at worst.
func BenchmarkInterfaceEvent(b *testing.B) {
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			w := newENIWorld(b)
			store := memstore.New()
			w.f = w.newFunc(b, store)
			var mu sync.Mutex
			var sent time.Time
			w.onCall = func(op string) {
				if op == "RegisterTargets" {
					mu.Lock()
					sent = time.Now()
					mu.Unlock()
				}
			}
			ctx := context.Background()
			if _, err := w.f.Invoke(ctx, []byte(scheduledEvent)); err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				ip := fmt.Sprintf("10.2.1.%d", 100+i)
				id := w.create(b, w.albDesc, ip, true)
				ev := w.event(b, createSample, id, w.albDesc, ip)
				w.now = w.now.Add(time.Minute)
				if mode == "cold" {
					w.f = w.newFunc(b, store)
				}
				mu.Lock()
				sent = time.Time{}
				mu.Unlock()
				b.StartTimer()
				start := time.Now()
				_, err := w.f.Invoke(ctx, ev)
				b.StopTimer()
				mu.Lock()
				at := sent
				mu.Unlock()
				if err != nil || at.IsZero() {
					b.Fatalf("event %d: %v, RegisterTargets sent at %v", i, err, at)
				}
				lat = append(lat, at.Sub(start))
				b.StartTimer()
			}
			p50 := reportLatencies(b, lat, "register")
			if mode == "warm" && p50 >= 100*time.Millisecond {
				b.Fatalf("warm: %s from event to RegisterTargets (median), goal under 100 ms", p50)
			}
		})
	}
}
