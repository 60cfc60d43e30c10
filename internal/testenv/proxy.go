package testenv

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
)

// Request is what a Proxy saw of one request: the AWS action and its
// parameters (of the query protocol that ELB and STS speak; empty for
// S3's REST calls), the service and the access key ID it was signed with.
type Request struct {
	Service     string
	Action      string
	Params      url.Values
	AccessKeyID string
}

// Proxy is an HTTP server on loopback in front of moto. It records every
// request and may answer some itself instead of forwarding them, for what
// moto cannot show: throttling, and which credentials signed a call.
type Proxy struct {
	URL string

	mu        sync.Mutex
	requests  []Request
	intercept func(Request) (status int, body string, ok bool)
}

// StartProxy starts a proxy to moto that lives as long as the test.
func StartProxy(t testing.TB, m *Moto) *Proxy {
	t.Helper()
	target, err := url.Parse(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{URL: "http://" + l.Addr().String()}
	forward := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		req := Request{Params: params(r, body)}
		req.Action = req.Params.Get("Action")
		if m := credential.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			req.AccessKeyID, req.Service = m[1], m[2]
		}
		p.mu.Lock()
		p.requests = append(p.requests, req)
		intercept := p.intercept
		p.mu.Unlock()
		if intercept != nil {
			if status, answer, ok := intercept(req); ok {
				w.Header().Set("Content-Type", "text/xml")
				w.WriteHeader(status)
				_, _ = io.WriteString(w, answer)
				return
			}
		}
		forward.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// credential reads the access key ID and service of a SigV4 Authorization
// header: Credential=AKID/date/region/service/aws4_request.
var credential = regexp.MustCompile(`Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request`)

// params are a query-protocol request's parameters, from its form body
// or else its URL.
func params(r *http.Request, body []byte) url.Values {
	if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
		return v
	}
	return r.URL.Query()
}

// Intercept makes the proxy answer the requests f accepts with its status
// and body instead of moto; nil forwards everything again.
func (p *Proxy) Intercept(f func(Request) (status int, body string, ok bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intercept = f
}

// Requests returns what the proxy saw so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// ThrottlingBody is the body the ELB API answers a throttled call with,
// with HTTP 400.
const ThrottlingBody = `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">` +
	`<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>` +
	`<RequestId>11111111-2222-3333-4444-555555555555</RequestId></ErrorResponse>`
