package eni_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

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
	call := func(service, target, version string, in any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(in)
		req, _ := http.NewRequest(http.MethodPost, m.URL+"/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-"+version)
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261121/"+testenv.Region+"/"+service+"/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d: %s", target, resp.StatusCode, data)
		}
		out := map[string]any{}
		if len(data) > 0 {
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatalf("%s: %v: %s", target, err, data)
			}
		}
		return out
	}
	queue := call("sqs", "AmazonSQS.CreateQueue", "1.0", map[string]any{"QueueName": run})
	queueURL, _ := queue["QueueUrl"].(string)
	attrs := call("sqs", "AmazonSQS.GetQueueAttributes", "1.0", map[string]any{"QueueUrl": queueURL, "AttributeNames": []string{"QueueArn"}})
	queueARN, _ := attrs["Attributes"].(map[string]any)["QueueArn"].(string)
	call("events", "AWSEvents.PutRule", "1.1", map[string]any{"Name": run, "EventPattern": string(raw), "State": "ENABLED"})
	t.Cleanup(func() {
		call("events", "AWSEvents.RemoveTargets", "1.1", map[string]any{"Rule": run, "Ids": []string{"queue"}})
		call("events", "AWSEvents.DeleteRule", "1.1", map[string]any{"Name": run})
	})
	call("events", "AWSEvents.PutTargets", "1.1", map[string]any{"Rule": run, "Targets": []any{map[string]any{"Id": "queue", "Arn": queueARN}}})

	want := map[string]bool{}
	for _, name := range []string{"create-elb.json", "create-opensearch.json", "delete.json", "create-dry-run.json", "attach.json"} {
		var ev map[string]any
		if err := json.Unmarshal(sample(t, name), &ev); err != nil {
			t.Fatal(err)
		}
		d := ev["detail"].(map[string]any)
		d["eventID"] = run + "-" + name // this run's events, in a shared server
		detail, _ := json.Marshal(d)
		out := call("events", "AWSEvents.PutEvents", "1.1", map[string]any{"Entries": []any{map[string]any{
			"Source": ev["source"], "DetailType": ev["detail-type"], "Detail": string(detail)}}})
		if n, _ := out["FailedEntryCount"].(float64); n != 0 {
			t.Fatalf("PutEvents %s: %v", name, out)
		}
		parsed, err := eni.ParseEvent(sample(t, name))
		if err != nil {
			t.Fatal(err)
		}
		want[d["eventID"].(string)] = parsed.Call != ""
	}
	got := map[string]bool{}
	for {
		out := call("sqs", "AmazonSQS.ReceiveMessage", "1.0", map[string]any{"QueueUrl": queueURL, "MaxNumberOfMessages": 10})
		msgs, _ := out["Messages"].([]any)
		if len(msgs) == 0 {
			break
		}
		for _, msg := range msgs {
			body, _ := msg.(map[string]any)["Body"].(string)
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
			call("sqs", "AmazonSQS.DeleteMessage", "1.0", map[string]any{"QueueUrl": queueURL, "ReceiptHandle": msg.(map[string]any)["ReceiptHandle"]})
		}
	}
	for id, act := range want {
		if got[id] != act {
			t.Errorf("%s: delivered %v, acted on %v", id, got[id], act)
		}
	}
}
