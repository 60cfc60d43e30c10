package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Report is what one or more `go test -bench` outputs hold.
type Report struct {
	// Env holds goos, goarch and cpu as the first package reported them.
	Env map[string]string
	// Results are the benchmarks in the order they first appeared; a
	// benchmark run several times (-count) holds every run's values.
	Results []*Result
	// Failures and Skips are the benchmarks (or packages) that failed or
	// were skipped, with the lines they logged.
	Failures, Skips []Outcome
}

// Result is one benchmark of one package.
type Result struct {
	Pkg  string
	Name string // without the Benchmark prefix and the -GOMAXPROCS suffix
	// Units are the metric units in the order the output gave them.
	Units []string
	// Values holds every run's value of each unit.
	Values map[string][]float64
}

// Outcome is a benchmark that did not produce figures, and why.
type Outcome struct {
	Pkg, Name string
	Log       []string
}

var (
	// resultLine is "BenchmarkX/sub-8   <iterations>   <value> <unit> ...".
	resultLine = regexp.MustCompile(`^Benchmark(\S+)\s+(\d+)\s+(.+)$`)
	procSuffix = regexp.MustCompile(`-\d+$`)
	// outcomeLine is "--- FAIL: BenchmarkX/sub" or "--- SKIP: ...", with
	// an optional "(0.01s)".
	outcomeLine = regexp.MustCompile(`^\s*--- (FAIL|SKIP): (?:Benchmark)?(\S+)`)
)

// Parse reads the output of one or more `go test -bench` runs, one after
// the other. Lines it does not know (PASS, ok, test logs) are ignored; a
// package that failed without naming a benchmark (a build error, a panic)
// is a failure of the package.
func Parse(r io.Reader) (*Report, error) {
	rep := &Report{Env: map[string]string{}}
	index := map[string]*Result{}
	pkg := ""
	var last *Outcome // the outcome whose log lines follow
	pkgFailed := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if last != nil && strings.HasPrefix(line, "    ") && !outcomeLine.MatchString(line) {
			last.Log = append(last.Log, strings.TrimSpace(line))
			continue
		}
		last = nil
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
		case strings.HasPrefix(line, "goos: "), strings.HasPrefix(line, "goarch: "), strings.HasPrefix(line, "cpu: "):
			k, v, _ := strings.Cut(line, ": ")
			if _, ok := rep.Env[k]; !ok {
				rep.Env[k] = v
			}
		case outcomeLine.MatchString(line):
			m := outcomeLine.FindStringSubmatch(line)
			o := Outcome{Pkg: pkg, Name: m[2]}
			if m[1] == "FAIL" {
				rep.Failures = append(rep.Failures, o)
				last = &rep.Failures[len(rep.Failures)-1]
				pkgFailed[pkg] = true
			} else {
				rep.Skips = append(rep.Skips, o)
				last = &rep.Skips[len(rep.Skips)-1]
			}
		case strings.HasPrefix(line, "FAIL\t"):
			p := strings.Fields(line)[1]
			if !pkgFailed[p] {
				rep.Failures = append(rep.Failures, Outcome{Pkg: p, Log: []string{line}})
				pkgFailed[p] = true
			}
		case resultLine.MatchString(line):
			m := resultLine.FindStringSubmatch(line)
			name := procSuffix.ReplaceAllString(m[1], "")
			fields := strings.Fields(m[3])
			if len(fields)%2 != 0 {
				return nil, fmt.Errorf("line %d: want value-unit pairs after the iterations: %q", n, line)
			}
			key := pkg + "\x00" + name
			res := index[key]
			if res == nil {
				res = &Result{Pkg: pkg, Name: name, Values: map[string][]float64{}}
				index[key] = res
				rep.Results = append(rep.Results, res)
			}
			for i := 0; i < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					return nil, fmt.Errorf("line %d: value %q of %s: %w", n, fields[i], fields[i+1], err)
				}
				unit := fields[i+1]
				if !slices.Contains(res.Units, unit) {
					res.Units = append(res.Units, unit)
				}
				res.Values[unit] = append(res.Values[unit], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	rep.Failures = leaves(rep.Failures)
	return rep, nil
}

// leaves drops a failure that only reports that a sub-benchmark failed:
// one without a log whose name is the parent of another failure's.
func leaves(fs []Outcome) []Outcome {
	var out []Outcome
	for _, f := range fs {
		parent := false
		for _, g := range fs {
			if g.Pkg == f.Pkg && f.Name != "" && strings.HasPrefix(g.Name, f.Name+"/") {
				parent = true
			}
		}
		if !parent || len(f.Log) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// Median is the value of unit across runs: the median, so that one slow
// run of several does not move it.
func (r *Result) Median(unit string) float64 {
	vs := slices.Sorted(slices.Values(r.Values[unit]))
	switch {
	case len(vs) == 0:
		return 0
	case len(vs)%2 == 1:
		return vs[len(vs)/2]
	default:
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
}
