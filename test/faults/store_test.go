package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
	"github.com/tgsync/tgsync/store/s3store"
)

// s3Proxy sits between the S3 client and moto on loopback and answers
// GetObject or PutObject with an S3 error while told to, byte for byte in
// the REST-XML shape S3 uses; everything else goes through to moto. Moto
// never fails a request with 5xx.
type s3Proxy struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	fail  map[string]s3Error // by operation: GetObject, PutObject
	hits  int
}

type s3Error struct {
	status        int
	code, message string
}

var (
	slowDown      = s3Error{http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."}
	internalError = s3Error{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
)

func (p *s3Proxy) set(op string, e *s3Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e == nil {
		delete(p.fail, op)
		return
	}
	p.fail[op] = *e
}

// operation names an object request: path-style /bucket/key, which
// aws-sdk-go-v2 marks with x-id=GetObject or x-id=PutObject.
func operation(r *http.Request) string {
	if strings.Count(strings.Trim(r.URL.Path, "/"), "/") < 1 {
		return ""
	}
	switch id := r.URL.Query().Get("x-id"); {
	case id != "":
		return id
	case r.Method == http.MethodGet:
		return "GetObject"
	case r.Method == http.MethodPut:
		return "PutObject"
	}
	return ""
}

func (p *s3Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	e, ok := p.fail[operation(r)]
	if ok {
		p.hits++
	}
	p.mu.Unlock()
	if !ok {
		p.proxy.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-request-id", "FAULTS0REQUEST0ID")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>FAULTS0REQUEST0ID</RequestId><HostId>ZmF1bHRz</HostId></Error>`, e.code, e.message)
}

// s3World is a state object on moto, written through the proxy by a
// real S3 client with the SDK's standard retryer (its backoff shortened so
// that a test waits milliseconds, not seconds), and read directly for
// assertions.
type s3World struct {
	proxy  *s3Proxy
	store  *s3store.Store
	direct *s3store.Store
}

func newS3World(t *testing.T) *s3World {
	t.Helper()
	moto := testenv.StartMoto(t)
	target, err := url.Parse(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{proxy: httputil.NewSingleHostReverseProxy(target), fail: map[string]s3Error{}}
	srv := httptest.NewServer(p) // binds 127.0.0.1
	t.Cleanup(srv.Close)
	cfg := moto.AWSConfig()
	client := func(endpoint string) *s3.Client {
		return s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.BaseEndpoint = aws.String(endpoint)
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 5 * time.Millisecond })
		})
	}
	bucket := testenv.Bucket(t, cfg, "faults")
	return &s3World{proxy: p, store: s3store.New(client(srv.URL), bucket, "tgsync/state.json"),
		direct: s3store.New(client(moto.URL), bucket, "tgsync/state.json")}
}

func (w *s3World) setup(t testing.TB) (tgsync.Store, func() *tgsync.State) {
	return w.store, func() *tgsync.State {
		st, _, err := w.direct.Load(context.Background())
		if err != nil {
			t.Errorf("read state: %v", err)
			return nil
		}
		return st
	}
}

// faultyStore fails Load or Save while told to, as an S3 store does once
// the SDK's retries of a 5xx ran out. It stands in for S3 where moto is
// missing.
type faultyStore struct {
	tgsync.Store
	mu                 sync.Mutex
	failLoad, failSave bool
}

var errUnavailable = errors.New("api error SlowDown: Please reduce your request rate (503, retries exhausted)")

func (f *faultyStore) set(load, save bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLoad, f.failSave = load, save
}

func (f *faultyStore) Load(ctx context.Context) (*tgsync.State, string, error) {
	f.mu.Lock()
	fail := f.failLoad
	f.mu.Unlock()
	if fail {
		return nil, "", fmt.Errorf("load state from memory: %w", errUnavailable)
	}
	return f.Store.Load(ctx)
}

func (f *faultyStore) Save(ctx context.Context, s *tgsync.State, rev string) (string, error) {
	f.mu.Lock()
	fail := f.failSave
	f.mu.Unlock()
	if fail {
		return "", fmt.Errorf("save state to memory: %w", errUnavailable)
	}
	return f.Store.Save(ctx, s, rev)
}

// TestStoreFaults fails state loads and saves for three runs. A run whose
// save fails has changed the group but not the state; the next run must
// still see the miss counters of the last saved state, so removal is
// delayed, never hastened, and nothing saved is lost. With the answer
// moved two runs before the fault, the saved counters (2 misses over a
// minute) make the removal due at the first run after the fault: had state
// been lost, it would take four.
func TestStoreFaults(t *testing.T) {
	type storeFault struct {
		name   string
		load   bool
		err    *s3Error
		shared bool
		move   movement
		// removeAt is the run after the move (the move's being 1) that
		// must remove the stale targets, counting from the saved misses;
		// 0 leaves it to the convergence bound.
		removeAt int
	}
	tests := []storeFault{
		// Misses 1 and 2 are saved; each failed run counts a third on
		// them, and at the fourth run after the move (3 minutes) the
		// targets go, as without the fault.
		{name: "503 SlowDown on PutObject (saves fail)", err: &slowDown, move: moveBefore, removeAt: 4},
		// Runs that cannot load do nothing; the first run after them has
		// 3 misses over 5 minutes.
		{name: "500 InternalError on GetObject (loads fail)", load: true, err: &internalError, move: moveBefore, removeAt: 6},
		{name: "503 SlowDown on PutObject (saves fail)", err: &slowDown, move: moveDuring},
		{name: "503 SlowDown on PutObject (saves fail), shared binding", err: &slowDown, shared: true, move: moveDuring},
	}
	for _, world := range []string{"moto", "in-memory"} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s/move %s", world, tt.name, tt.move), func(t *testing.T) {
				t.Parallel()
				s := setup{shared: tt.shared}
				f := fault{area: "S3", name: tt.name, runs: 3, everyRun: true, runErrOK: true}
				op := "PutObject"
				if tt.load {
					op = "GetObject"
				}
				p := play{setup: s, before: nodesBefore, after: nodesAfter, move: tt.move}
				if world == "moto" {
					w := newS3World(t)
					p.setup.store = w.setup
					p.setup.runTimeout = 5 * time.Second // moto answers S3 in Python
					p.world = "in-memory ELB, S3 on moto"
					f.on = func(*env) { w.proxy.set(op, tt.err) }
					f.off = func(*env) { w.proxy.set(op, nil) }
					f.fired = runFailedWith(func(err error) bool {
						var ae smithy.APIError
						return errors.As(err, &ae) && ae.ErrorCode() == tt.err.code
					})
				} else {
					fs := &faultyStore{Store: memstore.New()}
					p.setup.store = func(testing.TB) (tgsync.Store, func() *tgsync.State) {
						return fs, fs.Store.(*memstore.Store).Snapshot
					}
					p.world = "in-memory (store stand-in)"
					f.on = func(*env) { fs.set(tt.load, !tt.load) }
					f.off = func(*env) { fs.set(false, false) }
					f.fired = runFailedWith(isErr(errUnavailable))
				}
				e, _ := runPlay(t, p, f)
				if tt.removeAt == 0 || e.spurious > 0 {
					return // a run failed on its own: the timing oracle does not apply
				}
				b := e.bindings[0]
				for _, a := range nodesBefore {
					if slices.Contains(nodesAfter, a) {
						continue
					}
					for _, port := range b.ports {
						tg := tgsync.Target{IP: a, Port: port}
						if got := b.removedAt[tg] - e.movedAt + 1; b.removedAt[tg] == 0 || got != tt.removeAt {
							t.Errorf("%s removed at run %d after the move, want %d: the saved misses were not counted on", tg, got, tt.removeAt)
						}
					}
				}
			})
		}
	}
}

// runFailedWith is a fired check: a run failed as a whole with such an
// error (state not loaded or not saved).
func runFailedWith(is func(error) bool) func(e *env, o outcome) bool {
	return func(_ *env, o outcome) bool {
		for _, err := range o.errs {
			if err != nil && is(err) {
				return true
			}
		}
		return false
	}
}
