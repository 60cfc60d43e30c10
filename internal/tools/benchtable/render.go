package main

import (
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// scale is a unit a column or a figure is shown in.
type scale struct {
	unit   string
	factor float64
}

// scales rescale the framework's own units, smallest first.
var scales = map[string][]scale{
	"ns/op": {{"ns/op", 1}, {"µs/op", 1e3}, {"ms/op", 1e6}, {"s/op", 1e9}},
	"B/op":  {{"B/op", 1}, {"KiB/op", 1 << 10}, {"MiB/op", 1 << 20}},
}

// pick returns the largest scale under which v is still at least 1.
func pick(unit string, v float64) scale {
	ss, ok := scales[unit]
	if !ok {
		return scale{unit, 1}
	}
	s := ss[0]
	for _, c := range ss[1:] {
		if math.Abs(v) >= c.factor {
			s = c
		}
	}
	return s
}

// number writes v with about three significant digits and no trailing
// zeros: 1, 0.05, 41.2, 1575.
func number(v float64) string {
	prec := 0
	switch a := math.Abs(v); {
	case a == 0 || a >= 100:
	case a >= 10:
		prec = 1
	case a >= 1:
		prec = 2
	default:
		prec = 3
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// pkgNames shortens package paths to what tells them apart: the path
// below the packages' common directory, or the last element when there is
// only one package.
func pkgNames(rep *Report) map[string]string {
	var pkgs []string
	for _, r := range rep.Results {
		if !slices.Contains(pkgs, r.Pkg) {
			pkgs = append(pkgs, r.Pkg)
		}
	}
	for _, o := range slices.Concat(rep.Failures, rep.Skips) {
		if !slices.Contains(pkgs, o.Pkg) {
			pkgs = append(pkgs, o.Pkg)
		}
	}
	out := map[string]string{}
	if len(pkgs) == 1 {
		out[pkgs[0]] = path.Base(pkgs[0])
		return out
	}
	prefix := ""
	if len(pkgs) > 0 {
		prefix = path.Dir(pkgs[0]) + "/"
		for !allHavePrefix(pkgs, prefix) && prefix != "./" {
			prefix = path.Dir(strings.TrimSuffix(prefix, "/")) + "/"
		}
	}
	for _, p := range pkgs {
		if prefix == "./" || p+"/" == prefix {
			out[p] = p
			continue
		}
		out[p] = strings.TrimPrefix(p, prefix)
	}
	return out
}

func allHavePrefix(ss []string, prefix string) bool {
	for _, s := range ss {
		if !strings.HasPrefix(s, prefix) {
			return false
		}
	}
	return true
}

// writeFlat writes one table: a row per benchmark, its figures in one
// cell.
func writeFlat(w io.Writer, rep *Report) {
	names := pkgNames(rep)
	fmt.Fprintln(w, "| package | benchmark | figures |")
	fmt.Fprintln(w, "|---|---|---|")
	prev := ""
	for _, r := range rep.Results {
		pkg := names[r.Pkg]
		if pkg == prev {
			pkg = ""
		}
		prev = names[r.Pkg]
		var figs []string
		for _, u := range r.Units {
			v := r.Median(u)
			s := pick(u, v)
			figs = append(figs, number(v/s.factor)+" "+s.unit)
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", cell(pkg), cell(r.Name), cell(strings.Join(figs, ", ")))
	}
}

// writeGrouped writes one table per top-level benchmark: a row per
// sub-benchmark, a column per unit, each column in one scale.
func writeGrouped(w io.Writer, rep *Report) {
	names := pkgNames(rep)
	type group struct {
		pkg, top string
		rows     []*Result
	}
	var groups []*group
	for _, r := range rep.Results {
		top, _, _ := strings.Cut(r.Name, "/")
		i := slices.IndexFunc(groups, func(g *group) bool { return g.pkg == r.Pkg && g.top == top })
		if i < 0 {
			groups = append(groups, &group{pkg: r.Pkg, top: top})
			i = len(groups) - 1
		}
		groups[i].rows = append(groups[i].rows, r)
	}
	for gi, g := range groups {
		if gi > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s · Benchmark%s\n\n", names[g.pkg], g.top)
		var units []string
		for _, r := range g.rows {
			for _, u := range r.Units {
				if !slices.Contains(units, u) {
					units = append(units, u)
				}
			}
		}
		colScale := make([]scale, len(units))
		for i, u := range units {
			least := math.Inf(1)
			for _, r := range g.rows {
				if v := math.Abs(r.Median(u)); len(r.Values[u]) > 0 && v > 0 && v < least {
					least = v
				}
			}
			colScale[i] = pick(u, least)
		}
		header := []string{"case"}
		for _, s := range colScale {
			header = append(header, cell(s.unit))
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
		for _, r := range g.rows {
			name := strings.TrimPrefix(strings.TrimPrefix(r.Name, g.top), "/")
			if name == "" {
				name = g.top
			}
			row := []string{cell(name)}
			for i, u := range units {
				if len(r.Values[u]) == 0 {
					row = append(row, "")
					continue
				}
				row = append(row, number(r.Median(u)/colScale[i].factor))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		}
	}
}

// writeOutcomes lists failures and skips below the table.
func writeOutcomes(w io.Writer, rep *Report) {
	names := pkgNames(rep)
	for _, list := range []struct {
		title string
		os    []Outcome
	}{{"Failed", rep.Failures}, {"Skipped", rep.Skips}} {
		if len(list.os) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n\n", list.title)
		for _, o := range list.os {
			what := names[o.Pkg]
			if o.Name != "" {
				what += " · Benchmark" + o.Name
			}
			fmt.Fprintf(w, "- %s", what)
			if len(o.Log) > 0 {
				fmt.Fprintf(w, ": %s", strings.Join(o.Log, " / "))
			}
			fmt.Fprintln(w)
		}
	}
}

// writeEnv writes the machine line go test printed.
func writeEnv(w io.Writer, rep *Report) {
	var parts []string
	if os, arch := rep.Env["goos"], rep.Env["goarch"]; os != "" || arch != "" {
		parts = append(parts, os+"/"+arch)
	}
	if cpu := rep.Env["cpu"]; cpu != "" {
		parts = append(parts, cpu)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "%s\n\n", strings.Join(parts, ", "))
	}
}

// cell escapes what would end a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
