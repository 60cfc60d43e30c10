package config

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a config, located by its key path and
// line so that a reader can go straight to it.
type Problem struct {
	// Path is the key path, e.g. bindings[1].deregister.maxFraction; empty
	// for problems with the file as a whole.
	Path string
	// Line is the 1-based line in the file; 0 when unknown.
	Line int
	// Message says what is wrong, and how to fix it where that is clear.
	Message string
}

// String renders the problem without a file name: "line 12: path: message".
func (p Problem) String() string { return p.render("") }

// In renders the problem as ValidationError does, naming file:
// "tgsync.yaml:12: path: message".
func (p Problem) In(file string) string { return p.render(file) }

func (p Problem) render(file string) string {
	var b strings.Builder
	switch {
	case file != "" && p.Line > 0:
		b.WriteString(file + ":" + strconv.Itoa(p.Line) + ": ")
	case file != "":
		b.WriteString(file + ": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError is every problem found in a config, sorted by line. A
// config is rejected as a whole so that one run of `tgsync validate` shows
// everything there is to fix.
type ValidationError struct {
	// File names the config file in Error; Parse leaves it empty and Load
	// sets it.
	File     string
	Problems []Problem
}

// Error renders one problem per line, e.g.
// "tgsync.yaml:12: bindings[1].deregister.maxFraction: must be in (0, 1], got 1.5".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.render(e.File)
	}
	return strings.Join(lines, "\n")
}

// WithFile returns a copy of the error that names file in its lines.
func (e *ValidationError) WithFile(file string) *ValidationError {
	c := *e
	c.File = file
	c.Problems = append([]Problem(nil), e.Problems...)
	return &c
}

// EnvProblem is one thing wrong with the environment, naming the variables
// involved.
type EnvProblem struct {
	Variables []string
	Message   string
}

func (p EnvProblem) String() string {
	if len(p.Variables) == 0 {
		return p.Message
	}
	return strings.Join(p.Variables, ", ") + ": " + p.Message
}

// EnvError is every problem found in the environment.
type EnvError struct {
	Problems []EnvProblem
}

func (e *EnvError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Variables lists every variable the problems name, sorted.
func (e *EnvError) Variables() []string {
	var out []string
	for _, p := range e.Problems {
		out = append(out, p.Variables...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// problems collects Problems. A path that already has a problem (or sits
// under one that does) gets no further ones, so that a value that could not
// be decoded is not reported again as missing.
type problems struct {
	list []Problem
	// warnings are about settings that are valid but likely unsafe.
	warnings []Problem
	bad      map[string]bool
	// lines maps key paths to the line they appear on; nil for a Config
	// that did not come from YAML.
	lines map[string]int
}

func (ps *problems) add(path, msg string) {
	if ps.covered(path) {
		return
	}
	if ps.bad == nil {
		ps.bad = map[string]bool{}
	}
	ps.bad[path] = true
	ps.list = append(ps.list, Problem{Path: path, Line: ps.line(path), Message: msg})
}

// quiet marks path as reported without a problem of its own, so that
// nothing more is said about it.
func (ps *problems) quiet(path string) {
	if ps.bad == nil {
		ps.bad = map[string]bool{}
	}
	ps.bad[path] = true
}

// warn records a warning about path, which does not make the config
// invalid.
func (ps *problems) warn(path, msg string) {
	ps.warnings = append(ps.warnings, Problem{Path: path, Line: ps.line(path), Message: msg})
}

// sortedWarnings returns the warnings sorted by line, or nil.
func (ps *problems) sortedWarnings() []Problem {
	if len(ps.warnings) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.warnings...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	return list
}

// addLine records a problem on a line of its own without marking path as
// bad, for problems about how a mapping is written rather than a value.
func (ps *problems) addLine(path string, line int, msg string) {
	if ps.covered(path) {
		return
	}
	ps.list = append(ps.list, Problem{Path: path, Line: line, Message: msg})
}

// covered reports whether path or one of its ancestors already has a
// problem.
func (ps *problems) covered(path string) bool {
	for p := path; ; p = parent(p) {
		if ps.bad[p] {
			return true
		}
		if p == "" {
			return false
		}
	}
}

// line is the line of path, or of its nearest ancestor that appears in the
// file (a missing key is reported where its parent is).
func (ps *problems) line(path string) int {
	for p := path; ; p = parent(p) {
		if l, ok := ps.lines[p]; ok {
			return l
		}
		if p == "" {
			return 0
		}
	}
}

// err returns the problems as a sorted *ValidationError, or nil.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	return &ValidationError{Problems: list}
}

// parent strips the last element of a key path: a.b[2] -> a.b, a.b -> a.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
