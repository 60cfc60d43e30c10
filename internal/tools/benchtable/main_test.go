package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sample is go test output of two packages, with a rerun (-count 2), a
// suppressed ns/op, a failing sub-benchmark under its failing parent, a
// skip and a package that did not build.
const sample = `goos: linux
goarch: amd64
pkg: example.com/m/bench
cpu: Test CPU @ 2.00GHz
BenchmarkPlan/targets=10-2         	  412501	      4000 ns/op	    2944 B/op	      20 allocs/op
BenchmarkPlan/targets=10-2         	  412501	      5000 ns/op	    2944 B/op	      20 allocs/op
BenchmarkPlan/targets=10-2         	  412501	      9000 ns/op	    2944 B/op	      20 allocs/op
BenchmarkCalls/steady-new-process-2	       3	         1.000 DescribeTargetHealth/run	         0 PutObject/run
--- FAIL: BenchmarkSize/lambda-arm64
    size_test.go:35: arm64: bootstrap 13.81 MiB (goal 10)
--- FAIL: BenchmarkSize
--- SKIP: BenchmarkOnce/bindings=1
    testenv.go:42: moto_server not found on PATH: skipping
BenchmarkSize/cli-2                	       1	        15.05 binary-MiB
FAIL
exit status 1
FAIL	example.com/m/bench	4.946s
goos: linux
goarch: amd64
pkg: example.com/m/cmd/tool
cpu: Other CPU
BenchmarkColdStart-2   	      20	   5194002 ns/op	         4.655 ms-to-next/median
PASS
ok  	example.com/m/cmd/tool	4.090s
# example.com/m/broken
broken/x.go:3:1: syntax error
FAIL	example.com/m/broken [build failed]
`

func TestParse(t *testing.T) {
	rep, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		pkg, name string
		units     []string
		medians   []float64
	}
	var got []row
	for _, r := range rep.Results {
		var ms []float64
		for _, u := range r.Units {
			ms = append(ms, r.Median(u))
		}
		got = append(got, row{r.Pkg, r.Name, r.Units, ms})
	}
	want := []row{
		{"example.com/m/bench", "Plan/targets=10", []string{"ns/op", "B/op", "allocs/op"}, []float64{5000, 2944, 20}},
		{"example.com/m/bench", "Calls/steady-new-process", []string{"DescribeTargetHealth/run", "PutObject/run"}, []float64{1, 0}},
		{"example.com/m/bench", "Size/cli", []string{"binary-MiB"}, []float64{15.05}},
		{"example.com/m/cmd/tool", "ColdStart", []string{"ns/op", "ms-to-next/median"}, []float64{5194002, 4.655}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results:\n got %+v\nwant %+v", got, want)
	}
	wantFail := []Outcome{
		{Pkg: "example.com/m/bench", Name: "Size/lambda-arm64", Log: []string{"size_test.go:35: arm64: bootstrap 13.81 MiB (goal 10)"}},
		{Pkg: "example.com/m/broken", Log: []string{"FAIL\texample.com/m/broken [build failed]"}},
	}
	if !reflect.DeepEqual(rep.Failures, wantFail) {
		t.Errorf("failures:\n got %+v\nwant %+v", rep.Failures, wantFail)
	}
	wantSkip := []Outcome{{Pkg: "example.com/m/bench", Name: "Once/bindings=1", Log: []string{"testenv.go:42: moto_server not found on PATH: skipping"}}}
	if !reflect.DeepEqual(rep.Skips, wantSkip) {
		t.Errorf("skips:\n got %+v\nwant %+v", rep.Skips, wantSkip)
	}
	if rep.Env["cpu"] != "Test CPU @ 2.00GHz" || rep.Env["goos"] != "linux" {
		t.Errorf("env %v: want the first package's", rep.Env)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"odd fields", "BenchmarkX-2 \t 10 \t 5 ns/op 7\n", "line 1: want value-unit pairs"},
		{"bad value", "pkg: p\nBenchmarkX-2 \t 10 \t five ns/op\n", `line 2: value "five" of ns/op`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {1, "1"}, {1.5, "1.5"}, {0.05, "0.05"}, {0.0004, "0"}, {4.655, "4.66"},
		{41.2225, "41.2"}, {84.95, "85"}, {1575, "1575"}, {295951657, "295951657"}, {-2.5, "-2.5"},
	}
	for _, tc := range tests {
		if got := number(tc.in); got != tc.want {
			t.Errorf("number(%g) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPick(t *testing.T) {
	tests := []struct {
		unit string
		v    float64
		want string
	}{
		{"ns/op", 999, "ns/op"}, {"ns/op", 4281, "µs/op"}, {"ns/op", 41222537, "ms/op"}, {"ns/op", 2e9, "s/op"},
		{"B/op", 2944, "KiB/op"}, {"B/op", 7341862, "MiB/op"}, {"B/op", 12, "B/op"}, {"queries/run", 1e9, "queries/run"},
	}
	for _, tc := range tests {
		if got := pick(tc.unit, tc.v).unit; got != tc.want {
			t.Errorf("pick(%s, %g) = %s, want %s", tc.unit, tc.v, got, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		group   bool
		wantErr error
		want    []string // lines the output must hold
	}{
		{
			name: "flat", in: sample, wantErr: errFailed,
			want: []string{
				"linux/amd64, Test CPU @ 2.00GHz",
				"| package | benchmark | figures |",
				"| bench | Plan/targets=10 | 5 µs/op, 2.88 KiB/op, 20 allocs/op |",
				"|  | Calls/steady-new-process | 1 DescribeTargetHealth/run, 0 PutObject/run |",
				"| cmd/tool | ColdStart | 5.19 ms/op, 4.66 ms-to-next/median |",
				"- bench · BenchmarkSize/lambda-arm64: size_test.go:35: arm64: bootstrap 13.81 MiB (goal 10)",
				"- broken: FAIL\texample.com/m/broken [build failed]",
				"- bench · BenchmarkOnce/bindings=1: testenv.go:42: moto_server not found on PATH: skipping",
			},
		},
		{
			name: "grouped", in: sample, group: true, wantErr: errFailed,
			want: []string{
				"bench · BenchmarkPlan",
				"| case | µs/op | KiB/op | allocs/op |",
				"| targets=10 | 5 | 2.88 | 20 |",
				"cmd/tool · BenchmarkColdStart",
				"| ColdStart | 5.19 | 4.66 |",
			},
		},
		{
			name: "all passed",
			in:   "pkg: p\nBenchmarkX-2 \t 10 \t 1500000 ns/op \t 3 calls/run\nPASS\n",
			want: []string{"| p | X | 1.5 ms/op, 3 calls/run |"},
		},
		{
			name: "escapes pipes", in: "pkg: p\nBenchmarkX/a|b-2 \t 1 \t 2 calls/run\n",
			want: []string{`| p | X/a\|b | 2 calls/run |`},
		},
		{name: "no benchmarks", in: "PASS\nok  \tp\t0.1s\n", wantErr: errors.New("no benchmark results")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := run(strings.NewReader(tc.in), &out, tc.group)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != nil && (err == nil || !strings.Contains(err.Error(), tc.wantErr.Error())):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			lines := strings.Split(out.String(), "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					if l == w {
						found = true
					}
				}
				if !found {
					t.Errorf("output lacks line %q:\n%s", w, out.String())
				}
			}
		})
	}
}
