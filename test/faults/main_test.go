package faults

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

var reportOut = flag.String("reliability.out", "", "write the fault table into this Markdown file, between its reliability-table markers")

func TestMain(m *testing.M) {
	began := time.Now()
	code := testenv.Run(m)
	took := time.Since(began)
	if testing.Verbose() || *reportOut != "" {
		fmt.Print(table(took))
	}
	if *reportOut != "" {
		switch {
		case code != 0:
			fmt.Fprintf(os.Stderr, "not writing %s: the suite failed\n", *reportOut)
		case testing.Short():
			fmt.Fprintf(os.Stderr, "not writing %s: -short leaves rows out\n", *reportOut)
		default:
			if err := writeReport(*reportOut, table(took)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// row is one fault as the report shows it.
type row struct {
	area, fault, world, move string
	// runs is how many runs the fault lasted.
	runs     int
	wrongful int
	// converge is the fault-free run that reached the answer; bound is
	// what it was held to.
	converge, bound int
	state           string
	took            time.Duration
}

var rows struct {
	sync.Mutex
	list []row
}

// record adds a test's row to the report; rows of failed tests are marked.
func record(t *testing.T, e *env, r row) {
	r.wrongful = e.wrongful
	if t.Failed() {
		r.state = "FAILED: " + r.state
	}
	rows.Lock()
	defer rows.Unlock()
	rows.list = append(rows.list, r)
}

var areaOrder = []string{"ELB", "DNS", "S3", "Lambda", "Overlap", "Clock"}

// table renders the rows as Markdown, with where and when they were taken.
func table(took time.Duration) string {
	rows.Lock()
	list := slices.Clone(rows.list)
	rows.Unlock()
	slices.SortStableFunc(list, func(a, b row) int {
		if c := slices.Index(areaOrder, a.area) - slices.Index(areaOrder, b.area); c != 0 {
			return c
		}
		return strings.Compare(a.fault+a.world+a.move, b.fault+b.world+b.move)
	})
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s on %s (%s/%s, %d CPUs, %s): %d faults in %.1f s, %d wrongful removals, %d fault-free runs that failed on their own.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(),
		len(list), took.Seconds(), sumWrongful(list), uncleanRuns.Load())
	b.WriteString("| area | fault | world | answer moves | runs with the fault | wrongful removals | runs to converge after it (bound) | state after recovery | wall time |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---|---:|\n")
	for _, r := range list {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d (≤ %d) | %s | %.2f s |\n",
			r.area, r.fault, r.world, r.move, r.runs, r.wrongful, r.converge, r.bound, r.state, r.took.Seconds())
	}
	return b.String()
}

func sumWrongful(list []row) int {
	n := 0
	for _, r := range list {
		n += r.wrongful
	}
	return n
}

const (
	beginMarker = "<!-- reliability-table:begin -->"
	endMarker   = "<!-- reliability-table:end -->"
)

// writeReport replaces the text between the markers of the file at path.
func writeReport(path, tbl string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	i, j := bytes.Index(doc, []byte(beginMarker)), bytes.Index(doc, []byte(endMarker))
	if i < 0 || j < i {
		return fmt.Errorf("write report: %s has no %s ... %s markers", path, beginMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(beginMarker)])
	out.WriteString("\n" + tbl)
	out.Write(doc[j:])
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
