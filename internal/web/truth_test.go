package web

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

// TestPageWhileTheSourceFailsInChromium plays a good run, the group's
// health checks passing, and then a failed DNS lookup, on the real
// reconciler, and loads the page in a browser as a person would: the
// daemon's page (kept by Live) and a page built from the stored state
// alone, as a Lambda after a cold start builds it, both show the three
// healthy targets the group holds, the failed source, and the chart.
func TestPageWhileTheSourceFailsInChromium(t *testing.T) {
	browser := testenv.NeedChromium(t)
	const arn = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/os/0123456789abcdef"
	now := time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	src := mock.NewAnswers("vpc-logs.es.example", "10.9.0.1", "10.9.0.2", "10.9.0.3")
	// MemGroups stands in for ELBv2 where moto cannot: a registered target
	// starts initial and passes its health check later.
	groups := mock.NewMemGroups(arn)
	groups.Joined = tgsync.HealthInitial
	store := memstore.New()
	rec := &tgsync.Reconciler{Bindings: []tgsync.Binding{{Name: "opensearch", Source: src, TargetGroupARN: arn, Ports: []uint16{443},
		Policy: tgsync.DefaultPolicy()}}, Groups: groups, Store: store, Now: clock, DescribeEvery: 10 * time.Minute}
	live := status.NewLive(status.SpecsFrom(rec.Bindings), clock)
	run := func() {
		res, err := rec.Run(context.Background(), tgsync.RunOptions{})
		live.Record(res, err)
		now = now.Add(time.Minute)
	}
	run()
	for _, ip := range []string{"10.9.0.1", "10.9.0.2", "10.9.0.3"} {
		groups.Put(arn, tgsync.Target{IP: netip.MustParseAddr(ip), Port: 443}, tgsync.HealthHealthy)
	}
	run()
	src.Fail(errors.New("lookup vpc-logs.es.example: SERVFAIL"))
	run()

	fromState := func(ctx context.Context) (status.Status, error) {
		st, _, err := store.Load(ctx)
		if err != nil {
			return status.Status{}, err
		}
		return status.Build(status.Input{Bindings: status.SpecsFrom(rec.Bindings), State: st, Now: clock()}), nil
	}
	for name, fn := range map[string]StatusFunc{"daemon": live.Status, "cold start, from the state": fromState} {
		t.Run(name, func(t *testing.T) {
			url := startServer(t, newHandler(t, Options{Status: fn, Now: clock}))
			text := visibleText(browser.DumpDOM(t, url+"/"))
			for _, want := range []string{"run: source failed", "group: 3 of 3 healthy", "registered 3", "healthy 3",
				"10.9.0.1:443 healthy", "10.9.0.2:443 healthy", "10.9.0.3:443 healthy", "SERVFAIL", "as last seen", "Counts, last 10m"} {
				if !strings.Contains(text, want) {
					t.Errorf("the browser does not show %q", want)
				}
			}
			if strings.Contains(text, "not registered") || strings.Contains(text, "registered 0") {
				t.Errorf("the page says the group lost its targets:\n%s", text)
			}
		})
	}
}
