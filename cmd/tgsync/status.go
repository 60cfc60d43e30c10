package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/web"
)

// serveStatus serves the status page, /api/status, /healthz and /metrics on
// addr until stop is called. It returns the address it listens on, so that
// ":0" or "127.0.0.1:0" can be used and found in the log.
func serveStatus(log *slog.Logger, addr string, opts web.Options) (listening string, stop func(), err error) {
	h, err := web.NewHandler(opts)
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("status server: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("status server stopped", "error", err.Error())
		}
	}()
	log.Info("status server listening", "addr", l.Addr().String(), "url", "http://"+l.Addr().String()+"/")
	return l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// gatherStatus builds the status from the state store and one
// DescribeTargetHealth per target group, as 'tgsync status' and the
// Lambda's status page see it. A group that cannot be described is shown
// with the reason; only a state that cannot be loaded is an error.
func gatherStatus(ctx context.Context, a *app, describe bool) (status.Status, error) {
	state, _, err := a.reconciler.Store.Load(ctx) // every shard's, in a sharded deployment
	if err != nil {
		return status.Status{}, fmt.Errorf("load state: %w", err)
	}
	observed := map[string][]tgsync.ObservedTarget{}
	failed := map[string]error{}
	if describe {
		for _, b := range a.reconciler.Bindings {
			arn := b.TargetGroupARN
			if _, done := observed[arn]; done || failed[arn] != nil {
				continue
			}
			targets, err := a.groups.Describe(ctx, arn)
			if err != nil {
				failed[arn] = err
				continue
			}
			observed[arn] = targets
		}
	}
	now := time.Now()
	return status.Build(status.Input{Bindings: status.SpecsFrom(a.reconciler.Bindings), State: state,
		Observed: observed, ObservedAt: now, ObserveErrors: failed, Now: now}), nil
}

func statusFlags(fs *flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
	output := fs.String("output", "text", "output: text or json")
	events := fs.Int("events", 5, "recent changes and refusals to show per binding (text output)")
	noDescribe := fs.Bool("no-describe", false, "show the stored state only; call no AWS API but the state store's")
	return func(ctx context.Context, c *CLI, g *globals, args []string) int {
		if !noArgs(c, "status", args) {
			return exitUsage
		}
		if *output != "text" && *output != "json" {
			fmt.Fprintf(c.Stderr, "tgsync: --output %q: want text or json\n", *output)
			return exitUsage
		}
		a, ok := loadApp(ctx, c, g)
		if !ok {
			return exitUsage
		}
		st, err := gatherStatus(ctx, a, !*noDescribe)
		if err != nil {
			fmt.Fprintf(c.Stderr, "tgsync status: %v\n", err)
			return exitFailed
		}
		if *output == "json" {
			enc := json.NewEncoder(c.Stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(st)
		} else {
			n := *events
			if n <= 0 {
				n = -1 // WriteText reads 0 as its default
			}
			err = status.WriteText(c.Stdout, st, status.TextOptions{Events: n})
		}
		if err != nil {
			fmt.Fprintf(c.Stderr, "tgsync status: %v\n", err)
			return exitFailed
		}
		for _, b := range st.Bindings {
			if b.ObserveError != "" {
				return exitFailed
			}
		}
		return exitOK
	}
}
