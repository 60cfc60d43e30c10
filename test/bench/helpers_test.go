package bench

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// The helpers the benchmarks read their figures with; these tests run
// without -bench, in microseconds.

func TestRunDuration(t *testing.T) {
	tests := []struct {
		name, log string
		want      time.Duration
		wantErr   string
	}{
		{"finished line among others",
			`{"level":"INFO","msg":"register","target":"10.0.0.1:443"}` + "\n" +
				`{"level":"INFO","msg":"run finished","bindings":1,"durationSeconds":0.008402031}` + "\n",
			8402031 * time.Nanosecond, ""},
		{"text lines are skipped", "time=now msg=\"run finished\" durationSeconds=0.001\n" + `{"msg":"run finished","durationSeconds":0.5}`, 500 * time.Millisecond, ""},
		{"no finished line", `{"msg":"register"}`, 0, `no "run finished" line`},
		{"no duration", `{"msg":"run finished"}`, 0, "has no duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runDuration([]byte(tc.log))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("runDuration = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestEMFMetrics(t *testing.T) {
	line := func(dims, values string, metrics ...string) string {
		var defs []string
		for _, m := range metrics {
			defs = append(defs, `{"Name":"`+m+`","Unit":"Count"}`)
		}
		return `{` + values + `"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"tgsync","Dimensions":[` + dims + `],"Metrics":[` + strings.Join(defs, ",") + `]}]}}`
	}
	tests := []struct {
		name                    string
		lines                   []string
		wantBinding, wantOthers int
		wantErr                 string
	}{
		{"two bindings, run and actions", []string{
			line(`["Binding"]`, `"Binding":"a","X":1,"Y":2,`, "X", "Y"),
			line(`["Binding"]`, `"Binding":"b","X":1,"Y":2,`, "X", "Y"),
			line(`[]`, `"ApiCalls":2,`, "ApiCalls", "Bindings"),
			line(`["Action"]`, `"Action":"GetObject","ApiCalls":1,`, "ApiCalls"),
			line(`["Action"]`, `"Action":"DescribeTargetHealth","ApiCalls":1,`, "ApiCalls"),
		}, 4, 4, ""},
		{"the same metric twice counts once", []string{
			line(`["Binding"]`, `"Binding":"a","X":1,`, "X"),
			line(`["Binding"]`, `"Binding":"a","X":3,`, "X"),
		}, 1, 0, ""},
		{"not JSON", []string{"run finished"}, 0, 0, "EMF line"},
		{"JSON without _aws", []string{`{"msg":"x"}`}, 0, 0, "not an EMF document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			perBinding, others := map[string]bool{}, map[string]bool{}
			err := emfMetrics([]byte(strings.Join(tc.lines, "\n")+"\n"), perBinding, others)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(perBinding) != tc.wantBinding || len(others) != tc.wantOthers {
				t.Fatalf("got %d per binding %v and %d others %v, %v; want %d and %d",
					len(perBinding), perBinding, len(others), others, err, tc.wantBinding, tc.wantOthers)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0}, {[]time.Duration{3}, 3}, {[]time.Duration{9, 1, 5}, 5}, {[]time.Duration{4, 1, 2, 3}, 2},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		if got := median(in); got != tc.want || !slices.Equal(in, tc.in) {
			t.Errorf("median(%v) = %v (input now %v), want %v and the input unchanged", tc.in, got, in, tc.want)
		}
	}
}

func TestAddrPool(t *testing.T) {
	var p addrPool
	first := p.take(300)
	second := p.take(2)
	all := slices.Concat(first, second)
	if all[0] != netip.MustParseAddr("10.128.0.1") || all[255] != netip.MustParseAddr("10.128.1.0") {
		t.Errorf("pool starts %v and has %v at 256; want 10.128.0.1 and 10.128.1.0", all[0], all[255])
	}
	seen := map[netip.Addr]bool{}
	for _, a := range all {
		if seen[a] || !netip.MustParsePrefix("10.0.0.0/8").Contains(a) {
			t.Fatalf("address %v handed out twice or outside 10/8", a)
		}
		seen[a] = true
	}
}
