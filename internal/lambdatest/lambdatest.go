// Package lambdatest serves the AWS Lambda Runtime API on loopback, so that
// a test can drive a real bootstrap through its own runtime loop: it hands
// out invocations on GET next with the documented headers, and collects
// responses, invocation errors and init errors. Like net/http/httptest it
// is ordinary code that tests use.
//
// The API it serves (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
//
//	GET  /2018-06-01/runtime/invocation/next
//	POST /2018-06-01/runtime/invocation/{id}/response
//	POST /2018-06-01/runtime/invocation/{id}/error
//	POST /2018-06-01/runtime/init/error
package lambdatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Header names of the Runtime API.
const (
	HeaderRequestID   = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadlineMs  = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID     = "Lambda-Runtime-Trace-Id"
	HeaderErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// MaxResponse is the largest synchronous response Lambda accepts (6 MB).
const MaxResponse = 6 << 20

// DefaultTimeout is the function timeout when an Invocation sets none:
// Lambda's default of 3 seconds.
const DefaultTimeout = 3 * time.Second

// DefaultFunctionARN is the invoked function ARN when an Invocation sets
// none.
const DefaultFunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:tgsync"

// Invocation is one event to hand to the function.
type Invocation struct {
	Payload []byte
	// Timeout is the function timeout: the deadline is the moment the
	// function takes the invocation plus Timeout, as in Lambda.
	Timeout     time.Duration
	FunctionARN string
	TraceID     string
}

// Result is how the function answered one invocation.
type Result struct {
	RequestID string
	// Response is the body of a successful response; nil when the
	// function reported an error.
	Response []byte
	// Error is set when the function reported an invocation error.
	Error *ErrorReport
	// Taken is when the function's GET next received the invocation, and
	// Deadline what the harness told it.
	Taken, Deadline time.Time
	// Answered is when the response or error arrived.
	Answered time.Time
}

// ErrorReport is an error the function posted, to .../error or to
// /runtime/init/error.
type ErrorReport struct {
	Message    string          `json:"errorMessage"`
	Type       string          `json:"errorType"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
	// TypeHeader is the Lambda-Runtime-Function-Error-Type header.
	TypeHeader string `json:"-"`
	// Body is the body as posted.
	Body []byte `json:"-"`
}

// pending is an invocation on its way through the function.
type pending struct {
	inv    Invocation
	id     string
	result chan Result
	taken  time.Time
	dl     time.Time
}

// Server is a Runtime API on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	srv *http.Server
	ln  net.Listener

	queue   chan *pending
	initErr chan ErrorReport
	closed  chan struct{}
	once    sync.Once

	mu        sync.Mutex
	seq       int
	inflight  map[string]*pending
	nexts     int
	firstNext time.Time
	nextSeen  chan struct{}
}

// Start listens on a free port of 127.0.0.1 and serves.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdatest: listen: %w", err)
	}
	s := &Server{
		ln:       ln,
		queue:    make(chan *pending, 64),
		initErr:  make(chan ErrorReport, 8),
		closed:   make(chan struct{}),
		inflight: map[string]*pending{},
		nextSeen: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.initError)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving; a function waiting in GET next sees its connection
// close, and pending Invoke calls return an error.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.srv.Close()
	})
	return err
}

// Invoke queues an invocation and waits until the function answers it or
// ctx ends.
func (s *Server) Invoke(ctx context.Context, inv Invocation) (Result, error) {
	if inv.Timeout <= 0 {
		inv.Timeout = DefaultTimeout
	}
	if inv.FunctionARN == "" {
		inv.FunctionARN = DefaultFunctionARN
	}
	s.mu.Lock()
	s.seq++
	p := &pending{inv: inv, id: fmt.Sprintf("req-%06d", s.seq), result: make(chan Result, 1)}
	if inv.TraceID == "" {
		p.inv.TraceID = fmt.Sprintf("Root=1-00000000-%024d;Sampled=0", s.seq)
	}
	s.inflight[p.id] = p
	s.mu.Unlock()
	select {
	case s.queue <- p:
	case <-ctx.Done():
		return Result{RequestID: p.id}, fmt.Errorf("lambdatest: queue invocation %s: %w", p.id, ctx.Err())
	}
	select {
	case r := <-p.result:
		return r, nil
	case <-s.closed:
		return Result{RequestID: p.id}, fmt.Errorf("lambdatest: server closed before invocation %s was answered", p.id)
	case <-ctx.Done():
		return Result{RequestID: p.id}, fmt.Errorf("lambdatest: invocation %s not answered: %w", p.id, ctx.Err())
	}
}

// InitError waits for the function to post an init error.
func (s *Server) InitError(ctx context.Context) (ErrorReport, error) {
	select {
	case r := <-s.initErr:
		return r, nil
	case <-ctx.Done():
		return ErrorReport{}, fmt.Errorf("lambdatest: no init error: %w", ctx.Err())
	}
}

// WaitNext waits for the function's first GET next, which means its init
// is done, and returns when it arrived.
func (s *Server) WaitNext(ctx context.Context) (time.Time, error) {
	select {
	case <-s.nextSeen:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.firstNext, nil
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("lambdatest: no GET next: %w", ctx.Err())
	}
}

// Nexts counts the GET next requests so far.
func (s *Server) Nexts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nexts
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	s.nexts++
	if s.nexts == 1 {
		s.firstNext = now
		close(s.nextSeen)
	}
	s.mu.Unlock()
	select {
	case p := <-s.queue:
		s.mu.Lock()
		p.taken = time.Now()
		p.dl = p.taken.Add(p.inv.Timeout)
		s.mu.Unlock()
		h := w.Header()
		h.Set(HeaderRequestID, p.id)
		h.Set(HeaderDeadlineMs, strconv.FormatInt(p.dl.UnixMilli(), 10))
		h.Set(HeaderFunctionARN, p.inv.FunctionARN)
		h.Set(HeaderTraceID, p.inv.TraceID)
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(p.inv.Payload)
	case <-s.closed:
		http.Error(w, "closed", http.StatusServiceUnavailable)
	case <-r.Context().Done():
	}
}

// take removes an in-flight invocation, answering 400 as Lambda does for
// an unknown request ID.
func (s *Server) take(w http.ResponseWriter, id string) *pending {
	s.mu.Lock()
	p, ok := s.inflight[id]
	ok = ok && !p.taken.IsZero()
	if ok {
		delete(s.inflight, id)
	}
	s.mu.Unlock()
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" in flight")
		return nil
	}
	return p
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponse+1))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	if len(body) > MaxResponse {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response is larger than 6 MB")
		return
	}
	p := s.take(w, r.PathValue("id"))
	if p == nil {
		return
	}
	w.WriteHeader(http.StatusAccepted)
	p.result <- Result{RequestID: p.id, Response: body, Taken: p.taken, Deadline: p.dl, Answered: time.Now()}
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	rep, err := readError(r)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	p := s.take(w, r.PathValue("id"))
	if p == nil {
		return
	}
	w.WriteHeader(http.StatusAccepted)
	p.result <- Result{RequestID: p.id, Error: &rep, Taken: p.taken, Deadline: p.dl, Answered: time.Now()}
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	rep, err := readError(r)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
	select {
	case s.initErr <- rep:
	default: // nobody is listening for more than a few
	}
}

// readError reads a posted error. Its body should be the documented JSON;
// one that is not is kept as it came, with an empty message.
func readError(r *http.Request) (ErrorReport, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponse+1))
	if err != nil {
		return ErrorReport{}, err
	}
	var rep ErrorReport
	if err := json.Unmarshal(body, &rep); err != nil {
		rep = ErrorReport{}
	}
	rep.Body = body
	rep.TypeHeader = r.Header.Get(HeaderErrorType)
	if rep.TypeHeader == "" {
		rep.TypeHeader = r.Trailer.Get(HeaderErrorType)
	}
	return rep, nil
}

func writeAPIError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

// ErrNotJSON is returned by DecodeResponse for a body that is not JSON.
var ErrNotJSON = errors.New("lambdatest: response is not JSON")

// DecodeResponse unmarshals a successful response into v.
func (r Result) DecodeResponse(v any) error {
	if r.Error != nil {
		return fmt.Errorf("lambdatest: invocation %s failed: %s: %s", r.RequestID, r.Error.Type, r.Error.Message)
	}
	if err := json.Unmarshal(r.Response, v); err != nil {
		return fmt.Errorf("%w: %v: %.200s", ErrNotJSON, err, r.Response)
	}
	return nil
}
