package status

import (
	"bytes"
	"html"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The status page is written by hand rather than with html/template:
// text/template calls methods by name through reflection, and a binary
// that can do that keeps every exported method of every reachable type.
// That kept each AWS client whole (hundreds of S3 operations) and more
// than doubled the Lambda package. TestBootstrapDeps (cmd/tgsync) keeps
// text/template out.

// markup is HTML written as it stands. Only string constants convert to it
// without a conversion, so a value from DNS, AWS or the config cannot reach
// the page unescaped by accident: it has to go through pageWriter.text.
type markup string

// pageWriter builds the page. Every dynamic string goes through text,
// numbers through num; markup holds only this file's literals.
type pageWriter struct {
	b bytes.Buffer
	// now is the status's Generated time, which "ago" counts from.
	now time.Time
}

func (w *pageWriter) lit(s markup) { w.b.WriteString(string(s)) }

// text writes s as element text or as a double-quoted attribute value.
func (w *pageWriter) text(s string) { w.b.WriteString(esc(s)) }

func (w *pageWriter) num(n int) { w.b.WriteString(strconv.Itoa(n)) }

// wrap writes s escaped between two pieces of markup, most often an
// element's opening and closing tags.
func (w *pageWriter) wrap(open markup, s string, close markup) {
	w.lit(open)
	w.text(s)
	w.lit(close)
}

// esc escapes s for HTML text and quoted attribute values. A NUL, which
// HTML parsers drop or replace, becomes U+FFFD as html/template made it.
func esc(s string) string {
	return html.EscapeString(strings.ReplaceAll(s, "\x00", "\uFFFD"))
}

// RenderHTML renders the status page. Every name, source, reason and
// error is escaped: they come from DNS answers and AWS and must never
// become markup. The error is always nil; it keeps the signature that
// callers share with RenderJSON.
func RenderHTML(st Status, opts PageOptions) ([]byte, error) {
	title := opts.Title
	if title == "" {
		title = "tgsync"
	}
	refresh := 0
	if opts.Refresh > 0 {
		refresh = max(1, int(opts.Refresh.Round(time.Second)/time.Second))
	}
	w := &pageWriter{now: st.Generated}
	w.head(title, refresh)
	w.header(st, title, refresh)
	w.lit("\n<main>")
	if r := st.LastRun; r != nil && r.Error != "" {
		w.alert("The last run failed:", r.Error)
	}
	if len(st.Bindings) == 0 {
		w.lit("\n<p class=\"muted\">No bindings are configured.</p>")
	} else {
		w.legend()
	}
	for _, b := range st.Bindings {
		w.binding(b)
	}
	w.drains(st.Drains)
	w.retiredSection(st.Retired)
	w.lit("\n</main>\n</body>\n</html>\n")
	return w.b.Bytes(), nil
}

// head is the document head: viewport for phones, the optional reload
// (the page has no JavaScript) and the style sheet.
func (w *pageWriter) head(title string, refresh int) {
	w.lit("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
	if refresh > 0 {
		w.lit("\n<meta http-equiv=\"refresh\" content=\"")
		w.num(refresh)
		w.lit("\">")
	}
	w.wrap("\n<title>", title, " status</title>\n<style>\n")
	w.lit(pageCSS)
	w.lit("</style>\n</head>\n<body>")
}

// header says when the page was made and how the last run went.
func (w *pageWriter) header(st Status, title string, refresh int) {
	w.wrap("\n<header>\n<h1>", title, " status</h1>\n<p>Generated ")
	w.text(clock(st.Generated))
	if r := st.LastRun; r != nil {
		w.wrap(" · last run ", ago(w.now, r.Finished), ", took ")
		w.text(dur(r.Duration))
		if len(r.Failed) > 0 {
			w.lit(", <b>")
			w.num(len(r.Failed))
			w.lit(" failed</b>")
		}
	} else {
		w.lit(" · no run result in this process")
	}
	if refresh > 0 {
		w.lit(" · reloads every ")
		w.num(refresh)
		w.lit("s")
	}
	w.lit(" · <a href=\"api/status\">JSON</a></p>\n</header>")
}

// alert is a red box: a bold label and the escaped message.
func (w *pageWriter) alert(label markup, msg string) {
	w.lit("\n<div class=\"alert\"><b>")
	w.lit(label)
	w.wrap("</b> ", msg, "</div>")
}

// binding is one binding's section, linkable as #binding-NAME.
func (w *pageWriter) binding(b BindingStatus) {
	w.wrap("\n<section class=\"binding\" id=\"binding-", b.Name, "\">")
	w.bindingTitle(b)
	w.route(b)
	w.counts(b.Counts)
	if b.LastError != "" {
		w.alert("Last error:", b.LastError)
	}
	if r := b.LastRun; r != nil && r.SourceError != "" {
		w.alert("Source failed in the last run:", r.SourceError)
	}
	w.chart(b)
	w.answer(b.Answer)
	w.targets(b)
	w.refusing(b.Refusing)
	w.events(b.Events)
	w.policy(b)
	w.lit("\n</section>")
}

// bindingTitle is the name with its badges: how the last run went, how
// healthy the group is, refusing, pending.
func (w *pageWriter) bindingTitle(b BindingStatus) {
	w.lit("\n<h2>")
	w.text(b.Name)
	w.wrap("\n<span class=\"badge ", outcomeClass(b.Outcome), "\" title=\"how tgsync's last run of this binding went\">run: ")
	w.wrap("", outcomeLabel(b.Outcome), "</span>")
	w.wrap("\n<span class=\"badge ", healthClass(b.GroupHealth), "\" title=\"the target group's health as last seen\">group: ")
	w.wrap("", healthLabel(b), "</span>")
	w.lit("\n")
	if len(b.Refusing) > 0 {
		w.lit("<span class=\"badge b-ref\">refusing ")
		w.num(len(b.Refusing))
		w.lit("</span>")
	}
	w.lit("\n")
	if len(b.Pending) > 0 {
		w.lit("<span class=\"badge b-wait\">pending ")
		w.num(len(b.Pending))
		w.lit("</span>")
	}
	w.lit("</h2>")
}

// route is source → target group, with the ports.
func (w *pageWriter) route(b BindingStatus) {
	w.wrap("\n<p class=\"route\"><code>", b.Source, "</code> → ")
	w.wrap("<span title=\"", b.TargetGroupARN, "\">")
	w.text(shortARN(b.TargetGroupARN))
	w.lit("</span>")
	if len(b.Ports) > 0 {
		w.lit(" · port")
		if len(b.Ports) > 1 {
			w.lit("s")
		}
		w.lit(" ")
		for i, p := range b.Ports {
			if i > 0 {
				w.lit(", ")
			}
			w.num(int(p))
		}
	}
	w.lit("</p>")
}

// counts are the pills under the title; unhealthy and draining only when
// there are any.
func (w *pageWriter) counts(c Counts) {
	w.lit("\n<div class=\"counts\">")
	w.count("\n", "desired", c.Desired)
	w.count("\n", "registered", c.Registered)
	w.count("\n", "healthy", c.Healthy)
	if c.Unhealthy > 0 {
		w.count("", "unhealthy", c.Unhealthy)
	}
	if c.Draining > 0 {
		w.count("", "draining", c.Draining)
	}
	w.count("\n", "pending", c.Pending)
	w.lit("\n</div>")
}

func (w *pageWriter) count(sep, label markup, n int) {
	w.lit(sep)
	w.lit("<span class=\"count\">")
	w.lit(label)
	w.lit(" <b>")
	w.num(n)
	w.lit("</b></span>")
}

// answer is what the source said last, addresses outside the allowed
// ranges struck through.
func (w *pageWriter) answer(a *AnswerStatus) {
	w.lit("\n\n<h3>Source says</h3>")
	if a == nil {
		w.lit("\n<p class=\"muted\">No successful answer yet.</p>")
		return
	}
	w.lit("\n<p class=\"addrs\">")
	for _, addr := range a.Addrs {
		if slices.Contains(a.NotAllowed, addr) {
			w.wrap("<span class=\"refused\"><code>", addr, "</code> not allowed</span>")
		} else {
			w.wrap("<code>", addr, "</code>")
		}
	}
	if len(a.Addrs) == 0 {
		w.lit("<span class=\"muted\">no addresses</span>")
	}
	w.wrap("</p>\n<p class=\"route\">TTL ", dur(a.TTL), " · this answer since ")
	w.text(clock(a.Since))
	w.wrap(" (", ago(w.now, a.Since), ")")
	if !a.SeenAt.IsZero() {
		w.lit(" · last seen ")
		w.text(ago(w.now, a.SeenAt))
	}
	w.lit("</p>")
	if g := a.Agreement; g != nil {
		w.lit("\n<p class=\"route\">DNS showed ")
		w.num(g.SeenByDNS)
		w.lit(" of ")
		w.num(g.InterfaceAddresses)
		w.wrap(" network interface addresses (", pct(float64(int(g.Share*1000+0.5))/1000), ")")
		if len(g.DNSOnly) > 0 {
			w.wrap(" · <b>in DNS, on no interface:</b> <code>", strings.Join(g.DNSOnly, " "), "</code>")
		}
		w.lit("</p>")
	}
}

// targets is the group's members and the desired targets it lacks, each
// coloured by its health state.
func (w *pageWriter) targets(b BindingStatus) {
	w.lit("\n\n<h3>Target group")
	switch b.TargetsFrom {
	case "run":
		w.wrap(" after the last run, described ", ago(w.now, b.TargetsAt), "")
	case "describe":
		w.wrap(" as described ", ago(w.now, b.TargetsAt), "")
	case "state":
		w.wrap(" as last seen, ", ago(w.now, b.TargetsAt), "")
	}
	w.lit("</h3>")
	if b.ObserveError != "" {
		w.alert("Could not describe the target group:", b.ObserveError)
	}
	if b.TargetsFrom == "state" {
		w.wrap("\n<p class=\"note\">Members and health as the describe at ", clock(b.TargetsAt), "")
		w.wrap(" (", dur(b.TargetsAge), " ago) found them, with tgsync's own changes since; any describe since found them the same.")
		if r := b.LastRun; b.ObserveError != "" || r != nil && (r.SourceError != "" || r.Error != "") {
			w.lit(" The group may have changed since: tgsync could not look at it now.")
		}
		w.lit("</p>")
	}
	if b.TargetsFrom == "" {
		w.lit("\n<p class=\"muted\">The group's members are not known here; desired targets only.</p>")
	}
	w.lit("\n<ul>")
	for _, t := range b.Targets {
		w.target(t)
	}
	if len(b.Targets) == 0 {
		w.lit("\n<li class=\"muted\">The target group is empty.</li>")
	}
	w.lit("\n</ul>")
}

func (w *pageWriter) target(t TargetStatus) {
	w.wrap("\n<li class=\"target ", stateClass(t), "\">\n<div class=\"row\">")
	w.wrap("<code>", t.Target, "</code>")
	w.wrap(" <span class=\"state\">", stateLabel(t), "</span>")
	switch {
	case t.Desired:
		w.lit(" <span class=\"tag t-want\">in source</span>")
	case t.Foreign:
		w.lit(" <span class=\"tag\">not owned: left alone</span>")
	default:
		w.lit(" <span class=\"tag t-gone\">not in source</span>")
	}
	if t.AvailabilityZone != "" {
		w.wrap(" <span class=\"az\">", t.AvailabilityZone, "</span>")
	}
	w.lit("</div>")
	if t.Reason != "" {
		w.lit("\n<div class=\"reason\">")
		w.text(t.Reason)
		if t.Description != "" {
			w.lit(": ")
			w.text(t.Description)
		}
		w.lit("</div>")
	}
	if p := t.Pending; p != nil {
		w.wrap("\n<div class=\"pending\">", pendingText(*p), "</div>")
		w.countdown(*p)
		if p.BlockedReason != "" {
			w.wrap("<div class=\"reason\">", p.BlockedReason, "</div>")
		}
	}
	w.lit("\n</li>")
}

// refusing lists what a safety rule stops right now.
func (w *pageWriter) refusing(refusals []EventStatus) {
	if len(refusals) == 0 {
		return
	}
	w.lit("\n<h3>Refusing now</h3>\n<ul>")
	for _, r := range refusals {
		w.wrap("\n<li class=\"event e-refused\"><div class=\"ehead\"><span class=\"kind\">refuses ", string(r.Action), "</span>")
		if r.Target != "" {
			w.wrap(" <code>", r.Target, "</code>")
		}
		w.wrap(" <span class=\"rule\">[", r.Rule, "]</span>")
		if !r.Time.IsZero() {
			w.wrap(" <time>since ", clock(r.Time), "</time>")
		}
		w.wrap("</div>\n<div class=\"reason\">", r.Reason, "</div></li>")
	}
	w.lit("\n</ul>")
}

// shownEvents is how many events show before the rest fold away.
const shownEvents = 10

// events is the binding's history, newest first, the older ones folded.
func (w *pageWriter) events(events []EventStatus) {
	w.lit("\n\n<h3>Changes and refusals, newest first</h3>\n<ul>")
	shown, older := events[:min(shownEvents, len(events))], events[min(shownEvents, len(events)):]
	for _, e := range shown {
		w.event(e)
	}
	if len(shown) == 0 {
		w.lit("\n<li class=\"muted\">Nothing yet.</li>")
	}
	w.lit("\n</ul>")
	if len(older) == 0 {
		return
	}
	w.lit("\n<details><summary>")
	w.num(len(older))
	w.lit(" older</summary><ul>")
	for _, e := range older {
		w.event(e)
	}
	w.lit("\n</ul></details>")
}

// event is one change or refusal, coloured by its kind.
func (w *pageWriter) event(e EventStatus) {
	w.wrap("\n\n<li class=\"event e-", e.Kind, "\"><div class=\"ehead\"><span class=\"kind\">")
	if e.Kind == KindRefused {
		w.lit("refused ")
		w.text(string(e.Action))
	} else {
		w.text(e.Kind)
	}
	w.lit("</span>")
	if e.Target != "" {
		w.wrap(" <code>", e.Target, "</code>")
	}
	if e.Rule != "" {
		w.wrap(" <span class=\"rule\">[", e.Rule, "]</span>")
	}
	w.wrap(" <time>", clock(e.Time)+" · "+ago(w.now, e.Time), "</time></div>")
	w.wrap("\n<div class=\"reason\">", e.Reason, "</div>")
	if e.Error != "" {
		w.wrap("<div class=\"err\">", e.Error, "</div>")
	}
	w.lit("</li>")
}

// policy is the binding's safety policy in one sentence.
func (w *pageWriter) policy(b BindingStatus) {
	p := b.Policy
	w.lit("\n<p class=\"policy\">Policy: deregister after ")
	w.num(p.AfterMisses)
	w.wrap(" missed answers and ", dur(p.AfterDuration), "; at most ")
	w.text(pct(p.MaxFraction))
	w.lit(" per run;\n")
	if p.Shared {
		w.lit("shared group: removes only what it registered")
	} else {
		w.lit("owns the whole group")
	}
	w.wrap("; allowed ranges ", strings.Join(p.AllowedRanges, ", "), ".")
	if r := b.LastRun; r != nil {
		w.lit(" Last run of this binding took ")
		w.text(dur(r.Duration))
		if r.Unfinished {
			w.lit(", unfinished")
		}
		w.lit(".")
	}
	w.lit("</p>")
}
