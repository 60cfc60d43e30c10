package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestLambdaServesStatusPage drives the packaged bootstrap as an ALB target
// (PrivateLink -> NLB -> ALB -> Lambda): after a scheduled run, an ALB
// request for / gets the status page and /api/status its JSON, both built
// from the state in S3 and one describe of the group.
func TestLambdaServesStatusPage(t *testing.T) {
	w := newLambdaWorld(t)
	tg := w.targetGroup(t, 443)
	ips := []string{"10.31.0.7", "10.31.0.8"}
	yaml := fmt.Sprintf("state: {s3: s3://%s/status/}\nbindings:\n  - {name: dashboards, source: {dns: %s}, targetGroupArn: %s, ports: [443]}\n",
		w.Bucket, w.name("dash", ips...), tg)
	p := startLambda(t, append(lambdaEnv(t, w.Moto), "TGSYNC_CONFIG_YAML="+yaml, "TGSYNC_DNS_SERVERS="+w.DNS.Addr(),
		"TGSYNC_STATUS_PATH_PREFIX=/tgsync"))
	p.ready(t)
	if res := p.invoke(t, scheduledEvent, 30*time.Second); res.Error != nil {
		t.Fatalf("scheduled run: %+v", res.Error)
	}

	albRequest := func(path string) events.ALBTargetGroupResponse {
		t.Helper()
		req, _ := json.Marshal(events.ALBTargetGroupRequest{
			HTTPMethod: "GET", Path: path, Headers: map[string]string{"host": "status.example.internal"},
			RequestContext: events.ALBTargetGroupRequestContext{ELB: events.ELBContext{TargetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tgsync-status/0123456789abcdef"}},
		})
		res := p.invoke(t, string(req), 30*time.Second)
		if res.Error != nil {
			t.Fatalf("GET %s: invocation error %+v", path, res.Error)
		}
		var out events.ALBTargetGroupResponse
		if err := json.Unmarshal(res.Response, &out); err != nil {
			t.Fatalf("GET %s: response is not an ALB response: %v\n%s", path, err, res.Response)
		}
		return out
	}

	page := albRequest("/tgsync/")
	if page.StatusCode != 200 || !strings.HasPrefix(page.Headers["Content-Type"]+page.Headers["content-type"], "text/html") || page.IsBase64Encoded {
		t.Fatalf("page: status %d headers %v base64 %v", page.StatusCode, page.Headers, page.IsBase64Encoded)
	}
	for _, want := range []string{"dashboards", "10.31.0.7:443", "10.31.0.8:443", "healthy", "in the answer for"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}

	api := albRequest("/tgsync/api/status")
	var st struct {
		Bindings []struct {
			Name    string `json:"name"`
			Targets []struct {
				Target string `json:"target"`
				State  string `json:"state"`
			} `json:"targets"`
		} `json:"bindings"`
	}
	if api.StatusCode != 200 || json.Unmarshal([]byte(api.Body), &st) != nil || len(st.Bindings) != 1 || len(st.Bindings[0].Targets) != 2 {
		t.Fatalf("api/status: %d %s", api.StatusCode, api.Body)
	}
	for _, tgt := range st.Bindings[0].Targets {
		if tgt.State != "healthy" {
			t.Errorf("target %s state %q, want healthy (as moto reports it)", tgt.Target, tgt.State)
		}
	}
	if missing := albRequest("/tgsync/nope"); missing.StatusCode != 404 {
		t.Errorf("unknown path: status %d, want 404", missing.StatusCode)
	}
}
