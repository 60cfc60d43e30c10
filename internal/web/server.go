// Package web serves the status: the page for people, the same status as
// JSON, a health check and the metrics endpoint, for a daemon over HTTP
// and for a Lambda behind an Application Load Balancer. internal/status
// builds and renders what it serves.
package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tgsync/tgsync/internal/status"
)

// StatusFunc produces the status to show, at the time of the request.
type StatusFunc func(ctx context.Context) (status.Status, error)

// Content types of the responses.
const (
	ContentTypeHTML = "text/html; charset=utf-8"
	ContentTypeJSON = "application/json"
)

// Options configure the handler.
type Options struct {
	// Status is required.
	Status StatusFunc
	// Metrics serves /metrics; nil answers 404 there.
	Metrics http.Handler
	// StaleAfter is how old the last run may be before /healthz answers
	// 503; 0 means 3 minutes. Set it to about three run intervals.
	StaleAfter time.Duration
	// Refresh is how often the page reloads itself; 0 means 5s, a
	// negative value turns reloading off.
	Refresh time.Duration
	// Title heads the page; "" means "tgsync".
	Title string
	// Now is the clock for /healthz; nil means time.Now. A process on a
	// simulated clock passes that clock.
	Now func() time.Time
	// ALBPathPrefix is stripped from the paths an ALB passes to ALB, for a
	// listener rule such as /tgsync/*.
	ALBPathPrefix string
}

// Handler serves the status page, /api/status, /healthz and /metrics.
type Handler struct {
	opts    Options
	mux     *http.ServeMux
	started time.Time
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the handler. It fails only when opts.Status is nil.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Status == nil {
		return nil, errors.New("web: Options.Status is required")
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 3 * time.Minute
	}
	if opts.Refresh == 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.Title == "" {
		opts.Title = "tgsync"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, mux: http.NewServeMux(), started: opts.Now()}
	// GET patterns also match HEAD; other methods get 405 with Allow.
	h.mux.HandleFunc("GET /{$}", h.serveStatus(false))
	h.mux.HandleFunc("GET /api/status", h.serveStatus(true))
	h.mux.HandleFunc("GET /healthz", h.healthz)
	if opts.Metrics != nil {
		h.mux.Handle("GET /metrics", opts.Metrics)
	}
	return h, nil
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setCommonHeaders(w.Header())
	h.mux.ServeHTTP(w, r)
}

// setCommonHeaders keeps responses out of caches and frames, and forbids
// scripts: the page has none.
func setCommonHeaders(hd http.Header) {
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
}

// render gathers the status and renders it as the page or, asJSON, as
// JSON, for HTTP and for an ALB alike. With an error it returns the code
// to answer: 503 when the status could not be gathered (state store or
// AWS unreachable), which is a condition to retry, not a bug; 500 when it
// could not be rendered.
func (h *Handler) render(ctx context.Context, asJSON bool) (body []byte, contentType string, code int, err error) {
	st, err := h.opts.Status(ctx)
	if err != nil {
		return nil, "", http.StatusServiceUnavailable, fmt.Errorf("status unavailable: %w", err)
	}
	contentType = ContentTypeHTML
	if asJSON {
		contentType = ContentTypeJSON
		body, err = status.RenderJSON(st)
	} else {
		body, err = status.RenderHTML(st, status.PageOptions{Title: h.opts.Title, Refresh: h.opts.Refresh})
	}
	if err != nil {
		return nil, "", http.StatusInternalServerError, err
	}
	return body, contentType, http.StatusOK, nil
}

// serveStatus serves the page or, asJSON, /api/status.
func (h *Handler) serveStatus(asJSON bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, contentType, code, err := h.render(r.Context(), asJSON)
		if err != nil {
			http.Error(w, err.Error(), code)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	st, err := h.opts.Status(r.Context())
	code, msg := http.StatusServiceUnavailable, ""
	if err != nil {
		msg = "status unavailable: " + err.Error()
	} else {
		code, msg = Health(st, h.opts.Now(), h.opts.StaleAfter, h.started)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// Health decides /healthz: 200 while the last run finished less than
// staleAfter ago, or while no run finished yet but the process started
// less than staleAfter ago; 503 otherwise. The message says why.
func Health(st status.Status, now time.Time, staleAfter time.Duration, started time.Time) (int, string) {
	if st.LastRun == nil {
		age := now.Sub(started)
		if age < staleAfter {
			return http.StatusOK, fmt.Sprintf("starting: no run finished yet (started %s ago, limit %s)", age.Round(time.Second), staleAfter)
		}
		return http.StatusServiceUnavailable, fmt.Sprintf("no run finished in the %s since start (limit %s)", age.Round(time.Second), staleAfter)
	}
	age := now.Sub(st.LastRun.Finished)
	detail := ""
	if n := len(st.LastRun.Failed); n > 0 {
		detail = fmt.Sprintf("; %d binding(s) failed: %v", n, st.LastRun.Failed)
	}
	if st.LastRun.Error != "" {
		detail += "; run error: " + st.LastRun.Error
	}
	if age >= staleAfter {
		return http.StatusServiceUnavailable, fmt.Sprintf("stale: last run finished %s ago, limit %s%s", age.Round(time.Second), staleAfter, detail)
	}
	return http.StatusOK, fmt.Sprintf("ok: last run finished %s ago, limit %s%s", age.Round(time.Second), staleAfter, detail)
}
