package status

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tgsync/tgsync"
)

// The pictures of the page: each binding's counts over the last hours as
// an inline SVG chart, each pending removal's countdown as a bar, and the
// legend that says what the badges and the chart's lines and marks mean.
// They are drawn on the server, so the page needs no script.

// chartWindow is the longest time the chart spans, ending at the status's
// time: what the state keeps.
const chartWindow = tgsync.TrendRetention

// The chart's drawing box; the SVG stretches it to the page's width.
const chartW, chartH = 600.0, 90.0

// legend explains the badges and the chart once per page.
func (w *pageWriter) legend() {
	w.lit("\n<details class=\"legend\"><summary>Legend</summary>" +
		"\n<p><span class=\"badge b-ok\">run: ok</span> how tgsync's last run of the binding went: <i>ok</i>, <i>source failed</i> " +
		"(nothing was removed), <i>failed</i> or <i>unfinished</i>. It says nothing about the targets' health.</p>" +
		"\n<p><span class=\"badge g-ok\">group: 3 of 3 healthy</span> the target group as last seen: healthy targets of those registered " +
		"(draining ones left out). Amber: some are not healthy; red: none is (the load balancer then sends traffic to all of them).</p>" +
		"\n<p>Counts chart, up to the last ")
	w.num(int(chartWindow / time.Hour))
	w.lit(" hours: " +
		"<span class=\"key k-desired\"></span>desired " +
		"<span class=\"key k-registered\"></span>registered " +
		"<span class=\"key k-healthy\"></span>healthy; marks: " +
		"<span class=\"key k-answer\"></span>the answer changed " +
		"<span class=\"key k-fail\"></span>the source failed " +
		"<span class=\"key k-drain\"></span>Spot drain. " +
		"A bar under a target waiting to leave fills as its grace runs out.</p></details>")
}

// chart draws the binding's trend: three step lines and the marks of
// answer changes, source failures and drains.
func (w *pageWriter) chart(b BindingStatus) {
	if len(b.Trend) == 0 {
		w.lit("\n\n<h3>Counts</h3>\n<p class=\"muted\">No counts recorded yet.</p>")
		return
	}
	end := w.now
	span := chartSpan(b.Trend[0].At, end)
	start := end.Add(-span)
	w.wrap("\n\n<h3>Counts, last ", spanText(span), "</h3>")
	top := 1
	for _, p := range b.Trend {
		top = max(top, p.Desired, p.Registered, p.Healthy)
	}
	last := b.Trend[len(b.Trend)-1]
	w.lit("\n<div class=\"chart\"><svg role=\"img\" viewBox=\"0 0 600 90\" preserveAspectRatio=\"none\" aria-label=\"")
	w.text(fmt.Sprintf("counts over the last %s; now desired %d, registered %d, healthy %d",
		spanText(span), last.Desired, last.Registered, last.Healthy))
	w.lit("\">")
	x := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(span)
		return min(max(f, 0), 1) * chartW
	}
	y := func(v int) float64 { return chartH - 5 - float64(v)*(chartH-12)/float64(top) }
	for _, m := range chartMarks(b, start) {
		w.lit("\n<line class=\"")
		w.lit(m.class)
		w.lit("\" x1=\"")
		w.lit(coord(x(m.at)))
		w.lit("\" x2=\"")
		w.lit(coord(x(m.at)))
		w.lit("\" y1=\"0\" y2=\"90\"><title>")
		w.text(m.title)
		w.lit("</title></line>")
	}
	// What the group holds is an area; healthy and desired are lines on
	// it, desired dashed, so that equal counts stay visible.
	first := later(b.Trend[0].At, start)
	w.lit("\n<polygon class=\"a-registered\" points=\"")
	w.lit(coord(x(first)))
	w.lit(",90 ")
	w.lit(stepPoints(b.Trend, func(p TrendPoint) int { return p.Registered }, start, end, x, y))
	w.lit(" ")
	w.lit(coord(x(end)))
	w.lit(",90\"/>")
	series := []struct {
		class markup
		value func(TrendPoint) int
	}{
		{"l-healthy", func(p TrendPoint) int { return p.Healthy }},
		{"l-desired", func(p TrendPoint) int { return p.Desired }},
	}
	for _, s := range series {
		w.lit("\n<polyline class=\"")
		w.lit(s.class)
		w.lit("\" points=\"")
		w.lit(stepPoints(b.Trend, s.value, start, end, x, y))
		w.lit("\"/>")
	}
	w.wrap("\n</svg><div class=\"axis\"><span>", spanText(span), " ago</span><span>max ")
	w.num(top)
	w.lit("</span><span>now</span></div></div>")
}

// chartSpan is the time the chart spans, ending now: since the first
// point, at least minChartSpan and at most chartWindow, so that a new
// binding's first minutes are not squeezed against the right edge.
func chartSpan(first, now time.Time) time.Duration {
	return min(max(now.Sub(first), minChartSpan), chartWindow)
}

const minChartSpan = 10 * time.Minute

// spanText renders a span coarsely: "12h", "3h20m", "11m".
func spanText(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// mark is a vertical line on the chart.
type mark struct {
	at    time.Time
	class markup
	title string
}

// chartMarks are the answer changes of the trend, and the source failures
// and drains of the history, inside the window.
func chartMarks(b BindingStatus, start time.Time) []mark {
	var out []mark
	for _, p := range b.Trend {
		if p.Answer && p.At.After(start) {
			out = append(out, mark{p.At, "m-answer", "answer changed at " + clock(p.At)})
		}
	}
	for _, e := range b.Events {
		if !e.Time.After(start) {
			continue
		}
		switch {
		case e.Kind == KindRefused && e.Rule == tgsync.RuleSourceFailed:
			out = append(out, mark{e.Time, "m-fail", "source failed at " + clock(e.Time) + ": " + e.Reason})
		case e.Kind == KindDrain:
			out = append(out, mark{e.Time, "m-drain", "Spot drain at " + clock(e.Time) + " " + e.Target})
		}
	}
	return out
}

// stepPoints is the polyline of one count: level between points, a
// vertical step at each, from the window's start (or the first point) to
// now.
func stepPoints(tr []TrendPoint, value func(TrendPoint) int, start, end time.Time, x func(time.Time) float64, y func(int) float64) markup {
	var b strings.Builder
	add := func(px, py float64) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(coord(px)) + "," + string(coord(py)))
	}
	first := later(tr[0].At, start)
	prev := value(tr[0])
	add(x(first), y(prev))
	for _, p := range tr[1:] {
		v := value(p)
		add(x(p.At), y(prev))
		add(x(p.At), y(v))
		prev = v
	}
	add(x(end), y(prev))
	return markup(b.String())
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// coord renders a number of the drawing box; only digits, a point and a
// minus sign, so it is markup by construction.
func coord(f float64) markup { return markup(strconv.FormatFloat(f, 'f', 1, 64)) }

// countdown is a pending removal's grace as a bar that fills as it runs
// out: the slower of the missed answers and the time decides.
func (w *pageWriter) countdown(p PendingStatus) {
	frac := 1.0
	if !p.Due {
		if p.MissesNeeded > 0 {
			frac = min(frac, float64(p.Misses)/float64(p.MissesNeeded))
		}
		if p.DurationNeeded > 0 {
			frac = min(frac, float64(p.MissingFor)/float64(p.DurationNeeded))
		}
	}
	pct := int(max(0, min(frac, 1)) * 100)
	class := markup("bar")
	switch {
	case p.BlockedBy != "":
		class = "bar bar-blocked"
	case p.Due:
		class = "bar bar-due"
	}
	w.lit("\n<div class=\"")
	w.lit(class)
	w.lit("\" role=\"progressbar\" aria-valuemin=\"0\" aria-valuemax=\"100\" aria-valuenow=\"")
	w.num(pct)
	w.lit("\"><span style=\"width:")
	w.num(pct)
	w.lit("%\"></span></div>")
}

// drains lists the Spot drains the state remembers.
func (w *pageWriter) drains(ds []DrainStatus) {
	if len(ds) == 0 {
		return
	}
	w.lit("\n<section class=\"binding\" id=\"drains\">\n<h2>Spot drains, newest first</h2>\n<ul>")
	for i, d := range ds {
		if i == shownEvents {
			w.lit("\n</ul><details><summary>")
			w.num(len(ds) - shownEvents)
			w.lit(" older</summary><ul>")
		}
		w.lit("\n<li class=\"event e-drain\"><div class=\"ehead\"><span class=\"kind\">drain</span>")
		w.wrap(" <span title=\"", d.TargetGroupARN, "\">")
		w.wrap("", shortARN(d.TargetGroupARN), "</span>")
		w.wrap(" <time>", clock(d.Time)+" · "+ago(w.now, d.Time), "</time></div>")
		if d.Reason != "" {
			w.wrap("\n<div class=\"reason\">", d.Reason, "</div>")
		} else {
			w.wrap("\n<div class=\"reason\">task ", d.Task, "</div>")
		}
		if len(d.Deregistered) > 0 {
			w.wrap("<div class=\"reason\">deregistered <code>", strings.Join(d.Deregistered, " "), "</code></div>")
		}
		if d.Error != "" {
			w.wrap("<div class=\"err\">", d.Error, "</div>")
		}
		w.lit("</li>")
	}
	if len(ds) > shownEvents {
		w.lit("\n</ul></details>")
	} else {
		w.lit("\n</ul>")
	}
	w.lit("\n</section>")
}

// outcomeClass and healthClass colour the badges.
func outcomeClass(o string) string {
	switch o {
	case OutcomeOK:
		return "b-ok"
	case OutcomeUnknown:
		return "b-unknown"
	case OutcomeUnfinished:
		return "b-wait"
	}
	return "b-bad"
}

func healthClass(h string) string {
	switch h {
	case GroupHealthy:
		return "g-ok"
	case GroupPartlyHealthy:
		return "g-warn"
	case GroupNoHealthy, GroupEmpty:
		return "g-bad"
	}
	return "b-unknown"
}
