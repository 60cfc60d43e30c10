package ecsevent

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const patternFile = "../deploy/eventbridge/spot-interruption-pattern.json"

func loadPattern(t testing.TB) map[string]any {
	t.Helper()
	data, err := os.ReadFile(patternFile)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("%s: %v", patternFile, err)
	}
	return p
}

// matches is EventBridge content filtering for the subset of the syntax
// the pattern uses: nested objects, lists of exact strings, and
// {"anything-but": string or list}. A field the pattern names must exist
// in the event, and a list in the event matches when any element does.
// Any other syntax fails the test, so that the pattern cannot outgrow the
// check.
func matches(t testing.TB, pattern, event map[string]any) bool {
	t.Helper()
	for key, want := range pattern {
		got, present := event[key]
		switch w := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok || !matches(t, w, sub) {
				return false
			}
		case []any:
			if !present || !matchesAny(t, w, got) {
				return false
			}
		default:
			t.Fatalf("pattern key %q: %T is not EventBridge syntax", key, want)
		}
	}
	return true
}

func matchesAny(t testing.TB, rules []any, value any) bool {
	if list, ok := value.([]any); ok {
		return slices.ContainsFunc(list, func(v any) bool { return matchesAny(t, rules, v) })
	}
	for _, r := range rules {
		switch r := r.(type) {
		case string:
			if value == r {
				return true
			}
		case map[string]any:
			but, ok := r["anything-but"]
			if len(r) != 1 || !ok {
				t.Fatalf("pattern operator %v is not supported by this matcher", r)
			}
			switch b := but.(type) {
			case string:
				if value != b {
					return true
				}
			case []any:
				if !slices.Contains(b, value) {
					return true
				}
			default:
				t.Fatalf("anything-but %T is not supported by this matcher", but)
			}
		default:
			t.Fatalf("pattern value %T is not supported by this matcher", r)
		}
	}
	return false
}

// patternCase is an event variant, named by a unique task ARN.
type patternCase struct {
	name string
	data []byte
}

// patternCases are the samples and variants across the stop codes and
// statuses ECS sends while a task stops.
func patternCases(t testing.TB, run string) []patternCase {
	t.Helper()
	var out []patternCase
	add := func(name, file string, f func(ev, d map[string]any)) {
		arn := fmt.Sprintf("arn:aws:ecs:ap-northeast-1:111122223333:task/ingest/%s-%s", run, name)
		out = append(out, patternCase{name: arn, data: mutate(t, file, func(ev, d map[string]any) {
			d["taskArn"] = arn
			if f != nil {
				f(ev, d)
			}
		})})
	}
	for _, file := range []string{interruption, "fargate-spot-termination-notice.json", "task-running.json", "task-stopped-by-user.json"} {
		add(file, file, nil)
	}
	for _, code := range []string{"SpotInterruption", "TerminationNotice", "UserInitiated", "EssentialContainerExited", ""} {
		for _, last := range []string{"PENDING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"} {
			for _, desired := range []string{"RUNNING", "STOPPED"} {
				add(fmt.Sprintf("%s-%s-%s", code, last, desired), interruption, func(_, d map[string]any) {
					d["stopCode"], d["lastStatus"], d["desiredStatus"] = code, last, desired
					if code == "" {
						delete(d, "stopCode")
					}
				})
			}
		}
	}
	return out
}

// TestPatternMatchesWhatDecideActsOn checks that the rule EventBridge
// filters with passes exactly the events Decide acts on with the default
// filter, so that the function is neither invoked in vain nor starved.
func TestPatternMatchesWhatDecideActsOn(t *testing.T) {
	p := loadPattern(t)
	detail, _ := p["detail"].(map[string]any)
	if codes, _ := detail["stopCode"].([]any); !slices.Equal(codes, []any{StopCodeSpotInterruption, StopCodeTerminationNotice}) {
		t.Fatalf("pattern stop codes %v, want DefaultStopCodes %v", codes, DefaultStopCodes())
	}
	acted := 0
	for _, c := range patternCases(t, "local") {
		var ev map[string]any
		if err := json.Unmarshal(c.data, &ev); err != nil {
			t.Fatal(err)
		}
		parsed, err := Parse(c.data)
		if err != nil {
			t.Fatal(err)
		}
		_, act, reason := Decide(parsed, Filter{})
		if got := matches(t, p, ev); got != act {
			t.Errorf("%s: pattern matches %v, Decide acts %v (%s)", c.name, got, act, reason)
		}
		if act {
			acted++
		}
	}
	if acted < 8 {
		t.Fatalf("only %d variants act; the cases do not cover the pattern", acted)
	}
	// The matcher itself: a foreign event and a missing field do not match.
	for _, ev := range []map[string]any{
		{"source": "aws.events", "detail-type": "ECS Task State Change", "detail": map[string]any{"stopCode": "SpotInterruption", "desiredStatus": "STOPPED", "lastStatus": "RUNNING"}},
		{"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": map[string]any{"stopCode": "SpotInterruption", "desiredStatus": "STOPPED"}},
		{"source": "aws.ecs", "detail-type": "ECS Task State Change"},
	} {
		if matches(t, p, ev) {
			t.Errorf("pattern matches %v", ev)
		}
	}
}

// TestPatternOnMoto puts the pattern on a rule in moto's EventBridge, sends
// every case through PutEvents to an SQS queue and checks that exactly the
// cases Decide acts on arrive, and that what arrives parses and acts.
func TestPatternOnMoto(t *testing.T) {
	m := testenv.StartMoto(t)
	raw, err := os.ReadFile(patternFile)
	if err != nil {
		t.Fatal(err)
	}
	run := testenv.UniqueName("spot")
	rule := testenv.NewEventRule(t, m, run, string(raw))
	want := map[string]bool{}
	for _, c := range patternCases(t, run) {
		var ev map[string]any
		if err := json.Unmarshal(c.data, &ev); err != nil {
			t.Fatal(err)
		}
		rule.Put(c.name, ev)
		parsed, err := Parse(c.data)
		if err != nil {
			t.Fatal(err)
		}
		if _, act, _ := Decide(parsed, Filter{}); act {
			want[c.name] = true
		}
	}

	got := map[string]bool{}
	for _, body := range rule.Delivered() {
		ev, err := Parse([]byte(body))
		if err != nil {
			t.Fatalf("a delivered event does not parse: %v\n%s", err, body)
		}
		task, act, reason := Decide(ev, Filter{})
		if !act {
			t.Errorf("delivered but ignored: %s", reason)
		}
		got[task.ARN] = true
	}
	for name := range want {
		if !got[name] {
			t.Errorf("EventBridge did not deliver %s, which Decide acts on", name)
		}
	}
	for name := range got {
		if !want[name] {
			t.Errorf("EventBridge delivered %s, which Decide ignores", name)
		}
	}
	if len(want) == 0 {
		t.Fatal("no case acts")
	}
}
