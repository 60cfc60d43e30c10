package testenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Main is the TestMain of a package whose tests use the tools: it runs the
// tests, stops moto_server, removes what was built and names the tests
// that skipped for a missing tool.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with more to do after the tests: it returns
// the exit code instead of exiting.
func Run(m *testing.M) int {
	mainRunning.Store(true)
	code := m.Run()
	stopMoto()
	removeBuilds()
	if line := skipped.line(packagePath()); line != "" {
		announce(line, code)
	}
	return code
}

// mainRunning is set by Run: a test that could skip for a missing tool
// fails without it, since its skip would go unreported.
var mainRunning atomic.Bool

func checkMain(t testing.TB) {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatal("this package's tests need tools: its TestMain must call testenv.Main (or testenv.Run), which reports the tests that skip")
	}
}

// installHints say how .ci/run installs each tool (TestInstallHintsAreCIs
// holds them to it).
var installHints = map[string]string{
	"moto_server": "pip install 'moto[server]==5.2.1'",
	"cfn-lint":    "pip install 'cfn-lint==1.51.0'",
	"chromium":    "apt-get install chromium",
	"make":        "apt-get install make",
}

// skipLog counts, per reason, the tests that skipped for it.
type skipLog struct {
	mu    sync.Mutex
	tests map[string]map[string]bool // reason -> test names
}

var skipped skipLog

// skip skips t for lack of what (fails it when tools are required) and
// counts it.
func (l *skipLog) skip(t testing.TB, what string) {
	t.Helper()
	if RequireTools() {
		t.Fatalf("needs %s, and TGSYNC_REQUIRE_TOOLS=1 makes that a failure (.ci/run installs what the tests need)", what)
	}
	l.add(what, t.Name())
	t.Skipf("needs %s: skipping (set TGSYNC_REQUIRE_TOOLS=1 to make this a failure)", what)
}

func (l *skipLog) add(what, test string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tests == nil {
		l.tests = map[string]map[string]bool{}
	}
	if l.tests[what] == nil {
		l.tests[what] = map[string]bool{}
	}
	l.tests[what][test] = true
}

// line is the report of a package's skips, "" when none skipped:
//
//	pkg: skipped 14 tests: 12 need moto_server (not on PATH; pip install ...), 2 need chromium (...)
func (l *skipLog) line(pkg string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	type reason struct {
		what string
		n    int
	}
	var reasons []reason
	all := map[string]bool{}
	for what, tests := range l.tests {
		reasons = append(reasons, reason{what, len(tests)})
		for name := range tests {
			all[name] = true
		}
	}
	if len(all) == 0 {
		return ""
	}
	slices.SortFunc(reasons, func(a, b reason) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.what, b.what)
	})
	var parts []string
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s %s", r.n, plural(r.n, "needs", "need"), r.what))
	}
	return fmt.Sprintf("%s: skipped %d %s: %s; TGSYNC_REQUIRE_TOOLS=1 makes them fail",
		pkg, len(all), plural(len(all), "test", "tests"), strings.Join(parts, ", "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// packagePath is the import path of the package under test: go test runs
// its binary in the package's directory.
func packagePath() string {
	root, err := repoRoot()
	if err != nil {
		return "this package"
	}
	module := "."
	if data, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil {
		for line := range strings.Lines(string(data)) {
			if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
				module = strings.TrimSpace(m)
				break
			}
		}
	}
	dir, _ := os.Getwd()
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." {
		return module
	}
	return module + "/" + filepath.ToSlash(rel)
}

// announce prints the skip report. go test shows a test binary's output
// with -v or -json, in a run of the current directory, and when the
// package fails; a passing package of `go test ./...` shows only its ok
// line, so there the report also goes straight to the go command's
// standard output, where the ok lines are.
func announce(line string, code int) {
	fmt.Println(line)
	if code != 0 || testing.Verbose() {
		return
	}
	if w := goCommandOutput(); w != nil {
		fmt.Fprintln(w, line)
		w.Close()
	}
}

// goCommandOutput opens the standard output of the go command that runs
// this test binary, when this binary's own output does not reach it and a
// line can be added to it safely: a terminal, a pipe, or a file opened
// for appending (a file written at an offset of its own would have the
// line overwritten). It returns nil otherwise, and off Linux.
func goCommandOutput() io.WriteCloser {
	if runtime.GOOS != "linux" {
		return nil
	}
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return nil
	}
	target := fmt.Sprintf("/proc/%d/fd/1", ppid)
	theirs, err := os.Stat(target)
	if err != nil {
		return nil
	}
	if ours, err := os.Stdout.Stat(); err == nil && os.SameFile(ours, theirs) {
		return nil // streamed already
	}
	switch mode := theirs.Mode(); {
	case mode&(os.ModeNamedPipe|os.ModeCharDevice|os.ModeSocket) != 0:
	case mode.IsRegular() && appending(fmt.Sprintf("/proc/%d/fdinfo/1", ppid)):
	default:
		return nil
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil
	}
	return f
}

// appending reports whether the file descriptor that fdinfo describes was
// opened with O_APPEND.
func appending(fdinfo string) bool {
	f, err := os.Open(fdinfo)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&syscall.O_APPEND != 0
		}
	}
	return false
}
