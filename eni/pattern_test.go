package eni_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/testenv"
)

const patternFile = "../deploy/eventbridge/network-interface-pattern.json"

// TestPatternOnMoto puts the shipped event pattern on a rule in moto's
// EventBridge, sends every sample through PutEvents to an SQS queue, and
// checks that exactly the events ParseEvent acts on arrive: the creation
// and deletion of an interface, not a failed call nor another call.
func TestPatternOnMoto(t *testing.T) {
	m := testenv.StartMoto(t)
	raw, err := os.ReadFile(patternFile)
	if err != nil {
		t.Fatal(err)
	}
	run := testenv.UniqueName("eni")
	rule := testenv.NewEventRule(t, m, run, string(raw))
	want := map[string]bool{}
	for _, name := range []string{"create-elb.json", "create-opensearch.json", "delete.json", "create-dry-run.json", "attach.json"} {
		var ev map[string]any
		if err := json.Unmarshal(testenv.Testdata(t, name), &ev); err != nil {
			t.Fatal(err)
		}
		d := ev["detail"].(map[string]any)
		d["eventID"] = run + "-" + name // this run's events, in a shared server
		rule.Put(name, ev)
		parsed, err := eni.ParseEvent(testenv.Testdata(t, name))
		if err != nil {
			t.Fatal(err)
		}
		want[d["eventID"].(string)] = parsed.Call != ""
	}
	got := map[string]bool{}
	for _, body := range rule.Delivered() {
		ev, err := eni.ParseEvent([]byte(body))
		if err != nil || ev.Call == "" {
			t.Errorf("delivered, but not an event to act on: %v %+v\n%s", err, ev, body)
		}
		var d struct {
			Detail struct {
				EventID string `json:"eventID"`
			} `json:"detail"`
		}
		_ = json.Unmarshal([]byte(body), &d)
		got[d.Detail.EventID] = true
	}
	for id, act := range want {
		if got[id] != act {
			t.Errorf("%s: delivered %v, acted on %v", id, got[id], act)
		}
	}
}
