package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// EventRule is a rule of moto's EventBridge whose matches go to an SQS
// queue of its own: what a shipped event pattern lets through, as AWS
// would deliver it.
type EventRule struct {
	t        testing.TB
	m        *Moto
	queueURL string
}

// NewEventRule puts pattern on a rule named name in moto's EventBridge,
// with a new queue of that name as its target; the rule goes when the
// test ends. name must be unique on the shared server (UniqueName).
func NewEventRule(t testing.TB, m *Moto, name, pattern string) *EventRule {
	t.Helper()
	r := &EventRule{t: t, m: m}
	queue := r.call("sqs", "AmazonSQS.CreateQueue", "1.0", map[string]any{"QueueName": name})
	r.queueURL, _ = queue["QueueUrl"].(string)
	attrs := r.call("sqs", "AmazonSQS.GetQueueAttributes", "1.0", map[string]any{"QueueUrl": r.queueURL, "AttributeNames": []string{"QueueArn"}})
	queueARN, _ := attrs["Attributes"].(map[string]any)["QueueArn"].(string)
	if r.queueURL == "" || queueARN == "" {
		t.Fatalf("queue %v %v", queue, attrs)
	}
	r.call("events", "AWSEvents.PutRule", "1.1", map[string]any{"Name": name, "EventPattern": pattern, "State": "ENABLED"})
	t.Cleanup(func() {
		r.call("events", "AWSEvents.RemoveTargets", "1.1", map[string]any{"Rule": name, "Ids": []string{"queue"}})
		r.call("events", "AWSEvents.DeleteRule", "1.1", map[string]any{"Name": name})
	})
	r.call("events", "AWSEvents.PutTargets", "1.1", map[string]any{"Rule": name, "Targets": []any{map[string]any{"Id": "queue", "Arn": queueARN}}})
	return r
}

// Put sends ev, an event as EventBridge delivers it (source, detail-type,
// detail and resources are what PutEvents takes of it), through
// PutEvents; name says which event in a failure.
func (r *EventRule) Put(name string, ev map[string]any) {
	r.t.Helper()
	detail, err := json.Marshal(ev["detail"])
	if err != nil {
		r.t.Fatal(err)
	}
	entry := map[string]any{"Source": ev["source"], "DetailType": ev["detail-type"], "Detail": string(detail)}
	if res, ok := ev["resources"]; ok {
		entry["Resources"] = res
	}
	out := r.call("events", "AWSEvents.PutEvents", "1.1", map[string]any{"Entries": []any{entry}})
	if n, _ := out["FailedEntryCount"].(float64); n != 0 {
		r.t.Fatalf("PutEvents %s: %v", name, out)
	}
}

// Delivered returns the bodies of the events the queue holds, and
// deletes them from it.
func (r *EventRule) Delivered() []string {
	r.t.Helper()
	var bodies []string
	for {
		out := r.call("sqs", "AmazonSQS.ReceiveMessage", "1.0", map[string]any{"QueueUrl": r.queueURL, "MaxNumberOfMessages": 10})
		msgs, _ := out["Messages"].([]any)
		if len(msgs) == 0 {
			return bodies
		}
		for _, msg := range msgs {
			m, _ := msg.(map[string]any)
			body, _ := m["Body"].(string)
			bodies = append(bodies, body)
			r.call("sqs", "AmazonSQS.DeleteMessage", "1.0", map[string]any{"QueueUrl": r.queueURL, "ReceiptHandle": m["ReceiptHandle"]})
		}
	}
}

// call sends one request of the JSON protocol (version 1.0 or 1.1) that
// SQS and EventBridge speak, and returns the decoded answer. moto loads
// a service on its first call, which takes seconds on a busy machine.
func (r *EventRule) call(service, target, version string, in any) map[string]any {
	r.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		r.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, r.m.URL+"/", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+version)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261121/"+Region+"/"+service+"/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		r.t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("%s: HTTP %d: %s", target, resp.StatusCode, data)
	}
	out := map[string]any{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			r.t.Fatalf("%s: %v: %s", target, err, data)
		}
	}
	return out
}
