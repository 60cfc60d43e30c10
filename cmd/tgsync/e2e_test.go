package main

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tgsync/tgsync/dns/dnstest"
)

// TestE2EOnceFollowsDNS runs 'tgsync once' as a process against moto while
// the DNS answer moves, and checks the target group after every run: new
// addresses are registered at once, an absent one stays until it missed
// two successful runs, and a failed lookup changes nothing and counts no
// miss.
func TestE2EOnceFollowsDNS(t *testing.T) {
	t.Parallel()
	w := newE2EWorld(t)
	config := w.writeConfig(t, "tgsync.yaml", configOpts{afterMisses: 2, dnsTimeout: 250 * time.Millisecond})

	const a, b, c, d, e, f, g = "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.2.4", "10.0.2.5", "10.0.2.6", "10.0.3.7"
	steps := []struct {
		name   string
		answer []string      // what DNS answers, when fault is FaultNone
		fault  dnstest.Fault // a failure of the whole lookup
		// wantCode, wantGroup and wantMisses are after the run.
		wantCode   int
		wantGroup  []string
		wantMisses map[string]int
		// wantLog are lines the run's log must hold, each a set of
		// substrings of one line.
		wantLog [][]string
	}{
		{name: "first answer is registered", answer: []string{a, b},
			wantGroup: []string{a, b}, wantMisses: map[string]int{},
			wantLog: [][]string{{"register", a + ":443", "not in the target group"}, {"register", b + ":443"}}},
		{name: "an added address is registered", answer: []string{a, b, c},
			wantGroup: []string{a, b, c}, wantMisses: map[string]int{}},
		{name: "a removed address stays after one miss", answer: []string{a, c},
			wantGroup: []string{a, b, c}, wantMisses: map[string]int{b: 1}},
		{name: "the second miss removes it", answer: []string{a, c},
			wantGroup: []string{a, c}, wantMisses: map[string]int{},
			wantLog: [][]string{{"deregister", b + ":443", "missed by 2 consecutive answers for " + w.name}}},
		{name: "swap all: new addresses join, old ones stay", answer: []string{d, e, f},
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1}},
		{name: "SERVFAIL changes nothing", fault: dnstest.FaultServFail, wantCode: 1,
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1},
			wantLog: [][]string{{"binding failed", w.binding, "SERVFAIL"}}},
		{name: "NXDOMAIN changes nothing", fault: dnstest.FaultNXDomain, wantCode: 1,
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1},
			wantLog: [][]string{{"binding failed", w.binding, "NXDOMAIN"}}},
		{name: "a timeout changes nothing", fault: dnstest.FaultTimeout, wantCode: 1,
			wantGroup: []string{a, c, d, e, f}, wantMisses: map[string]int{a: 1, c: 1},
			wantLog: [][]string{{"binding failed", w.binding, "timeout"}}},
		{name: "DNS back: the old addresses miss a second time and go", answer: []string{d, e, f},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{},
			wantLog: [][]string{{"deregister", a + ":443", "missed by 2"}, {"deregister", c + ":443", "missed by 2"}}},
		{name: "one address leaves", answer: []string{d, e},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{f: 1}},
		{name: "it comes back: its misses reset", answer: []string{d, e, f},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{}},
		{name: "it leaves again and waits anew", answer: []string{d, e},
			wantGroup: []string{d, e, f}, wantMisses: map[string]int{f: 1}},
		{name: "add and remove in one run", answer: []string{d, e, g},
			wantGroup: []string{d, e, g}, wantMisses: map[string]int{}},
	}

	// consecutive counts, independently of tgsync's state, the successful
	// runs in a row whose answer lacked each member of the group.
	consecutive := map[string]int{}
	for i, st := range steps {
		if st.fault == dnstest.FaultNone {
			w.answer(st.answer...)
		} else {
			w.dns.SetFault(w.name, st.fault)
		}
		before := w.group(t)
		res := w.run(t, config, "once")
		after := w.group(t)
		if res.code != st.wantCode {
			t.Fatalf("step %d (%s): %s", i+1, st.name, res)
		}
		if !slices.Equal(after, sorted(st.wantGroup)) {
			t.Errorf("step %d (%s): group %v, want %v\n%s", i+1, st.name, after, sorted(st.wantGroup), res)
		}
		if got := w.misses(t); !maps.Equal(got, st.wantMisses) {
			t.Errorf("step %d (%s): misses in the state file %v, want %v", i+1, st.name, got, st.wantMisses)
		}
		for _, want := range st.wantLog {
			if !hasLine(res.stderr, want...) {
				t.Errorf("step %d (%s): no log line with all of %q\n%s", i+1, st.name, want, res.stderr)
			}
		}

		// The rules, checked on what moto shows rather than on the table.
		if st.fault != dnstest.FaultNone {
			if !slices.Equal(after, before) {
				t.Errorf("step %d (%s): a failed lookup changed the group from %v to %v", i+1, st.name, before, after)
			}
			continue
		}
		for _, ip := range st.answer {
			if !slices.Contains(after, ip) {
				t.Errorf("step %d (%s): %s is in the answer but not in the group %v", i+1, st.name, ip, after)
			}
		}
		for _, ip := range before {
			if slices.Contains(st.answer, ip) {
				delete(consecutive, ip)
				continue
			}
			consecutive[ip]++
			if !slices.Contains(after, ip) && consecutive[ip] < 2 {
				t.Errorf("step %d (%s): %s removed after %d missed run(s), want at least 2", i+1, st.name, ip, consecutive[ip])
			}
			if slices.Contains(after, ip) && consecutive[ip] >= 2 {
				t.Errorf("step %d (%s): %s still in the group after %d missed runs", i+1, st.name, ip, consecutive[ip])
			}
		}
	}
	last := steps[len(steps)-1].answer
	if got := w.group(t); !slices.Equal(got, sorted(last)) {
		t.Errorf("at the end the group is %v, want the answer %v", got, sorted(last))
	}
}
