package obs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestWriteEMFThrottlesAtEveryLevel: throttling is worth an alarm at
// every level that declares metrics, so Throttles is declared at
// essential too, on a line of its own, only in a run that was throttled.
func TestWriteEMFThrottlesAtEveryLevel(t *testing.T) {
	tests := []struct {
		level     MetricsLevel
		throttles map[string]int
		want      string // the run line's declared metrics, "" for no run line
	}{
		{MetricsAll, map[string]int{"DescribeTargetHealth": 2}, "ApiCalls,RunDurationMs,Bindings,FailedBindings,Throttles"},
		{MetricsAll, nil, "ApiCalls,RunDurationMs,Bindings,FailedBindings"},
		{MetricsEssential, map[string]int{"DescribeTargetHealth": 2}, "Throttles"},
		{MetricsEssential, nil, ""},
		{MetricsOff, map[string]int{"DescribeTargetHealth": 2}, "undeclared"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.level, tt.throttles), func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteEMF(&buf, run1(), run1Calls(), tt.throttles, EMFOptions{Metrics: tt.level}); err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
				var doc map[string]any
				if err := json.Unmarshal(raw, &doc); err != nil {
					t.Fatal(err)
				}
				if doc["Binding"] != nil || doc["Action"] != nil {
					continue
				}
				aws, ok := doc["_aws"].(map[string]any)
				if !ok {
					got = "undeclared"
					continue
				}
				var names []string
				for _, m := range aws["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any) {
					names = append(names, m.(map[string]any)["Name"].(string))
				}
				got = strings.Join(names, ",")
			}
			if got != tt.want {
				t.Errorf("run line declares %q, want %q", got, tt.want)
			}
		})
	}
}
