package status

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// PageOptions shape the HTML page.
type PageOptions struct {
	// Title heads the page; "" means "tgsync".
	Title string
	// Refresh is the reload interval; 0 or negative turns it off.
	Refresh time.Duration
}

// RenderJSON renders the status as /api/status serves it.
func RenderJSON(st Status) ([]byte, error) {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	return append(b, '\n'), nil
}

// ago renders how long before now t was, coarsely, for people.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " from now"
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds%s", int(d/time.Second), suffix)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds%s", int(d/time.Minute), int(d%time.Minute/time.Second), suffix)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm%s", int(d/time.Hour), int(d%time.Hour/time.Minute), suffix)
	}
	return fmt.Sprintf("%dd%s", int(d/(24*time.Hour)), suffix)
}

// clock renders a time in UTC, to the second.
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// dur renders a duration to the second, or to the millisecond below one
// second.
func dur(d tgsync.Duration) string {
	v := time.Duration(d)
	if v < time.Second {
		return v.Round(time.Millisecond).String()
	}
	return v.Round(time.Second).String()
}

// stateClass is the CSS class of a health state.
func stateClass(t TargetStatus) string {
	if !t.Registered {
		return "s-absent"
	}
	switch t.State {
	case tgsync.HealthHealthy:
		return "s-healthy"
	case tgsync.HealthUnhealthy, tgsync.HealthUnhealthyDraining:
		return "s-unhealthy"
	case tgsync.HealthDraining:
		return "s-draining"
	case tgsync.HealthInitial:
		return "s-initial"
	}
	return "s-other"
}

func stateLabel(t TargetStatus) string {
	switch {
	case !t.Registered:
		return "not registered"
	case t.State == "":
		return "unknown"
	}
	return string(t.State)
}

// shortARN keeps the part of a target group ARN people recognise:
// targetgroup/name/id.
func shortARN(arn string) string {
	if i := strings.Index(arn, ":targetgroup/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// pendingText says in one line when a missed target leaves.
func pendingText(p PendingStatus) string {
	s := fmt.Sprintf("absent from %d answer%s over %s (leaves after %d and %s)", p.Misses, plural(p.Misses, "s"), dur(p.MissingFor),
		p.MissesNeeded, dur(p.DurationNeeded))
	switch {
	case p.BlockedBy != "":
		return s + "; grace over, kept by rule " + p.BlockedBy
	case p.Due:
		return s + "; grace over: the next run deregisters it if it is still absent"
	}
	var parts []string
	if p.MissesLeft > 0 {
		parts = append(parts, fmt.Sprintf("%d more miss%s", p.MissesLeft, plural(p.MissesLeft, "es")))
	}
	if p.TimeLeft > 0 {
		parts = append(parts, dur(p.TimeLeft))
	}
	return s + "; " + strings.Join(parts, " and ") + " to go"
}

// pct renders a fraction as a percentage: 0.5 is 50%.
func pct(f float64) string { return fmt.Sprintf("%g%%", f*100) }

// plural returns the suffix for n of something.
func plural(n int, suffix string) string {
	if n == 1 {
		return ""
	}
	return suffix
}
