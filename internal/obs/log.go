// Package obs is how tgsync tells people what it did: structured logs,
// metrics and the per-run summary.
package obs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/tgsync/tgsync"
)

// Format is a log format name as --log-format spells it.
type Format string

// The log formats.
const (
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// ParseFormat reads a --log-format value; "" picks json in Lambda and text
// elsewhere.
func ParseFormat(s string, inLambda bool) (Format, bool) {
	switch strings.ToLower(s) {
	case "":
		if inLambda {
			return FormatJSON, true
		}
		return FormatText, true
	case "json":
		return FormatJSON, true
	case "text":
		return FormatText, true
	}
	return "", false
}

// NewLogger returns a slog logger writing in the given format. Durations
// are written in seconds, in keys that end in Seconds (durationSeconds,
// timeLeftSeconds), in both formats: one unit that a log query can sum and
// compare, where slog would write nanoseconds in JSON and "1.5s" in text.
func NewLogger(w io.Writer, f Format, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationSeconds}
	if f == FormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationSeconds rewrites a duration attribute into seconds; see
// NewLogger.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "Seconds") {
		key += "Seconds"
	}
	return slog.Float64(key, a.Value.Duration().Seconds())
}

// IsTerminal reports whether f is a character device, for choosing defaults.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// LogRun writes one line per change, refusal and pending removal, and one
// summary line for the run. Deregistrations are normal and logged at info
// like registrations and pending removals; refusals at warn. A dry run
// logs what it would change.
func LogRun(ctx context.Context, log *slog.Logger, res tgsync.RunResult, dryRun bool) {
	logRun(ctx, log, res, dryRun, true)
}

// LogPrintedPlan logs a dry run whose plan the command prints itself, on
// stdout, so that it is shown once: only failures and the summary line.
func LogPrintedPlan(ctx context.Context, log *slog.Logger, res tgsync.RunResult) {
	logRun(ctx, log, res, true, false)
}

func logRun(ctx context.Context, log *slog.Logger, res tgsync.RunResult, dryRun, plan bool) {
	changes, refusals, failed := 0, 0, 0
	for _, b := range res.Bindings {
		bl := log.With("binding", b.Binding)
		for _, c := range b.Registered {
			changes++
			bl.LogAttrs(ctx, slog.LevelInfo, "register", slog.String("target", c.Target.String()), slog.String("action", string(c.Action)), slog.String("reason", c.Reason))
		}
		for _, c := range b.Deregistered {
			changes++
			bl.LogAttrs(ctx, slog.LevelInfo, "deregister", slog.String("target", c.Target.String()), slog.String("action", string(c.Action)), slog.String("reason", c.Reason))
		}
		refusals += len(b.Plan.Refused)
		if dryRun {
			changes += len(b.Plan.Register) + len(b.Plan.Deregister)
		}
		logAgreement(ctx, bl, b)
		if plan {
			logPlan(ctx, bl, b, dryRun)
		}
		if b.Err != nil {
			failed++
			bl.LogAttrs(ctx, slog.LevelError, "binding failed", slog.String("error", b.Err.Error()), slog.Bool("unfinished", b.Unfinished))
		}
	}
	level := slog.LevelInfo
	if failed > 0 {
		level = slog.LevelError
	}
	log.LogAttrs(ctx, level, "run finished",
		slog.Int("bindings", len(res.Bindings)), slog.Int("failed", failed),
		slog.Int("changes", changes), slog.Int("refusals", refusals),
		slog.Bool("stateWritten", res.StateWritten), slog.Int("conflicts", res.Conflicts),
		slog.Bool("dryRun", dryRun), slog.Duration("duration", res.Duration))
}

// logPlan logs a binding's planned changes (in a dry run), refusals and
// pending removals.
func logPlan(ctx context.Context, bl *slog.Logger, b tgsync.BindingResult, dryRun bool) {
	if dryRun {
		for _, c := range slices.Concat(b.Plan.Register, b.Plan.Deregister) {
			bl.LogAttrs(ctx, slog.LevelInfo, "would "+string(c.Action), slog.String("target", c.Target.String()), slog.String("action", string(c.Action)), slog.String("reason", c.Reason), slog.Bool("dryRun", true))
		}
	}
	for _, r := range b.Plan.Refused {
		attrs := []slog.Attr{slog.String("action", string(r.Action)), slog.String("rule", r.Rule), slog.String("reason", r.Reason)}
		if r.Target.IP.IsValid() {
			attrs = append(attrs, slog.String("target", r.Target.String()))
		}
		bl.LogAttrs(ctx, slog.LevelWarn, "refused", attrs...)
	}
	for _, p := range b.Plan.Pending {
		bl.LogAttrs(ctx, slog.LevelInfo, "pending deregistration", slog.String("target", p.Target.String()),
			slog.Int("misses", p.Misses), slog.Int("missesLeft", p.MissesLeft), slog.Duration("timeLeft", p.TimeLeft))
	}
}

// logAgreement logs how a binding's DNS answer and its interfaces agree,
// when it has both and both answered: a warning when DNS gives an address
// no interface holds, a debug line otherwise (DNS showing a subset of the
// nodes is normal: Route 53 answers at most 8).
func logAgreement(ctx context.Context, log *slog.Logger, b tgsync.BindingResult) {
	a := b.Answer.Agreement
	if a == nil || b.SourceErr != nil {
		return
	}
	dnsOnly := make([]string, len(a.DNSOnly))
	for i, addr := range a.DNSOnly {
		dnsOnly[i] = addr.String()
	}
	attrs := []slog.Attr{slog.Any("dnsOnly", dnsOnly), slog.Int("interfaceAddresses", a.Interfaces),
		slog.Int("seenByDNS", a.SeenByDNS), slog.Float64("share", a.Share())}
	if len(a.DNSOnly) > 0 {
		log.LogAttrs(ctx, slog.LevelWarn, "DNS gives addresses no network interface holds", attrs...)
		return
	}
	log.LogAttrs(ctx, slog.LevelDebug, "sources agree", attrs...)
}
