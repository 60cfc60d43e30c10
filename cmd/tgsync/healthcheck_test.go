package main

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/web"
)

// TestCLIHealthcheck runs healthcheck against the daemon's real /healthz
// handler on loopback: fresh, stale and failing status, a connection closed
// unanswered, and bad flags.
func TestCLIHealthcheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	serve := func(st status.Status, err error) string {
		h, herr := web.NewHandler(web.Options{
			Status:     func(context.Context) (status.Status, error) { return st, err },
			StaleAfter: 3 * time.Minute, Now: func() time.Time { return now },
		})
		if herr != nil {
			t.Fatal(herr)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL + "/healthz"
	}
	ran := func(ago time.Duration) status.Status {
		return status.Status{LastRun: &status.RunInfo{Finished: now.Add(-ago)}}
	}
	// A port that takes connections and closes them unanswered: a port
	// closed by the test could be taken by another test's server.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed := "http://" + l.Addr().String() + "/healthz"

	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout on success, in stderr otherwise
	}{
		{"a recent run", []string{"--url", serve(ran(time.Minute), nil)}, exitOK, "200 OK ok"},
		{"a stale run", []string{"--url", serve(ran(10*time.Minute), nil)}, exitFailed, "503 Service Unavailable"},
		{"no status", []string{"--url", serve(status.Status{}, errors.New("state unreadable"))}, exitFailed, "status unavailable: state unreadable"},
		// Go's client says EOF or "server closed idle connection", as the
		// close races the request's write; both name the URL.
		{"no answer", []string{"--url", closed, "--timeout", "2s"}, exitFailed, `Get "` + closed + `"`},
		{"not a URL", []string{"--url", "127.0.0.1:9090/healthz"}, exitUsage, "want an http:// URL"},
		{"no timeout", []string{"--url", closed, "--timeout", "0s"}, exitUsage, "want a positive duration"},
		{"an argument", []string{"http://127.0.0.1:9090/healthz"}, exitUsage, "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runMain(t, nil, append([]string{"healthcheck"}, tc.args...)...)
			out := res.stderr
			if tc.wantCode == exitOK {
				out = res.stdout
			}
			if res.code != tc.wantCode || !strings.Contains(out, tc.want) {
				t.Errorf("want exit %d and %q, got %s", tc.wantCode, tc.want, res)
			}
		})
	}
}
