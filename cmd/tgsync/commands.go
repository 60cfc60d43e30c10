package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/web"
)

// loadConfig reads the config named by --config and prints every problem
// when it is invalid. The warnings of a valid config go to the log.
func loadConfig(c *CLI, g *globals) (*config.Config, bool) {
	cfg, err := loadConfigInput(c, g)
	if err != nil {
		printConfigError(c, err)
		return nil, false
	}
	logConfigWarnings(g.log, g.config, cfg.Warnings)
	return cfg, true
}

// logConfigWarnings logs the warnings of a valid config; from names where
// the config came from.
func logConfigWarnings(log *slog.Logger, from string, warnings []config.Problem) {
	for _, w := range warnings {
		log.Warn("config warning", "config", from, "line", w.Line, "key", w.Path, "warning", w.Message)
	}
}

// printConfigError prints why a config could not be loaded: every problem,
// or, for a file that cannot be read, how to get one.
func printConfigError(c *CLI, err error) {
	fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		fmt.Fprintf(c.Stderr, "(write a config from 'tgsync validate --example', or point --config or TGSYNC_CONFIG at one)\n")
	}
}

// loadApp reads the config and wires it, with the SDK's own log lines in
// tgsync's log. A config or wiring error has been printed when it returns
// exit(exitUsage); missing AWS credentials, exit(exitFailed), as for any
// AWS call that fails.
func loadApp(ctx context.Context, c *CLI, g *globals) (*app, error) {
	a, err := wireApp(ctx, c, g)
	if err != nil {
		return nil, err
	}
	if err := checkCredentials(ctx, a.awsConfig); err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		return nil, exit(exitFailed)
	}
	return a, nil
}

// wireApp is loadApp without the check of the credentials, which the
// daemon makes on its own terms.
func wireApp(ctx context.Context, c *CLI, g *globals) (*app, error) {
	cfg, ok := loadConfig(c, g)
	if !ok {
		return nil, exit(exitUsage)
	}
	a, err := newApp(ctx, cfg, c.Getenv, appOptions{sdkLog: g.log})
	if err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		return nil, exit(exitUsage)
	}
	return a, nil
}

// awsCommand marks a command that calls AWS and has the exit codes of one
// that acts on a config; its help says where the AWS settings come from.
func awsCommand(cmd *cobra.Command, exitCodes string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotationAWS] = "yes"
	cmd.Annotations[annotationExitCodes] = exitCodes
}

// appCommand marks a command that runs bindings (newApp): its help names
// the variables newApp reads (appEnv).
func appCommand(cmd *cobra.Command, exitCodes string) {
	awsCommand(cmd, exitCodes)
	cmd.Annotations[annotationApp] = "yes"
}

// bindingFlag declares the repeatable --binding, completed from the
// config's binding names.
func bindingFlag(c *CLI, g *globals, cmd *cobra.Command, only *[]string) {
	cmd.Flags().StringArrayVarP(only, "binding", "b", nil, "act on this binding `name` only (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("binding", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		path := g.config
		if v := c.Getenv("TGSYNC_CONFIG"); v != "" && !cmd.Flags().Changed("config") {
			path = v
		}
		cfg, err := config.Load(path)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, 0, len(cfg.Bindings))
		for _, b := range cfg.Bindings {
			names = append(names, b.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

func onceCommand(c *CLI, g *globals) *cobra.Command {
	var dryRun bool
	var only []string
	cmd := &cobra.Command{
		Use:   "once [flags]",
		Short: "reconcile every binding once and exit",
		Long: `Reconcile every binding once: look its DNS name up, describe its target group,
register what is new and deregister what has been missing long enough, within the
safety rules. stdout gets what changed; the log on stderr has one line per change.`,
		Example: `  tgsync once
  tgsync once --binding opensearch-dashboards -o json
  tgsync once --dry-run            # the same as tgsync plan`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return reconcileOnce(cmd.Context(), c, g, tgsync.RunOptions{DryRun: dryRun, Only: only}, false)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "plan and print, change nothing (same as 'tgsync plan')")
	bindingFlag(c, g, cmd, &only)
	configFlag(cmd, g)
	outputFlag(cmd, "text", "text lists what changed per binding, json is the run's summary")
	logFlags(cmd, g)
	appCommand(cmd, exitCodesText)
	return cmd
}

func planCommand(c *CLI, g *globals) *cobra.Command {
	var only []string
	var detailed bool
	cmd := &cobra.Command{
		Use:   "plan [flags]",
		Short: "show what once would change and why; change nothing",
		Long: `Show what 'tgsync once' would change, and why: every registration, deregistration,
refusal and pending removal with its reason. Nothing is changed, the state included.
The plan goes to stdout once; the log goes to stderr.

In JSON, each binding's "registered" is what the target group holds now and "after"
what it would hold after the plan.`,
		Example: `  tgsync plan
  tgsync plan --binding opensearch-dashboards -o json | jq '.bindings[].after'
  tgsync plan --detailed-exitcode; [ $? -eq 3 ] && tgsync once`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return reconcileOnce(cmd.Context(), c, g, tgsync.RunOptions{DryRun: true, Only: only}, detailed)
		},
	}
	bindingFlag(c, g, cmd, &only)
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 3 when the plan has changes, 0 when it has none (1 and 2 as always)")
	configFlag(cmd, g)
	outputFlag(cmd, "text", "text is the plan for people, json the run's summary")
	logFlags(cmd, g)
	appCommand(cmd, exitCodesText+"\n  3  with --detailed-exitcode: the plan has changes (registrations or deregistrations)")
	return cmd
}

// reconcileOnce is once and plan: one run, its log on stderr and its
// outcome on stdout.
func reconcileOnce(ctx context.Context, c *CLI, g *globals, opts tgsync.RunOptions, detailed bool) error {
	a, err := loadApp(ctx, c, g)
	if err != nil {
		return err
	}
	// SIGTERM stops the run only where that loses nothing: while it waits
	// for the state or observes; changes made are saved.
	runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runTimeout)
	defer cancel()
	opts.Interrupt = ctx
	res, err := a.reconciler.Run(runCtx, opts)
	if errors.Is(err, tgsync.ErrUnknownBinding) {
		return &exitStatus{code: exitUsage, msg: err.Error()}
	}
	if opts.DryRun {
		obs.LogPrintedPlan(ctx, g.log, res)
	} else {
		obs.LogRun(ctx, g.log, res, false)
	}
	if g.output.json() {
		if werr := writeJSON(c, obs.Summarize(res, opts.DryRun)); werr != nil {
			return werr
		}
	} else {
		printRun(c.Stdout, res, opts.DryRun)
	}
	switch {
	case err != nil:
		g.log.Error("run failed", "error", err.Error())
		return exit(exitFailed)
	case len(res.Failed()) > 0:
		return exit(exitFailed)
	case detailed && hasChanges(res):
		return exit(exitChanges)
	}
	return nil
}

func runCommand(c *CLI, g *globals) *cobra.Command {
	var interval, minInterval time.Duration
	var listen string
	cmd := &cobra.Command{
		Use:   "run [flags]",
		Short: "reconcile every interval, sooner when a DNS TTL runs out, until SIGTERM",
		Long: `Run as a daemon: reconcile every --interval, sooner when the smallest DNS TTL of the
last run runs out (never more often than --min-interval). On SIGTERM or Ctrl-C it
finishes the run in progress and exits 0. The log goes to stderr; every flag can
also be set in the environment, for containers and units.`,
		Example: `  tgsync run --interval 60s --listen 127.0.0.1:9090
  TGSYNC_INTERVAL=30s TGSYNC_LISTEN=:9090 TGSYNC_LOG_FORMAT=json tgsync run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return daemon(cmd.Context(), c, g, interval, minInterval, listen)
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&interval, "interval", 60*time.Second, "time between runs")
	fs.DurationVar(&minInterval, "min-interval", 10*time.Second, "shortest time between runs, however short a DNS TTL")
	fs.StringVar(&listen, "listen", "", "serve the status page, /api/status, /healthz and /metrics on this `address`, e.g. 127.0.0.1:9090 (no authentication: keep it on loopback or a private interface); empty: off")
	withEnv(fs, "interval", "TGSYNC_INTERVAL")
	withEnv(fs, "min-interval", "TGSYNC_MIN_INTERVAL")
	withEnv(fs, "listen", "TGSYNC_LISTEN")
	configFlag(cmd, g)
	logFlags(cmd, g)
	appCommand(cmd, "  0  stopped by SIGTERM or SIGINT (a failed run is logged, and the daemon goes on)\n  2  usage or config error; nothing was done")
	return cmd
}

func daemon(ctx context.Context, c *CLI, g *globals, interval, minInterval time.Duration, listen string) error {
	if interval <= 0 || minInterval <= 0 || minInterval > interval {
		return usageErrorf("want 0 < --min-interval (%s) <= --interval (%s)", minInterval, interval)
	}
	a, err := wireApp(ctx, c, g)
	if err != nil {
		return err
	}
	// Credentials may come later (an instance role being attached): say
	// what is missing once, and keep running.
	if err := checkCredentials(ctx, a.awsConfig); err != nil {
		g.log.Error("no AWS credentials yet", "error", err.Error())
	}
	live := status.NewLive(status.SpecsFrom(a.reconciler.Bindings), nil)
	metrics := newDaemonMetrics(a.reconciler.Bindings)
	if listen != "" {
		_, stop, err := serveStatus(g.log, listen, web.Options{Status: live.Status, Metrics: metrics.Handler(),
			StaleAfter: 3 * (interval + daemonSaveMargin)})
		if err != nil {
			return &exitStatus{code: exitUsage, msg: err.Error()}
		}
		defer stop()
	}
	g.log.Info("daemon started", "bindings", len(a.cfg.Bindings), "interval", interval, "minInterval", minInterval)
	for {
		// A run that started finishes even when SIGTERM arrives, but for
		// what it can drop without losing anything (a wait for the state, a
		// lookup). The reconciler starts no AWS work within its margin of
		// the deadline; the margin comes on top of the interval, or an
		// interval shorter than it would never start any.
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), interval+daemonSaveMargin)
		before, throttled := a.calls.Snapshot(), a.calls.Throttles()
		res, err := a.reconciler.Run(runCtx, tgsync.RunOptions{DeadlineMargin: daemonSaveMargin, Interrupt: ctx})
		cancel()
		live.Record(res, err)
		metrics.Observe(res, obs.DiffCalls(before, a.calls.Snapshot()), obs.DiffCalls(throttled, a.calls.Throttles()))
		obs.LogRun(ctx, g.log, res, false)
		if err != nil {
			g.log.Error("run failed", "error", err.Error())
		}
		wait := nextRunIn(res, interval, minInterval)
		select {
		case <-ctx.Done():
			g.log.Info("daemon stopped", "signal", context.Cause(ctx).Error())
			return nil
		case <-time.After(wait):
		}
	}
}

// daemonSaveMargin is the time a daemon run keeps after its interval to
// save state.
const daemonSaveMargin = 3 * time.Second
