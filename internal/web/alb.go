package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// MaxALBBody is the largest body a Lambda may return to an Application
// Load Balancer (1 MB); a larger one makes the load balancer answer 502.
const MaxALBBody = 1 << 20

// ALB answers one request an Application Load Balancer passed to the
// Lambda function: GET or HEAD on / (the page) and /api/status (JSON).
// Other paths get 404 and other methods 405, without gathering the status.
// When the target group has multi-value headers turned on (the request
// carries MultiValueHeaders), the response uses them too, as the load
// balancer then requires.
func (h *Handler) ALB(ctx context.Context, req events.ALBTargetGroupRequest) events.ALBTargetGroupResponse {
	hd := http.Header{}
	setCommonHeaders(hd)
	path := strings.TrimPrefix(req.Path, h.opts.ALBPathPrefix)
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	method := strings.ToUpper(req.HTTPMethod)
	respond := func(code int, contentType string, body []byte) events.ALBTargetGroupResponse {
		hd.Set("Content-Type", contentType)
		if method == http.MethodHead {
			body = nil
		}
		return albResponse(req, code, hd, body)
	}
	plain := func(code int, msg string) events.ALBTargetGroupResponse {
		return respond(code, "text/plain; charset=utf-8", []byte(msg+"\n"))
	}
	if path != "/" && path != "/api/status" {
		return plain(http.StatusNotFound, "404 page not found: this function serves / and /api/status")
	}
	if method != http.MethodGet && method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		return plain(http.StatusMethodNotAllowed, "method not allowed: use GET or HEAD")
	}
	body, contentType, code, err := h.render(ctx, path == "/api/status")
	switch {
	case err != nil:
		return plain(code, err.Error())
	case len(body) > MaxALBBody-4096: // leave room for the headers
		return plain(http.StatusInternalServerError, fmt.Sprintf("status is %d bytes, more than a Lambda may return to a load balancer; serve it from the daemon instead", len(body)))
	}
	return respond(http.StatusOK, contentType, body)
}

// ParseALBRequest reports whether a Lambda event is a request from an
// Application Load Balancer (it has requestContext.elb and an HTTP method)
// and returns it, so that one function can take scheduled events,
// EventBridge events and status page requests alike.
func ParseALBRequest(raw []byte) (events.ALBTargetGroupRequest, bool) {
	var probe struct {
		RequestContext struct {
			ELB *json.RawMessage `json:"elb"`
		} `json:"requestContext"`
		HTTPMethod string `json:"httpMethod"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || probe.RequestContext.ELB == nil || probe.HTTPMethod == "" {
		return events.ALBTargetGroupRequest{}, false
	}
	var req events.ALBTargetGroupRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return events.ALBTargetGroupRequest{}, false
	}
	return req, true
}

func albResponse(req events.ALBTargetGroupRequest, code int, hd http.Header, body []byte) events.ALBTargetGroupResponse {
	resp := events.ALBTargetGroupResponse{
		StatusCode:        code,
		StatusDescription: fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Body:              string(body),
		IsBase64Encoded:   false,
	}
	if len(req.MultiValueHeaders) > 0 {
		resp.MultiValueHeaders = map[string][]string{}
		for k, v := range hd {
			resp.MultiValueHeaders[k] = append([]string(nil), v...)
		}
		return resp
	}
	resp.Headers = map[string]string{}
	for k, v := range hd {
		resp.Headers[k] = strings.Join(v, ", ")
	}
	return resp
}
