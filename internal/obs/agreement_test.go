package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// agreeing is run1 with the ALB binding's DNS answer beside the ALB's
// network interfaces: DNS showed 2 of the 4 interface addresses, and one
// address no interface holds.
func agreeing() tgsync.RunResult {
	r := run1()
	r.Bindings[1].Answer.Agreement = &tgsync.Agreement{DNSOnly: mock.Addrs("203.0.113.7"), Interfaces: 4, SeenByDNS: 2}
	return r
}

func TestEMFAgreement(t *testing.T) {
	for _, tc := range []struct {
		level    MetricsLevel
		declared bool
	}{{MetricsAll, true}, {MetricsEssential, false}} {
		var buf bytes.Buffer
		if err := WriteEMF(&buf, agreeing(), nil, nil, EMFOptions{Metrics: tc.level}); err != nil {
			t.Fatal(err)
		}
		lines := emfLines(t, buf.String())
		alb := lines["Binding=internal-alb-static-ip"]
		for name, want := range map[string]float64{"DNSOnlyAddresses": 1, "InterfaceAddressesSeenByDNS": 50} {
			got, err := alb[name].(json.Number).Float64()
			if err != nil || got != want {
				t.Errorf("%s: %s = %v, want %v", tc.level, name, alb[name], want)
			}
			declared := false
			if aws, ok := alb["_aws"].(map[string]any); ok {
				for _, m := range aws["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any) {
					if m.(map[string]any)["Name"] == name {
						declared = true
						if name == "InterfaceAddressesSeenByDNS" && m.(map[string]any)["Unit"] != UnitPercent {
							t.Errorf("%s unit %v", name, m.(map[string]any)["Unit"])
						}
					}
				}
			}
			if declared != tc.declared {
				t.Errorf("%s: %s declared %v, want %v", tc.level, name, declared, tc.declared)
			}
		}
		// A binding with one source has no agreement to report.
		if _, ok := lines["Binding=opensearch-dashboards"]["DNSOnlyAddresses"]; ok {
			t.Error("agreement reported for a binding without interfaces")
		}
	}
}

func TestLogAgreement(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a     *tgsync.Agreement
		level slog.Level
		msg   string // "" for no line
	}{
		{"an address in DNS only", &tgsync.Agreement{DNSOnly: mock.Addrs("203.0.113.7"), Interfaces: 4, SeenByDNS: 2}, slog.LevelWarn, "DNS gives addresses no network interface holds"},
		{"DNS shows a subset", &tgsync.Agreement{Interfaces: 12, SeenByDNS: 8}, slog.LevelDebug, "sources agree"},
		{"one source", nil, slog.LevelDebug, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := run1()
			r.Bindings[1].Answer.Agreement = tc.a
			LogRun(context.Background(), slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), r, false)
			var line map[string]any
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && (m["msg"] == "sources agree" || m["msg"] == "DNS gives addresses no network interface holds") {
					line = m
				}
			}
			if tc.msg == "" {
				if line != nil {
					t.Fatalf("agreement logged for a binding with one source: %v", line)
				}
				return
			}
			if line == nil || line["msg"] != tc.msg || line["level"] != tc.level.String() || line["binding"] != "internal-alb-static-ip" ||
				line["share"] != tc.a.Share() {
				t.Fatalf("line %v, want %q at %s", line, tc.msg, tc.level)
			}
		})
	}
}
