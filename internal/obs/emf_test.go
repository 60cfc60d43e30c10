package obs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The rules of the CloudWatch Embedded Metric Format specification
// ("Specification: Embedded metric format", CloudWatch User Guide), and of
// the CloudWatch API where EMF defers to it:
//
//   - the log event is one JSON object with nothing before or after it,
//     at most 256 KB (the CloudWatch Logs event limit the spec names);
//   - the root holds _aws, an object with exactly CloudWatchMetrics (an
//     array of MetricDirective) and Timestamp (an integer: milliseconds
//     since the epoch);
//   - a MetricDirective has exactly Namespace (a string of 1 to 255
//     characters, not starting with "AWS/", which CloudWatch reserves),
//     Dimensions (an array of at least one DimensionSet) and Metrics (an
//     array of at most 100 MetricDefinition);
//   - a DimensionSet is an array of at most 30 dimension keys, each a
//     string of 1 to 255 characters naming a root member whose value is
//     a string (1 to 1024 characters, the API's Dimension value limits);
//   - a MetricDefinition has Name (1 to 255 characters, naming a root
//     member that is a number or an array of at most 100 numbers),
//     optionally Unit from CloudWatch's list and StorageResolution 1 or
//     60, and nothing else;
//   - target members are root members, never nested.
const (
	emfMaxEventBytes    = 256 * 1024
	emfMaxDimensions    = 30
	emfMaxMetrics       = 100
	emfMaxValues        = 100
	emfMaxNameLen       = 255
	emfMaxDimValueLen   = 1024
	emfMinTimestampMsec = 1e12 // 2001: a timestamp in seconds is far below
)

var emfUnits = regexp.MustCompile(`^(Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None)$`)

// validateEMF checks one log event against the rules above and returns its
// root members.
func validateEMF(line []byte) (map[string]any, error) {
	if len(line) > emfMaxEventBytes {
		return nil, fmt.Errorf("event is %d bytes, more than %d", len(line), emfMaxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON object")
	}
	meta, ok := root["_aws"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("_aws missing or not an object")
	}
	if err := onlyKeys(meta, "_aws", "CloudWatchMetrics", "Timestamp"); err != nil {
		return nil, err
	}
	ts, ok := meta["Timestamp"].(json.Number)
	if !ok {
		return nil, fmt.Errorf("_aws.Timestamp missing or not a number")
	}
	ms, err := ts.Int64()
	if err != nil || ms < emfMinTimestampMsec {
		return nil, fmt.Errorf("_aws.Timestamp %s is not an integer count of milliseconds", ts)
	}
	directives, ok := meta["CloudWatchMetrics"].([]any)
	if !ok {
		return nil, fmt.Errorf("_aws.CloudWatchMetrics missing or not an array")
	}
	for i, d := range directives {
		if err := validateDirective(root, d); err != nil {
			return nil, fmt.Errorf("directive %d: %w", i, err)
		}
	}
	return root, nil
}

func validateDirective(root map[string]any, d any) error {
	dir, ok := d.(map[string]any)
	if !ok {
		return fmt.Errorf("not an object")
	}
	if err := onlyKeys(dir, "directive", "Namespace", "Dimensions", "Metrics"); err != nil {
		return err
	}
	ns, ok := dir["Namespace"].(string)
	if !ok || len(ns) < 1 || len(ns) > emfMaxNameLen || strings.HasPrefix(ns, "AWS/") {
		return fmt.Errorf("Namespace %v: want 1 to 255 characters, not starting with AWS/", dir["Namespace"])
	}
	sets, ok := dir["Dimensions"].([]any)
	if !ok || len(sets) == 0 {
		return fmt.Errorf("Dimensions must be an array of at least one DimensionSet")
	}
	dimKeys := map[string]bool{}
	for _, s := range sets {
		set, ok := s.([]any)
		if !ok {
			return fmt.Errorf("DimensionSet %v is not an array", s)
		}
		if len(set) > emfMaxDimensions {
			return fmt.Errorf("DimensionSet has %d keys, more than %d", len(set), emfMaxDimensions)
		}
		for _, k := range set {
			key, ok := k.(string)
			if !ok || len(key) < 1 || len(key) > emfMaxNameLen {
				return fmt.Errorf("dimension key %v: want a string of 1 to 255 characters", k)
			}
			v, ok := root[key].(string)
			if !ok {
				return fmt.Errorf("dimension %q has no string member on the root", key)
			}
			if len(v) < 1 || len(v) > emfMaxDimValueLen {
				return fmt.Errorf("dimension %q value has %d characters, want 1 to 1024", key, len(v))
			}
			dimKeys[key] = true
		}
	}
	defs, ok := dir["Metrics"].([]any)
	if !ok {
		return fmt.Errorf("Metrics missing or not an array")
	}
	if len(defs) > emfMaxMetrics {
		return fmt.Errorf("%d metrics, more than %d", len(defs), emfMaxMetrics)
	}
	seen := map[string]bool{}
	for _, m := range defs {
		def, ok := m.(map[string]any)
		if !ok {
			return fmt.Errorf("MetricDefinition %v is not an object", m)
		}
		if err := onlyKeys(def, "MetricDefinition", "Name", "Unit", "StorageResolution"); err != nil {
			return err
		}
		name, ok := def["Name"].(string)
		if !ok || len(name) < 1 || len(name) > emfMaxNameLen {
			return fmt.Errorf("metric Name %v: want a string of 1 to 255 characters", def["Name"])
		}
		if seen[name] || dimKeys[name] {
			return fmt.Errorf("metric %q named twice, or also a dimension", name)
		}
		seen[name] = true
		if u, ok := def["Unit"]; ok {
			if s, isString := u.(string); !isString || !emfUnits.MatchString(s) {
				return fmt.Errorf("metric %q: Unit %v is not a CloudWatch unit", name, u)
			}
		}
		if r, ok := def["StorageResolution"]; ok && r != json.Number("1") && r != json.Number("60") {
			return fmt.Errorf("metric %q: StorageResolution %v, want 1 or 60", name, r)
		}
		switch v := root[name].(type) {
		case json.Number:
		case []any:
			if len(v) > emfMaxValues {
				return fmt.Errorf("metric %q has %d values, more than %d", name, len(v), emfMaxValues)
			}
			for _, x := range v {
				if _, ok := x.(json.Number); !ok {
					return fmt.Errorf("metric %q value %v is not a number", name, x)
				}
			}
		default:
			return fmt.Errorf("metric %q has no numeric member on the root (got %T)", name, root[name])
		}
	}
	return nil
}

func onlyKeys(obj map[string]any, what string, allowed ...string) error {
	for k := range obj {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s has member %q, which the specification does not define", what, k)
		}
	}
	for _, k := range allowed[:1] {
		if _, ok := obj[k]; !ok {
			return fmt.Errorf("%s lacks %q", what, k)
		}
	}
	return nil
}

// TestEMFValidator proves the validator rejects what the specification
// forbids, so that WriteEMF's lines passing it means something.
func TestEMFValidator(t *testing.T) {
	good := `{"_aws":{"Timestamp":1763694540000,"CloudWatchMetrics":[{"Namespace":"tgsync","Dimensions":[["Binding"]],"Metrics":[{"Name":"Registered","Unit":"Count"}]}]},"Binding":"b","Registered":1}`
	if _, err := validateEMF([]byte(good)); err != nil {
		t.Fatalf("valid document refused: %v", err)
	}
	manyDims, manyMetrics, manyValues := []string{}, []string{}, []string{}
	for i := 0; i < 31; i++ {
		manyDims = append(manyDims, fmt.Sprintf(`"D%d"`, i))
	}
	for i := 0; i < 101; i++ {
		manyMetrics = append(manyMetrics, fmt.Sprintf(`{"Name":"M%d"}`, i))
		manyValues = append(manyValues, "1")
	}
	tests := []struct{ name, doc, want string }{
		{"not JSON", `Registered=1`, "not a JSON object"},
		{"trailing data", good + ` x`, "data after"},
		{"no _aws", `{"Binding":"b"}`, "_aws missing"},
		{"timestamp in seconds", strings.Replace(good, "1763694540000", "1763694540", 1), "milliseconds"},
		{"timestamp not integer", strings.Replace(good, "1763694540000", "1763694540000.5", 1), "milliseconds"},
		{"no timestamp", strings.Replace(good, `"Timestamp":1763694540000,`, "", 1), "Timestamp missing"},
		{"extra _aws member", strings.Replace(good, `"_aws":{`, `"_aws":{"Extra":1,`, 1), "does not define"},
		{"reserved namespace", strings.Replace(good, `"tgsync"`, `"AWS/ApplicationELB"`, 1), "AWS/"},
		{"empty namespace", strings.Replace(good, `"tgsync"`, `""`, 1), "Namespace"},
		{"no dimension sets", strings.Replace(good, `[["Binding"]]`, `[]`, 1), "at least one"},
		{"dimension not a string member", strings.Replace(good, `"Binding":"b"`, `"Binding":7`, 1), "no string member"},
		{"empty dimension value", strings.Replace(good, `"Binding":"b"`, `"Binding":""`, 1), "want 1 to 1024"},
		{"missing dimension member", strings.Replace(good, `,"Binding":"b"`, ``, 1), "no string member"},
		{"31 dimensions", strings.Replace(good, `[["Binding"]]`, `[[`+strings.Join(manyDims, ",")+`]]`, 1), "more than 30"},
		{"101 metrics", strings.Replace(good, `[{"Name":"Registered","Unit":"Count"}]`, `[`+strings.Join(manyMetrics, ",")+`]`, 1), "more than 100"},
		{"101 values", strings.Replace(good, `"Registered":1}`, `"Registered":[`+strings.Join(manyValues, ",")+`]}`, 1), "more than 100"},
		{"metric member missing", strings.Replace(good, `,"Registered":1`, ``, 1), "no numeric member"},
		{"metric member a string", strings.Replace(good, `"Registered":1`, `"Registered":"1"`, 1), "no numeric member"},
		{"metric nested", strings.Replace(good, `"Registered":1`, `"M":{"Registered":1}`, 1), "no numeric member"},
		{"bad unit", strings.Replace(good, `"Unit":"Count"`, `"Unit":"Targets"`, 1), "not a CloudWatch unit"},
		{"bad resolution", strings.Replace(good, `"Unit":"Count"`, `"StorageResolution":5`, 1), "StorageResolution"},
		{"extra definition member", strings.Replace(good, `"Unit":"Count"`, `"Unit":"Count","Value":1`, 1), "does not define"},
		{"too large", strings.Replace(good, `"Binding":"b"`, `"Binding":"b","Pad":"`+strings.Repeat("x", emfMaxEventBytes)+`"`, 1), "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validateEMF([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// emfLines validates every line and indexes them by their dimensions,
// e.g. "Binding=opensearch-dashboards" or "" for the run line.
func emfLines(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 2*emfMaxEventBytes)
	for sc.Scan() {
		root, err := validateEMF(sc.Bytes())
		if err != nil {
			t.Fatalf("invalid EMF line: %v\n%s", err, sc.Text())
		}
		dir := root["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		var dims []string
		for _, k := range dir["Dimensions"].([]any)[0].([]any) {
			dims = append(dims, k.(string)+"="+root[k.(string)].(string))
		}
		key := strings.Join(dims, ",")
		if _, dup := lines[key]; dup {
			t.Fatalf("two lines for %q", key)
		}
		lines[key] = root
	}
	return lines
}

func TestWriteEMF(t *testing.T) {
	type values map[string]float64
	const os, alb, farg = "Binding=opensearch-dashboards", "Binding=internal-alb-static-ip", "Binding=fargate-logstash"
	tests := []struct {
		name      string
		opts      EMFOptions
		throttles map[string]int
		want      map[string]values
		absent    map[string][]string
		ns        string
	}{
		{
			name: "per binding, per run and per action",
			ns:   "tgsync",
			want: map[string]values{
				os: {"DesiredTargets": 3, "RegisteredTargets": 5, "HealthyTargets": 2, "PendingDeregistration": 1,
					"Registered": 1, "Deregistered": 1, "Refused": 1, "SourceFailures": 0, "RunDurationMs": 1200},
				alb:                           {"DesiredTargets": 4, "RegisteredTargets": 5, "HealthyTargets": 3, "Registered": 2, "Refused": 2, "SourceFailures": 0, "RunDurationMs": 250},
				farg:                          {"Registered": 0, "Deregistered": 0, "Refused": 1, "SourceFailures": 1, "RunDurationMs": 40},
				"":                            {"ApiCalls": 5, "RunDurationMs": 1500, "Bindings": 3, "FailedBindings": 1},
				"Action=DescribeTargetHealth": {"ApiCalls": 2},
				"Action=RegisterTargets":      {"ApiCalls": 2},
				"Action=DeregisterTargets":    {"ApiCalls": 1},
			},
			// A failed lookup leaves the group figures out rather than
			// reporting an empty group; no throttle, no Throttles.
			absent: map[string][]string{farg: {"DesiredTargets", "RegisteredTargets", "HealthyTargets", "PendingDeregistration"},
				"": {"Throttles"}, "Action=DescribeTargetHealth": {"Throttles"}},
		},
		{
			name:      "throttled attempts, in all and by action",
			ns:        "tgsync",
			throttles: map[string]int{"DescribeTargetHealth": 1, "RegisterTargets": 2},
			want: map[string]values{
				"":                            {"ApiCalls": 5, "Throttles": 3},
				"Action=DescribeTargetHealth": {"ApiCalls": 2, "Throttles": 1},
				"Action=RegisterTargets":      {"ApiCalls": 2, "Throttles": 2},
			},
			absent: map[string][]string{"Action=DeregisterTargets": {"Throttles"}},
		},
		{
			name: "legacy IP counts in tgsync's namespace",
			opts: EMFOptions{Namespace: "tgsync/prod", Legacy: LegacyIPCount{LoadBalancerIPCount: true, HostnameAsTargetIPCount: true}},
			ns:   "tgsync/prod",
			want: map[string]values{
				"LoadBalancerName=" + srcOS:  {"LoadBalancerIPCount": 3},
				"HostnameIPCount=" + srcOS:   {"HostnameAsTargetIPCount": 4}, // 3 answered + 1 in its grace
				"LoadBalancerName=" + srcALB: {"LoadBalancerIPCount": 3},     // the legacy count had no address check
				"HostnameIPCount=" + srcALB:  {"HostnameAsTargetIPCount": 3},
				os:                           {"DesiredTargets": 3},
			},
			absent: map[string][]string{"LoadBalancerName=" + srcFarg: nil, "HostnameIPCount=" + srcFarg: nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteEMF(&buf, run1(), run1Calls(), tt.throttles, tt.opts); err != nil {
				t.Fatal(err)
			}
			lines := emfLines(t, buf.String())
			for key, vals := range tt.want {
				root, ok := lines[key]
				if !ok {
					t.Errorf("no line for %q; have %v", key, keys(lines))
					continue
				}
				dir := root["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
				if dir["Namespace"] != tt.ns {
					t.Errorf("%s: namespace %v, want %s", key, dir["Namespace"], tt.ns)
				}
				if ts, _ := root["_aws"].(map[string]any)["Timestamp"].(json.Number).Int64(); ts != t0.Add(1500*time.Millisecond).UnixMilli() {
					t.Errorf("%s: timestamp %d, want the run's end", key, ts)
				}
				for name, want := range vals {
					got, err := root[name].(json.Number).Float64()
					if err != nil || got != want {
						t.Errorf("%s: %s = %v, want %v", key, name, root[name], want)
					}
				}
			}
			for key, names := range tt.absent {
				root, ok := lines[key]
				if names == nil {
					if ok {
						t.Errorf("unexpected line for %q", key)
					}
					continue
				}
				for _, n := range names {
					if _, ok := root[n]; ok {
						t.Errorf("%s: %s present, want it left out", key, n)
					}
				}
			}
			if tt.opts.Legacy == (LegacyIPCount{}) {
				for key := range lines {
					if strings.Contains(key, "LoadBalancerName") || strings.Contains(key, "HostnameIPCount") {
						t.Errorf("legacy line %q without asking", key)
					}
				}
			}
		})
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestWriteEMFEmptyRunAndOptions(t *testing.T) {
	var buf bytes.Buffer
	stamp := time.Date(2026, 11, 21, 4, 0, 0, 0, time.UTC)
	if err := WriteEMF(&buf, run2(), nil, nil, EMFOptions{Timestamp: stamp}); err != nil {
		t.Fatal(err)
	}
	lines := emfLines(t, buf.String())
	if len(lines) != 4 { // three bindings and the run; no action lines without calls
		t.Errorf("%d lines, want 4: %v", len(lines), keys(lines))
	}
	ts, _ := lines[""]["_aws"].(map[string]any)["Timestamp"].(json.Number).Int64()
	if ts != stamp.UnixMilli() {
		t.Errorf("timestamp %d, want %d", ts, stamp.UnixMilli())
	}
	if err := WriteEMF(&buf, run2(), nil, nil, EMFOptions{Namespace: "AWS/ApplicationELB"}); err == nil {
		t.Error("an AWS/ namespace must be refused")
	}
}

func TestLegacyIPCountFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    LegacyIPCount
		wantErr string
	}{
		{map[string]string{}, LegacyIPCount{}, ""},
		{map[string]string{"CW_METRIC_FLAG_IP_COUNT": "true"}, LegacyIPCount{LoadBalancerIPCount: true}, ""},
		{map[string]string{"CW_METRIC_FLAG_IP_COUNT": "TRUE", "REPORT_IP_COUNT_CW_METRIC": "True"}, LegacyIPCount{true, true}, ""},
		{map[string]string{"REPORT_IP_COUNT_CW_METRIC": "1"}, LegacyIPCount{HostnameAsTargetIPCount: true}, ""},
		{map[string]string{"CW_METRIC_FLAG_IP_COUNT": "False", "REPORT_IP_COUNT_CW_METRIC": " "}, LegacyIPCount{}, ""},
		{map[string]string{"CW_METRIC_FLAG_IP_COUNT": "yes"}, LegacyIPCount{}, `CW_METRIC_FLAG_IP_COUNT="yes": want true or false`},
	}
	for _, tt := range tests {
		got, err := LegacyIPCountFromEnv(func(k string) string { return tt.env[k] })
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%v: err = %v, want %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v: got %+v, %v; want %+v", tt.env, got, err, tt.want)
		}
	}
}

// TestWriteEMFLevels checks what each metrics level declares: every value
// is written at every level, but only declared ones become (billed)
// CloudWatch metrics.
func TestWriteEMFLevels(t *testing.T) {
	tests := []struct {
		level MetricsLevel
		// declared per binding line; nil means the line is plain JSON
		binding []string
		runLine bool // the per-run and per-action lines are written
	}{
		{MetricsAll, []string{"DesiredTargets", "RegisteredTargets", "HealthyTargets", "PendingDeregistration",
			"Registered", "Deregistered", "Refused", "SourceFailures", "ApiCalls", "RunDurationMs"}, true},
		{MetricsEssential, []string{"DesiredTargets", "HealthyTargets", "SourceFailures"}, false},
		{MetricsOff, nil, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.level), func(t *testing.T) {
			res := run1()
			for i := range res.Bindings {
				res.Bindings[i].APICalls = 3 + i
			}
			var buf bytes.Buffer
			if err := WriteEMF(&buf, res, run1Calls(), nil, EMFOptions{Metrics: tt.level}); err != nil {
				t.Fatal(err)
			}
			var bindingLines, otherLines int
			for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
				var doc map[string]any
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.UseNumber()
				if err := dec.Decode(&doc); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, raw)
				}
				name, isBinding := doc["Binding"].(string)
				if !isBinding || doc["LoadBalancerName"] != nil {
					otherLines++
					continue
				}
				bindingLines++
				if doc["ApiCalls"] == nil || doc["HealthyTargets"] == nil && name == "opensearch-dashboards" {
					t.Errorf("%s: values missing at level %s: %s", name, tt.level, raw)
				}
				aws, declared := doc["_aws"].(map[string]any)
				if tt.binding == nil {
					if declared {
						t.Errorf("%s: level off declares metrics: %s", name, raw)
					}
					continue
				}
				if _, err := validateEMF(raw); err != nil {
					t.Fatalf("invalid EMF: %v\n%s", err, raw)
				}
				var got []string
				for _, m := range aws["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any) {
					got = append(got, m.(map[string]any)["Name"].(string))
				}
				want := tt.binding
				if name == "fargate-logstash" { // its lookup failed: no group figures
					want = slices.DeleteFunc(slices.Clone(want), func(n string) bool {
						return n == "DesiredTargets" || n == "RegisteredTargets" || n == "HealthyTargets" || n == "PendingDeregistration"
					})
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s declares %v, want %v", name, got, want)
				}
			}
			if bindingLines != len(res.Bindings) || (otherLines > 0) != tt.runLine {
				t.Errorf("%d binding lines, %d other lines; want %d and run lines %v", bindingLines, otherLines, len(res.Bindings), tt.runLine)
			}
		})
	}
	if _, err := ParseMetricsLevel("verbose"); err == nil {
		t.Error("ParseMetricsLevel accepted an unknown level")
	}
	if l, err := ParseMetricsLevel(""); err != nil || l != MetricsAll {
		t.Errorf("ParseMetricsLevel(\"\") = %q, %v", l, err)
	}
}
