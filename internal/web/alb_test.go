package web

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
)

// albRequest reads a request as the load balancer sends it to Lambda, in
// its documented JSON shape, so that the test goes through the same
// decoding as the Lambda runtime.
func albRequest(t *testing.T, method, path string, multiValue bool) events.ALBTargetGroupRequest {
	t.Helper()
	headers := `"headers": {"accept": "text/html", "host": "tgsync.internal.example", "user-agent": "curl/8.5.0", "x-forwarded-for": "10.0.0.9"}`
	if multiValue {
		headers = `"multiValueHeaders": {"accept": ["text/html"], "host": ["tgsync.internal.example"], "x-forwarded-for": ["10.0.0.9"]}`
	}
	raw := `{
	  "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/tgsync-status/6d0ecf831eec9f09"}},
	  "httpMethod": "` + method + `", "path": "` + path + `", "queryStringParameters": {}, ` + headers + `,
	  "body": "", "isBase64Encoded": false}`
	var req events.ALBTargetGroupRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestALB(t *testing.T) {
	st := statustest.Status()
	calls := 0
	h := newHandler(t, Options{ALBPathPrefix: "/tgsync", Status: func(context.Context) (status.Status, error) { calls++; return st, nil }})
	failing := newHandler(t, Options{Status: func(context.Context) (status.Status, error) {
		return status.Status{}, errors.New("describe target health: Throttling: Rate exceeded")
	}})
	tests := []struct {
		name       string
		h          *Handler
		method     string
		path       string
		multi      bool
		wantCode   int
		wantType   string
		wantBody   string // substring; "" with wantEmpty means no body
		wantEmpty  bool
		wantStatus bool // the status was gathered
	}{
		{"page", h, "GET", "/", false, 200, ContentTypeHTML, "10.0.1.11:443", false, true},
		{"page under the prefix", h, "GET", "/tgsync/", false, 200, ContentTypeHTML, "opensearch-dashboards", false, true},
		{"json", h, "GET", "/api/status", false, 200, ContentTypeJSON, `"name": "fargate-logstash"`, false, true},
		{"json under the prefix", h, "GET", "/tgsync/api/status", false, 200, ContentTypeJSON, `"targetGroupArn"`, false, true},
		{"head of the page", h, "HEAD", "/", false, 200, ContentTypeHTML, "", true, true},
		{"multi-value headers", h, "GET", "/api/status", true, 200, ContentTypeJSON, `"bindings"`, false, true},
		{"post", h, "POST", "/", false, 405, "text/plain; charset=utf-8", "use GET or HEAD", false, false},
		{"unknown path", h, "GET", "/metrics", false, 404, "text/plain; charset=utf-8", "serves / and /api/status", false, false},
		{"unknown path, head", h, "HEAD", "/favicon.ico", false, 404, "text/plain; charset=utf-8", "", true, false},
		{"status unavailable", failing, "GET", "/api/status", false, 503, "text/plain; charset=utf-8", "Rate exceeded", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls
			resp := tt.h.ALB(context.Background(), albRequest(t, tt.method, tt.path, tt.multi))
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d: %.300s", resp.StatusCode, tt.wantCode, resp.Body)
			}
			wantDesc := map[int]string{200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}[tt.wantCode]
			if resp.StatusDescription != wantDesc {
				t.Errorf("statusDescription %q, want %q", resp.StatusDescription, wantDesc)
			}
			if resp.IsBase64Encoded {
				t.Error("isBase64Encoded must be false for a text body")
			}
			header := func(k string) string {
				if tt.multi {
					if resp.Headers != nil {
						t.Errorf("multi-value request answered with single-value headers %v", resp.Headers)
					}
					return strings.Join(resp.MultiValueHeaders[k], ", ")
				}
				if resp.MultiValueHeaders != nil {
					t.Errorf("single-value request answered with multi-value headers %v", resp.MultiValueHeaders)
				}
				return resp.Headers[k]
			}
			if got := header("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if header("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", header("Cache-Control"))
			}
			if tt.wantCode == 405 && header("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", header("Allow"))
			}
			if tt.wantEmpty && resp.Body != "" {
				t.Errorf("HEAD answered a body of %d bytes", len(resp.Body))
			}
			if !strings.Contains(resp.Body, tt.wantBody) {
				t.Errorf("body lacks %q: %.300s", tt.wantBody, resp.Body)
			}
			if gathered := calls > before; gathered != tt.wantStatus && tt.h == h {
				t.Errorf("status gathered: %v, want %v", gathered, tt.wantStatus)
			}
			// The response must survive the runtime's JSON encoding with
			// the field names the load balancer reads.
			raw, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatal(err)
			}
			keys := []string{"statusCode", "statusDescription", "isBase64Encoded"}
			if !tt.wantEmpty {
				keys = append(keys, "body") // an empty body may be left out
			}
			for _, k := range keys {
				if _, ok := fields[k]; !ok {
					t.Errorf("encoded response lacks %q: %s", k, raw)
				}
			}
		})
	}
}

func TestALBJSONIsTheStatus(t *testing.T) {
	st := statustest.Status()
	h := newHandler(t, Options{Status: fixedStatus(st)})
	resp := h.ALB(context.Background(), albRequest(t, "GET", "/api/status", false))
	var got status.Status
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Error("the ALB JSON does not decode to the status")
	}
}

func TestALBTooLarge(t *testing.T) {
	st := statustest.Status()
	// A status larger than a Lambda may return: many bindings with long
	// reasons. The load balancer would answer 502; tgsync says why.
	big := st.Bindings[0]
	big.Events = nil
	for i := 0; i < 3000; i++ {
		big.Events = append(big.Events, status.EventStatus{Kind: status.KindRefused, Reason: strings.Repeat("x", 400)})
	}
	st.Bindings = []status.BindingStatus{big}
	h := newHandler(t, Options{Status: fixedStatus(st)})
	resp := h.ALB(context.Background(), albRequest(t, "GET", "/api/status", false))
	if resp.StatusCode != 500 || !strings.Contains(resp.Body, "more than a Lambda may return") || len(resp.Body) > 1000 {
		t.Errorf("got %d with %d bytes: %.200s", resp.StatusCode, len(resp.Body), resp.Body)
	}
}

func TestParseALBRequest(t *testing.T) {
	tests := []struct {
		name, raw string
		want      bool
	}{
		{"ALB request", `{"requestContext":{"elb":{"targetGroupArn":"arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/s/1"}},"httpMethod":"GET","path":"/","headers":{},"body":"","isBase64Encoded":false}`, true},
		{"scheduled event", `{"version":"0","id":"53dc4d37","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-21T03:09:00Z","region":"us-east-1","resources":[],"detail":{}}`, false},
		{"API Gateway request", `{"resource":"/","path":"/","httpMethod":"GET","requestContext":{"apiId":"abc","stage":"prod"}}`, false},
		{"ECS task state change", `{"detail-type":"ECS Task State Change","source":"aws.ecs","detail":{"lastStatus":"RUNNING","desiredStatus":"STOPPED","stopCode":"SpotInterruption"}}`, false},
		{"elb without a method", `{"requestContext":{"elb":{}}}`, false},
		{"not JSON", `tgsync`, false},
		{"JSON array", `[1,2]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, ok := ParseALBRequest([]byte(tt.raw))
			if ok != tt.want {
				t.Fatalf("ParseALBRequest = %v, want %v", ok, tt.want)
			}
			if ok && (req.HTTPMethod != "GET" || req.Path != "/" || req.RequestContext.ELB.TargetGroupArn == "") {
				t.Errorf("request = %+v", req)
			}
		})
	}
}
