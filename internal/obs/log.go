// Package obs is how tgsync tells people what it did: structured logs,
// metrics and the per-run summary.
package obs

import (
	"context"
	"io"
	"log/slog"
	"os"
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

// NewLogger returns a slog logger writing in the given format.
func NewLogger(w io.Writer, f Format, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f == FormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// IsTerminal reports whether f is a character device, for choosing defaults.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// LogRun writes one line per change and refusal and one summary line for
// the run. Pending targets are logged at debug level.
func LogRun(ctx context.Context, log *slog.Logger, res tgsync.RunResult, dryRun bool) {
	changes, refusals, failed := 0, 0, 0
	for _, b := range res.Bindings {
		bl := log.With("binding", b.Binding)
		for _, c := range b.Registered {
			changes++
			bl.LogAttrs(ctx, slog.LevelInfo, "register", slog.String("target", c.Target.String()), slog.String("action", string(c.Action)), slog.String("reason", c.Reason))
		}
		for _, c := range b.Deregistered {
			changes++
			bl.LogAttrs(ctx, slog.LevelWarn, "deregister", slog.String("target", c.Target.String()), slog.String("action", string(c.Action)), slog.String("reason", c.Reason))
		}
		if dryRun {
			for _, c := range append(append([]tgsync.Change(nil), b.Plan.Register...), b.Plan.Deregister...) {
				bl.LogAttrs(ctx, slog.LevelInfo, "would "+string(c.Action), slog.String("target", c.Target.String()), slog.String("action", string(c.Action)), slog.String("reason", c.Reason), slog.Bool("dryRun", true))
			}
		}
		for _, r := range b.Plan.Refused {
			refusals++
			attrs := []slog.Attr{slog.String("action", string(r.Action)), slog.String("rule", r.Rule), slog.String("reason", r.Reason)}
			if r.Target.IP.IsValid() {
				attrs = append(attrs, slog.String("target", r.Target.String()))
			}
			bl.LogAttrs(ctx, slog.LevelWarn, "refused", attrs...)
		}
		logAgreement(ctx, bl, b)
		for _, p := range b.Plan.Pending {
			bl.LogAttrs(ctx, slog.LevelDebug, "pending deregistration", slog.String("target", p.Target.String()),
				slog.Int("misses", p.Misses), slog.Int("missesLeft", p.MissesLeft), slog.Duration("timeLeft", p.TimeLeft))
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
