package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

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

func statusCommand(c *CLI, g *globals) *cobra.Command {
	var events int
	var noDescribe, exitCode bool
	cmd := &cobra.Command{
		Use:   "status [flags]",
		Short: "show what each binding believes, holds, waits for and refused, from the state and the target groups",
		Long: `Show, per binding, what DNS said, what the target group holds with each target's
health, what waits to leave and when, what was refused and the last changes, from
the state and one DescribeTargetHealth per target group. With --exit-code it also
tells scripts and monitors whether all is well.`,
		Example: `  tgsync status
  tgsync status -o json | jq '.bindings[] | {name, counts}'
  tgsync status --no-describe --exit-code >/dev/null || echo "tgsync needs a look"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showStatus(cmd.Context(), c, g, events, !noDescribe, exitCode)
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&events, "events", 5, "recent changes and refusals to show per binding (text output)")
	fs.BoolVar(&noDescribe, "no-describe", false, "show the stored state only; call no AWS API but the state store's")
	fs.BoolVar(&exitCode, "exit-code", false, "exit 1 also when a binding's last run failed or a binding is refusing a change")
	configFlag(cmd, g)
	outputFlag(cmd, "text", "text is a table per binding, json the status page's /api/status")
	logFlags(cmd, g)
	appCommand(cmd, `  0  the status was shown (with --exit-code: and every binding is well)
  1  the state or a target group could not be read; with --exit-code also: a
     binding's last run failed, or a binding is refusing a change
  2  usage or config error`)
	return cmd
}

func showStatus(ctx context.Context, c *CLI, g *globals, events int, describe, exitCode bool) error {
	a, err := loadApp(ctx, c, g)
	if err != nil {
		return err
	}
	st, err := gatherStatus(ctx, a, describe)
	if err != nil {
		return &exitStatus{code: exitFailed, msg: err.Error()}
	}
	if g.output.json() {
		if err := writeJSON(c, st); err != nil {
			return err
		}
	} else {
		n := events
		if n <= 0 {
			n = -1 // WriteText reads 0 as its default
		}
		if err := status.WriteText(c.Stdout, st, status.TextOptions{Events: n}); err != nil {
			return &exitStatus{code: exitFailed, msg: err.Error()}
		}
	}
	unwell := false
	for _, b := range st.Bindings {
		if b.ObserveError != "" {
			return exit(exitFailed)
		}
		unwell = unwell || b.LastError != "" || len(b.Refusing) > 0
	}
	if exitCode && unwell {
		return exit(exitFailed)
	}
	return nil
}
