package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/ecsevent"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/internal/config"
)

// maxEventSize bounds what drain reads: EventBridge events are at most
// 256 KiB, so anything much larger is not one.
const maxEventSize = 1 << 20

// drainTimeout bounds one drain from the CLI: the task has two minutes.
const drainTimeout = 90 * time.Second

// drainHandler turns ECS task events into drains. It is built once per
// process (in Lambda, at init) and serves the drain command and the Lambda
// function alike.
type drainHandler struct {
	filter  ecsevent.Filter
	drainer *tgsync.Drainer
	log     *slog.Logger
}

// newDrainHandler configures a handler from the spotDrain section. groups
// and store are shared with the reconciler where there is one (in Lambda),
// so that both stay under the same API rate limits; store may be nil.
func newDrainHandler(sd *config.SpotDrain, groups tgsync.TargetGroups, store tgsync.Store, log *slog.Logger) (*drainHandler, error) {
	if sd == nil {
		return nil, errors.New("the config has no spotDrain section: add one with the targetGroupArns to drain Fargate Spot tasks from")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &drainHandler{
		filter: ecsevent.Filter{StopCodes: sd.StopCodes, Clusters: sd.Clusters, Group: sd.Group, ContainerName: sd.ContainerName},
		drainer: &tgsync.Drainer{
			Groups:          groups,
			Store:           store,
			TargetGroupARNs: sd.TargetGroupARNs,
		},
		log: log.With("component", "drain"),
	}, nil
}

// drainOutcome is what handling one event did: the Lambda's response, and
// what the CLI reports.
type drainOutcome struct {
	// Result is drained, ignored, skipped, dry-run or failed.
	Result  string `json:"result"`
	Task    string `json:"task,omitempty"`
	Version int64  `json:"version,omitempty"`
	Reason  string `json:"reason"`
	// Deregistered lists "targetGroupArn ip:port" per target removed (or,
	// in a dry run, that would be).
	Deregistered []string `json:"deregistered,omitempty"`
	// FailedTargetGroups are the groups whose drain failed.
	FailedTargetGroups []string `json:"failedTargetGroups,omitempty"`
}

// The results of drainOutcome.
const (
	drainDrained = "drained"
	drainIgnored = "ignored"
	drainSkipped = "skipped"
	drainDryRun  = "dry-run"
	drainFailed  = "failed"
)

// handleECSEvent handles one raw EventBridge event. The error is bad
// input (do not retry; see badECSEvent): an *ecsevent.InputError for input
// that is not an ECS event, or one that wraps tgsync.ErrEventRefused for an
// interruption without a time or dated in the future. Otherwise it is the
// joined failures of the AWS calls (worth a retry: a repeated event changes
// nothing that was done). An ECS event that does not announce an
// interruption is ignored without error.
func (h *drainHandler) handleECSEvent(ctx context.Context, raw json.RawMessage) (drainOutcome, error) {
	ev, err := ecsevent.Parse(raw)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "bad event", slog.String("error", err.Error()))
		return drainOutcome{Result: drainFailed, Reason: err.Error()}, err
	}
	task, act, reason := ecsevent.Decide(ev, h.filter)
	out := drainOutcome{Task: task.ARN, Version: task.Version, Reason: reason}
	if !act {
		out.Result = drainIgnored
		h.log.LogAttrs(ctx, slog.LevelInfo, "ignored", slog.String("task", task.ARN), slog.Int64("version", task.Version), slog.String("reason", reason))
		return out, nil
	}
	res, err := h.drainer.Drain(ctx, task)
	if errors.Is(err, tgsync.ErrEventRefused) {
		h.log.LogAttrs(ctx, slog.LevelError, "bad event", slog.String("task", task.ARN), slog.Int64("version", task.Version), slog.String("error", err.Error()))
		out.Result, out.Reason = drainFailed, err.Error()
		return out, err
	}
	h.logResult(ctx, task, res, err)
	for _, g := range res.Groups {
		changes := g.Deregistered
		if res.DryRun {
			changes = g.Planned
		}
		for _, c := range changes {
			out.Deregistered = append(out.Deregistered, g.TargetGroupARN+" "+c.Target.String())
		}
	}
	out.FailedTargetGroups = res.Failed()
	switch {
	case err != nil:
		out.Result, out.Reason = drainFailed, err.Error()
	case res.Skipped != "":
		out.Result, out.Reason = drainSkipped, res.Skipped
	case res.DryRun:
		out.Result = drainDryRun
	default:
		out.Result = drainDrained
	}
	return out, err
}

// logResult writes one line per deregistration with the task, the group,
// the target and the reason, and one summary line.
func (h *drainHandler) logResult(ctx context.Context, task tgsync.Task, res tgsync.DrainResult, err error) {
	tl := h.log.With("task", task.ARN, "version", task.Version)
	if res.Skipped != "" {
		tl.LogAttrs(ctx, slog.LevelInfo, "skipped", slog.String("reason", res.Skipped))
		return
	}
	deregistered := 0
	for _, g := range res.Groups {
		gl := tl.With("targetGroup", g.TargetGroupARN)
		if res.DryRun {
			for _, c := range g.Planned {
				gl.LogAttrs(ctx, slog.LevelInfo, "would deregister", slog.String("target", c.Target.String()), slog.String("reason", c.Reason), slog.Bool("dryRun", true))
			}
		}
		for _, c := range g.Deregistered {
			deregistered++
			gl.LogAttrs(ctx, slog.LevelInfo, "deregister", slog.String("target", c.Target.String()), slog.String("reason", c.Reason))
		}
		for _, s := range g.Skipped {
			gl.LogAttrs(ctx, slog.LevelInfo, "left alone", slog.String("target", s.Target.String()), slog.String("reason", s.Reason))
		}
		for _, ip := range g.Absent {
			gl.LogAttrs(ctx, slog.LevelDebug, "not in the target group", slog.String("ip", ip.String()))
		}
		if g.Err != nil {
			gl.LogAttrs(ctx, slog.LevelError, "drain failed", slog.String("error", g.Err.Error()))
		}
	}
	attrs := []slog.Attr{slog.Int("deregistered", deregistered), slog.Int("targetGroups", len(res.Groups)),
		slog.Duration("duration", res.Duration), slog.Bool("stateWritten", res.StateWritten), slog.Bool("dryRun", res.DryRun)}
	if err != nil {
		tl.LogAttrs(ctx, slog.LevelError, "drain finished with errors", append(attrs, slog.String("error", err.Error()))...)
		return
	}
	tl.LogAttrs(ctx, slog.LevelInfo, "drain finished", attrs...)
}

// badECSEvent reports whether handleECSEvent's error is bad input, which
// a retry refuses again: the CLI exits 2 and Lambda reports BadEvent, as
// for any event tgsync does not take.
func badECSEvent(err error) bool {
	var ie *ecsevent.InputError
	return errors.As(err, &ie) || errors.Is(err, tgsync.ErrEventRefused)
}

// drainExitCode maps handleECSEvent's error to the CLI's exit codes.
func drainExitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case badECSEvent(err):
		return exitUsage
	default:
		return exitFailed
	}
}

func drainCommand(c *CLI, g *globals) *cobra.Command {
	var eventFile string
	var dryRun bool
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "drain --event FILE|- [flags]",
		Short: "deregister a Fargate Spot task's targets on its ECS interruption event",
		Long: `Handle one EventBridge "ECS Task State Change" event as the Lambda function does:
on a Spot interruption warning, deregister the task's addresses from the target
groups of the config's spotDrain section. stdout gets the outcome (JSON by default,
as the Lambda function answers); the log goes to stderr.`,
		Example: `  tgsync drain --event event.json --dry-run -o text
  aws events ... | tgsync drain --event -
  tgsync drain --event saved-event.json --max-age 0   # replay an old event`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return drain(cmd.Context(), c, g, eventFile, dryRun, maxAge)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&eventFile, "event", "", "the EventBridge event JSON `file`, or - for stdin")
	fs.BoolVar(&dryRun, "dry-run", false, "describe and say what would be deregistered; change nothing")
	fs.DurationVar(&maxAge, "max-age", tgsync.DefaultMaxEventAge, "skip events sent longer ago than this, whose task has stopped and whose IP may belong to another task (0: no limit; events without a time or from the future are refused anyway)")
	_ = cmd.MarkFlagFilename("event", "json")
	configFlag(cmd, g)
	outputFlag(cmd, "json", "json is the outcome the Lambda function answers with, text one line per target")
	logFlags(cmd, g)
	awsCommand(cmd, `  0  the event was handled, skipped or ignored
  1  an AWS call failed (a repeated event changes nothing that was done)
  2  usage, config or bad input: not an ECS event, malformed, or refused`)
	return cmd
}

func drain(ctx context.Context, c *CLI, g *globals, eventFile string, dryRun bool, maxAge time.Duration) error {
	if eventFile == "" {
		return usageErrorf("--event is required (a file, or - for stdin)")
	}
	if maxAge < 0 {
		return usageErrorf("--max-age %s must not be negative", maxAge)
	}
	raw, err := readEvent(c, eventFile)
	if err != nil {
		return &exitStatus{code: exitUsage, msg: err.Error()}
	}
	cfg, ok := loadConfig(c, g)
	if !ok {
		return exit(exitUsage)
	}
	if cfg.SpotDrain == nil {
		return &exitStatus{code: exitUsage, msg: g.config + ": the config has no spotDrain section: add one with the targetGroupArns to drain Fargate Spot tasks from"}
	}
	awsCfg, store, groups, err := wireAWS(ctx, cfg, &elbv2.Calls{}, g.log, "")
	if err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		return exit(exitUsage)
	}
	if err := checkCredentials(ctx, awsCfg); err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		return exit(exitFailed)
	}
	h, err := newDrainHandler(cfg.SpotDrain, groups, store, g.log)
	if err != nil {
		return &exitStatus{code: exitUsage, msg: err.Error()}
	}
	h.drainer.DryRun = dryRun
	h.drainer.MaxEventAge = maxAge
	if maxAge == 0 {
		h.drainer.MaxEventAge = -1
	}
	runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	// The handler logged what happened; stdout gets the outcome.
	out, err := h.handleECSEvent(runCtx, raw)
	if g.output.json() {
		if werr := writeJSON(c, out); werr != nil {
			return werr
		}
	} else {
		printDrain(c, out)
	}
	return exit(drainExitCode(err))
}

// printDrain is the text form of a drain's outcome.
func printDrain(c *CLI, out drainOutcome) {
	fmt.Fprintf(c.Stdout, "%s", out.Result)
	if out.Task != "" {
		fmt.Fprintf(c.Stdout, " %s (version %d)", out.Task, out.Version)
	}
	if out.Reason != "" {
		fmt.Fprintf(c.Stdout, ": %s", out.Reason)
	}
	fmt.Fprintln(c.Stdout)
	verb := "deregistered"
	if out.Result == drainDryRun {
		verb = "would deregister"
	}
	for _, d := range out.Deregistered {
		fmt.Fprintf(c.Stdout, "  - %s %s\n", verb, d)
	}
	for _, tg := range out.FailedTargetGroups {
		fmt.Fprintf(c.Stdout, "  ! failed %s\n", tg)
	}
}

// readEvent reads the event from a file or, for "-", from stdin.
func readEvent(c *CLI, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		if c.Stdin == nil {
			return nil, errors.New("--event -: no stdin")
		}
		r = c.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--event: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxEventSize+1))
	if err != nil {
		return nil, fmt.Errorf("--event %s: %w", name, err)
	}
	if len(data) > maxEventSize {
		return nil, fmt.Errorf("--event %s: larger than %d bytes; EventBridge events are at most 256 KiB", name, maxEventSize)
	}
	return data, nil
}
