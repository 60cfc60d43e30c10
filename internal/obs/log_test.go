package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// logLines runs log against a JSON logger at debug level and returns each
// line's level, message and attributes.
func logLines(t *testing.T, log func(*slog.Logger)) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log(NewLogger(&buf, FormatJSON, slog.LevelDebug))
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		out = append(out, m)
	}
	return out
}

// levels maps each message to the levels it was logged at.
func levels(lines []map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, l := range lines {
		msg, _ := l["msg"].(string)
		out[msg] = append(out[msg], l["level"].(string))
	}
	return out
}

// TestLogRunLevels: deregistrations are normal and logged at info like
// registrations, and so are pending removals; refusals are warnings and
// failures errors. A dry run whose plan the command prints logs only its
// failures and the summary.
func TestLogRunLevels(t *testing.T) {
	dry := run1()
	for i := range dry.Bindings {
		dry.Bindings[i].Registered, dry.Bindings[i].Deregistered = nil, nil
	}
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
		want map[string][]string
	}{
		{"run", func(l *slog.Logger) { LogRun(context.Background(), l, run1(), false) }, map[string][]string{
			"register":               {"INFO", "INFO", "INFO"},
			"deregister":             {"INFO"},
			"pending deregistration": {"INFO"},
			"refused":                {"WARN", "WARN", "WARN", "WARN"},
			"binding failed":         {"ERROR"},
			"run finished":           {"ERROR"},
		}},
		{"dry run", func(l *slog.Logger) { LogRun(context.Background(), l, dry, true) }, map[string][]string{
			"would register":         {"INFO", "INFO", "INFO"},
			"would deregister":       {"INFO"},
			"pending deregistration": {"INFO"},
			"refused":                {"WARN", "WARN", "WARN", "WARN"},
			"binding failed":         {"ERROR"},
			"run finished":           {"ERROR"},
		}},
		{"printed plan", func(l *slog.Logger) { LogPrintedPlan(context.Background(), l, dry) }, map[string][]string{
			"binding failed": {"ERROR"},
			"run finished":   {"ERROR"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := levels(logLines(t, tc.log))
			if len(got) != len(tc.want) {
				t.Errorf("messages %v, want %v", got, tc.want)
			}
			for msg, want := range tc.want {
				if strings.Join(got[msg], ",") != strings.Join(want, ",") {
					t.Errorf("%q logged at %v, want %v", msg, got[msg], want)
				}
			}
		})
	}
}

// TestLogDurationsInSeconds: every duration is logged in seconds, in a key
// that ends in Seconds, whatever the format and however it was passed.
func TestLogDurationsInSeconds(t *testing.T) {
	lines := logLines(t, func(l *slog.Logger) {
		LogRun(context.Background(), l, run1(), false)
		l.Info("daemon started", "interval", time.Minute, slog.Duration("waitSeconds", 2*time.Second),
			slog.Group("g", slog.Duration("d", 1500*time.Millisecond)))
	})
	want := map[string]map[string]float64{
		"pending deregistration": {"timeLeftSeconds": 60},
		"run finished":           {"durationSeconds": 1.5},
		"daemon started":         {"intervalSeconds": 60, "waitSeconds": 2},
	}
	for _, l := range lines {
		msg := l["msg"].(string)
		for k, v := range want[msg] {
			if l[k] != v {
				t.Errorf("%s: %s = %v, want %v: %v", msg, k, l[k], v, l)
			}
		}
		for _, k := range []string{"duration", "timeLeft", "interval", "waitSecondsSeconds"} {
			if _, ok := l[k]; ok {
				t.Errorf("%s: key %s left as it was: %v", msg, k, l)
			}
		}
		if msg == "daemon started" {
			if g, _ := l["g"].(map[string]any); g["dSeconds"] != 1.5 {
				t.Errorf("a duration in a group: %v", l)
			}
		}
	}
	var text bytes.Buffer
	NewLogger(&text, FormatText, slog.LevelInfo).Info("x", "interval", 90*time.Second)
	if !strings.Contains(text.String(), " intervalSeconds=90\n") {
		t.Errorf("text log %q, want intervalSeconds=90", text.String())
	}
}

// TestSummarizeAfter: a dry run's "registered" is what the group holds
// now and "after" what it holds after the plan; in a run that changed the
// group both are what it holds after the changes.
func TestSummarizeAfter(t *testing.T) {
	b := tgsync.BindingResult{Binding: "a", Described: true,
		Observed: []tgsync.ObservedTarget{
			{Target: mock.Target("10.0.0.1:443"), State: tgsync.HealthHealthy},
			{Target: mock.Target("10.0.0.2:443"), State: tgsync.HealthHealthy},
		},
		Plan: tgsync.Decision{Changes: tgsync.Changes{
			Register:   []tgsync.Change{{Action: tgsync.ActionRegister, Target: mock.Target("10.0.0.3:443")}},
			Deregister: []tgsync.Change{{Action: tgsync.ActionDeregister, Target: mock.Target("10.0.0.2:443")}},
		}}}
	applied := b
	applied.Registered, applied.Deregistered = b.Plan.Register, b.Plan.Deregister
	for _, tc := range []struct {
		name   string
		b      tgsync.BindingResult
		dryRun bool
		want   string
	}{
		{"dry run", b, true, `"registered":["10.0.0.1:443","10.0.0.2:443"],"after":["10.0.0.1:443","10.0.0.3:443"]`},
		{"run", applied, false, `"registered":["10.0.0.1:443","10.0.0.3:443"],"after":["10.0.0.1:443","10.0.0.3:443"]`},
		{"not observed", tgsync.BindingResult{Binding: "a"}, true, `"registered":null,"after":null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := json.Marshal(Summarize(tgsync.RunResult{Bindings: []tgsync.BindingResult{tc.b}}, tc.dryRun))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("summary %s\nwant it to hold %s", out, tc.want)
			}
		})
	}
}
