package main

import (
	"errors"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

func TestNextRunIn(t *testing.T) {
	t.Parallel()
	ok := func(ttl time.Duration) tgsync.BindingResult {
		return tgsync.BindingResult{Answer: tgsync.Answer{TTL: ttl}}
	}
	failed := func(ttl time.Duration) tgsync.BindingResult {
		// A failed source keeps no answer; a TTL here would be stale.
		return tgsync.BindingResult{Answer: tgsync.Answer{TTL: ttl}, SourceErr: errors.New("SERVFAIL")}
	}
	const s = time.Second
	cases := []struct {
		name                  string
		bindings              []tgsync.BindingResult
		interval, minInterval time.Duration
		want                  time.Duration
	}{
		{"no bindings: the interval", nil, 60 * s, 10 * s, 60 * s},
		{"TTL longer than the interval", []tgsync.BindingResult{ok(300 * s)}, 60 * s, 10 * s, 60 * s},
		{"TTL equal to the interval", []tgsync.BindingResult{ok(60 * s)}, 60 * s, 10 * s, 60 * s},
		{"TTL shorter: sooner", []tgsync.BindingResult{ok(30 * s)}, 60 * s, 10 * s, 30 * s},
		{"smallest TTL of several", []tgsync.BindingResult{ok(45 * s), ok(20 * s), ok(50 * s)}, 60 * s, 10 * s, 20 * s},
		{"TTL below the floor", []tgsync.BindingResult{ok(5 * s)}, 60 * s, 10 * s, 10 * s},
		{"TTL of zero: no TTL", []tgsync.BindingResult{ok(0)}, 60 * s, 10 * s, 60 * s},
		{"TTL at the floor", []tgsync.BindingResult{ok(10 * s)}, 60 * s, 10 * s, 10 * s},
		{"failed source ignored", []tgsync.BindingResult{failed(15 * s)}, 60 * s, 10 * s, 60 * s},
		{"failed source ignored beside a good one", []tgsync.BindingResult{failed(15 * s), ok(40 * s)}, 60 * s, 10 * s, 40 * s},
		{"floor equal to the interval", []tgsync.BindingResult{ok(5 * s)}, 1 * s, 1 * s, 1 * s},
		{"sub-second TTL", []tgsync.BindingResult{ok(500 * time.Millisecond)}, 60 * s, 1 * s, 1 * s},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := tgsync.RunResult{Bindings: tc.bindings}
			if got := nextRunIn(res, tc.interval, tc.minInterval); got != tc.want {
				t.Errorf("nextRunIn(interval %s, min %s) = %s, want %s", tc.interval, tc.minInterval, got, tc.want)
			}
		})
	}
}
