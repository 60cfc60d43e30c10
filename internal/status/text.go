package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// TextOptions shape WriteText.
type TextOptions struct {
	// Events is how many recent events to show per binding; 0 means 5,
	// a negative value none.
	Events int
}

// WriteText prints the status as 'tgsync status' shows it: per binding the
// answer, the targets with their state, reason, whether the source wants
// them and their countdown, what is refused now, and the latest events.
func WriteText(w io.Writer, st Status, opts TextOptions) error {
	if opts.Events == 0 {
		opts.Events = 5
	}
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "tgsync status at %s", clock(st.Generated))
	if r := st.LastRun; r != nil {
		fmt.Fprintf(ew, "; last run %s, took %s", ago(st.Generated, r.Finished), dur(r.Duration))
		if len(r.Failed) > 0 {
			fmt.Fprintf(ew, ", failed: %s", strings.Join(r.Failed, ", "))
		}
	}
	fmt.Fprintln(ew)
	if r := st.LastRun; r != nil && r.Error != "" {
		fmt.Fprintf(ew, "run error: %s\n", oneLine(r.Error))
	}
	for _, b := range st.Bindings {
		writeBinding(ew, st, b, opts)
	}
	writeRetired(ew, st.Retired)
	if len(st.Drains) > 0 && opts.Events > 0 {
		fmt.Fprintf(ew, "\nSpot drains:\n")
		for _, d := range st.Drains[:min(opts.Events, len(st.Drains))] {
			what := strings.Join(d.Deregistered, " ")
			if d.Error != "" {
				what = strings.TrimSpace(what + " error: " + oneLine(d.Error))
			}
			fmt.Fprintf(ew, "  %s  %s  task %s  %s\n", clock(d.Time), shortARN(d.TargetGroupARN), d.Task, what)
		}
	}
	return ew.err
}

func writeBinding(w io.Writer, st Status, b BindingStatus, opts TextOptions) {
	fmt.Fprintf(w, "\nbinding %s: %s -> %s\n", b.Name, b.Source, shortARN(b.TargetGroupARN))
	c := b.Counts
	fmt.Fprintf(w, "  desired %d, registered %d, healthy %d, unhealthy %d, draining %d, pending %d, refusing %d\n",
		c.Desired, c.Registered, c.Healthy, c.Unhealthy, c.Draining, c.Pending, c.Refusing)
	fmt.Fprintf(w, "  last run %s; group %s\n", outcomeLabel(b.Outcome), healthLabel(b))
	if a := b.Answer; a != nil {
		fmt.Fprintf(w, "  answer   %s (ttl %s, since %s, %s)\n", strings.Join(a.Addrs, " "), dur(a.TTL), clock(a.Since), ago(st.Generated, a.Since))
	} else {
		fmt.Fprintf(w, "  answer   none yet\n")
	}
	if b.LastError != "" {
		fmt.Fprintf(w, "  error    %s\n", oneLine(b.LastError))
	}
	if b.ObserveError != "" {
		fmt.Fprintf(w, "  describe failed: %s\n", oneLine(b.ObserveError))
	}
	switch b.TargetsFrom {
	case "":
		fmt.Fprintf(w, "  (group members unknown: desired targets only)\n")
	case "state":
		fmt.Fprintf(w, "  (members and health as last seen, %s old)\n", dur(b.TargetsAge))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  TARGET\tSTATE\tIN SOURCE\tREASON\tPENDING\n")
	for _, t := range b.Targets {
		want := "no"
		switch {
		case t.Desired:
			want = "yes"
		case t.Foreign:
			want = "no (not owned)"
		}
		pending := "-"
		if t.Pending != nil {
			pending = pendingText(*t.Pending)
		}
		reason := t.Reason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", t.Target, stateLabel(t), want, oneLine(reason), pending)
	}
	_ = tw.Flush()
	for _, r := range b.Refusing {
		target := ""
		if r.Target != "" {
			target = " " + r.Target
		}
		fmt.Fprintf(w, "  refusing %s%s [%s]: %s\n", r.Action, target, r.Rule, oneLine(r.Reason))
	}
	if opts.Events > 0 && len(b.Events) > 0 {
		fmt.Fprintf(w, "  recent events:\n")
		for _, e := range b.Events[:min(opts.Events, len(b.Events))] {
			kind := e.Kind
			if e.Rule != "" {
				kind += " [" + e.Rule + "]"
			}
			target := e.Target
			if target == "" {
				target = "-"
			}
			fmt.Fprintf(w, "    %s  %-10s %s  %s\n", clock(e.Time), kind, target, oneLine(e.Reason))
		}
	}
}

// oneLine keeps a reason or error on its line of the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errWriter remembers the first write error, so that printing stays
// readable and the error still reaches the caller.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
