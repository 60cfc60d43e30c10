package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/web"
)

// loadConfig reads the config named by --config and prints every problem
// when it is invalid. The warnings of a valid config go to the log.
func loadConfig(c *CLI, g *globals) (*config.Config, bool) {
	cfg, ok := readConfig(c, g)
	if ok {
		logConfigWarnings(g.log, g.config, cfg.Warnings)
	}
	return cfg, ok
}

// logConfigWarnings logs the warnings of a valid config; from names where
// the config came from.
func logConfigWarnings(log *slog.Logger, from string, warnings []config.Problem) {
	for _, w := range warnings {
		log.Warn("config warning", "config", from, "line", w.Line, "key", w.Path, "warning", w.Message)
	}
}

// readConfig is loadConfig without logging the warnings, for validate,
// which prints them.
func readConfig(c *CLI, g *globals) (*config.Config, bool) {
	cfg, err := loadConfigInput(c, g)
	if err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		var ve *config.ValidationError
		if !errors.As(err, &ve) {
			fmt.Fprintf(c.Stderr, "(write a config from 'tgsync validate --example', or point --config or TGSYNC_CONFIG at one)\n")
		}
		return nil, false
	}
	return cfg, true
}

// loadApp reads the config and wires it; on failure it prints why and
// returns false (the exit code is then exitUsage).
func loadApp(ctx context.Context, c *CLI, g *globals) (*app, bool) {
	cfg, ok := loadConfig(c, g)
	if !ok {
		return nil, false
	}
	a, err := newApp(ctx, cfg, c.Getenv, appOptions{})
	if err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		return nil, false
	}
	return a, true
}

func onceFlags(planOnly bool) func(fs *flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
	return func(fs *flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
		dryRun := planOnly
		if !planOnly {
			fs.BoolVar(&dryRun, "dry-run", false, "plan and print, change nothing (same as 'tgsync plan')")
		}
		var only stringList
		fs.Var(&only, "binding", "reconcile only this binding `name` (repeatable)")
		output := fs.String("output", "text", "text: print the plan of a dry run; json: print the run's summary (the plan, in a dry run)")
		return func(ctx context.Context, c *CLI, g *globals, args []string) int {
			if !noArgs(c, fs.Name(), args) {
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
			// SIGTERM stops the run only where that loses nothing: while
			// it waits for the state or observes; changes made are saved.
			runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runTimeout)
			defer cancel()
			res, err := a.reconciler.Run(runCtx, tgsync.RunOptions{DryRun: dryRun, Only: only, Interrupt: ctx})
			if errors.Is(err, tgsync.ErrUnknownBinding) {
				fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
				return exitUsage
			}
			obs.LogRun(ctx, g.log, res, dryRun)
			switch {
			case *output == "json":
				enc := json.NewEncoder(c.Stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(obs.Summarize(res, dryRun))
			case dryRun:
				printPlan(c.Stdout, res)
			}
			if err != nil {
				g.log.Error("run failed", "error", err.Error())
				return exitFailed
			}
			if len(res.Failed()) > 0 {
				return exitFailed
			}
			return exitOK
		}
	}
}

func runFlags(fs *flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
	interval := fs.Duration("interval", 60*time.Second, "time between runs")
	minInterval := fs.Duration("min-interval", 10*time.Second, "shortest time between runs, however short a DNS TTL")
	listen := fs.String("listen", "", "serve the status page, /api/status, /healthz and /metrics on this `address`, e.g. 127.0.0.1:9090 (no authentication: keep it on loopback or a private interface); empty: off")
	return func(ctx context.Context, c *CLI, g *globals, args []string) int {
		if !noArgs(c, "run", args) {
			return exitUsage
		}
		if *interval <= 0 || *minInterval <= 0 || *minInterval > *interval {
			fmt.Fprintf(c.Stderr, "tgsync run: want 0 < --min-interval (%s) <= --interval (%s)\n", *minInterval, *interval)
			return exitUsage
		}
		a, ok := loadApp(ctx, c, g)
		if !ok {
			return exitUsage
		}
		live := status.NewLive(status.SpecsFrom(a.reconciler.Bindings), nil)
		metrics := newDaemonMetrics()
		if *listen != "" {
			_, stop, err := serveStatus(g.log, *listen, web.Options{Status: live.Status, Metrics: metrics.Handler(),
				StaleAfter: 3 * (*interval + daemonSaveMargin)})
			if err != nil {
				fmt.Fprintf(c.Stderr, "tgsync run: %v\n", err)
				return exitUsage
			}
			defer stop()
		}
		g.log.Info("daemon started", "bindings", len(a.cfg.Bindings), "interval", *interval)
		for {
			// A run that started finishes even when SIGTERM arrives, but
			// for what it can drop without losing anything (a wait for the
			// state, a lookup). The reconciler starts no AWS work within
			// its margin of the deadline; the margin comes on top of the
			// interval, or an interval shorter than it would never start
			// any.
			runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *interval+daemonSaveMargin)
			before := a.calls.Snapshot()
			res, err := a.reconciler.Run(runCtx, tgsync.RunOptions{DeadlineMargin: daemonSaveMargin, Interrupt: ctx})
			cancel()
			live.Record(res, err)
			metrics.Observe(res, obs.DiffCalls(before, a.calls.Snapshot()))
			obs.LogRun(ctx, g.log, res, false)
			if err != nil {
				g.log.Error("run failed", "error", err.Error())
			}
			wait := nextRunIn(res, *interval, *minInterval)
			select {
			case <-ctx.Done():
				g.log.Info("daemon stopped", "signal", context.Cause(ctx).Error())
				return exitOK
			case <-time.After(wait):
			}
		}
	}
}

// daemonSaveMargin is the time a daemon run keeps after its interval to
// save state.
const daemonSaveMargin = 3 * time.Second

func validateFlags(fs *flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
	example := fs.Bool("example", false, "print a commented example config and exit")
	forStack := fs.Bool("for-stack", false, "check the config as the ConfigYaml of a CloudFormation stack (no state section: the stack adds it) and print the stack parameters it needs")
	return func(_ context.Context, c *CLI, g *globals, args []string) int {
		if !noArgs(c, "validate", args) {
			return exitUsage
		}
		if *example {
			_, _ = c.Stdout.Write(config.Example())
			return exitOK
		}
		if *forStack {
			return validateForStack(c, g)
		}
		cfg, ok := readConfig(c, g)
		if !ok {
			return exitUsage
		}
		// Warnings leave the config valid and the exit code 0.
		for _, w := range cfg.Warnings {
			fmt.Fprintf(c.Stderr, "tgsync: warning: %s\n", w.In(g.config))
		}
		fmt.Fprintf(c.Stdout, "%s: valid: %d binding(s)", g.config, len(cfg.Bindings))
		if cfg.SpotDrain != nil {
			fmt.Fprintf(c.Stdout, ", spot drain for %d target group(s)", len(cfg.SpotDrain.TargetGroupARNs))
		}
		if n := len(cfg.Warnings); n > 0 {
			fmt.Fprintf(c.Stdout, ", %d warning(s)", n)
		}
		fmt.Fprintln(c.Stdout)
		return exitOK
	}
}
