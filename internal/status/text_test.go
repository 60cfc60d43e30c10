package status_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
)

func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := WriteText(&b, statustest.Status(), TextOptions{Events: 3}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// Each target is one row: target, state, in source, reason, countdown.
	rowTests := []struct{ target, row string }{
		{"10.0.1.11:443", `10\.0\.1\.11:443 +unhealthy +no +Target\.Timeout +absent from 4 answers over 5m0s .*kept by rule max-fraction`},
		{"10.0.2.12:443", `10\.0\.2\.12:443 +unhealthy +no +Target\.ResponseCodeMismatch +absent from 2 answers .*1 more miss and 1m0s to go`},
		{"10.0.3.13:443", `10\.0\.3\.13:443 +draining +no +Target\.DeregistrationInProgress +-`},
		{"10.0.3.23:443", `10\.0\.3\.23:443 +initial +yes +Elb\.InitialHealthChecking +-`},
		{"10.1.2.6:443", `10\.1\.2\.6:443 +not registered +yes +not in the target group +-`},
		{"10.1.9.9:80", `10\.1\.9\.9:80 +healthy +no \(not owned\) +- +-`},
		{"10.2.0.11:5044", `10\.2\.0\.11:5044 +unused +yes +Target\.NotInUse +-`},
	}
	for _, tt := range rowTests {
		if !regexp.MustCompile(`(?m)^  ` + tt.row + `$`).MatchString(out) {
			t.Errorf("no row for %s matching %q in:\n%s", tt.target, tt.row, out)
		}
	}
	for _, want := range []string{
		"binding opensearch-dashboards: " + statustest.OpenSearchSource + " -> targetgroup/os-dash/4ab4dba084c2bb5c",
		"desired 3, registered 5, healthy 2, unhealthy 2, draining 1, pending 2, refusing 1",
		"answer   10.0.1.21 10.0.2.22 10.0.3.23 (ttl 1m0s, since 2026-11-21 03:04:00Z, 6m00s ago)",
		"refusing deregister 10.0.1.11:443 [max-fraction]: " + statustest.ReasonMaxFraction,
		"refusing deregister [source-failed]: " + statustest.ReasonSourceFailed,
		"error    " + statustest.FargateError,
		"2026-11-21 03:09:00Z  refused [max-fraction] 10.0.1.11:443  " + statustest.ReasonMaxFraction,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Three events per binding at most, as asked.
	if n := strings.Count(out, "recent events:"); n != 3 {
		t.Errorf("%d event sections, want 3", n)
	}
	if n := len(regexp.MustCompile(`(?m)^    2026-`).FindAllString(out, -1)); n != 3+3+2 {
		t.Errorf("%d event lines, want 8 (3 + 3 + 2, a refusal and a drain):\n%s", n, out)
	}
}

func TestWriteTextUnknownGroup(t *testing.T) {
	var b strings.Builder
	st := Build(Input{Bindings: statustest.Specs(), Now: statustest.Now})
	if err := WriteText(&b, st, TextOptions{Events: -1}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "answer   none yet") || strings.Contains(b.String(), "recent events") {
		t.Errorf("output:\n%s", b.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteTextReportsWriteErrors(t *testing.T) {
	if err := WriteText(failingWriter{}, statustest.Status(), TextOptions{}); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("err = %v, want the write error", err)
	}
}
