package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tgsync/tgsync"
)

// printPlan writes a dry run for people: per binding the answer, then every
// planned change, refusal and pending removal with its reason.
func printPlan(w io.Writer, res tgsync.RunResult) {
	for i, b := range res.Bindings {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "binding %s: %s -> %s\n", b.Binding, b.Source, b.TargetGroupARN)
		switch {
		case b.SourceErr != nil:
			fmt.Fprintf(w, "  source failed: %v\n", b.SourceErr)
		case b.Err != nil:
			fmt.Fprintf(w, "  error: %v\n", b.Err)
		default:
			fmt.Fprintf(w, "  answer: %d address(es), ttl %s; group holds %d target(s)\n", len(b.Answer.Addrs), b.Answer.TTL, len(b.Observed))
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range b.Plan.Register {
			fmt.Fprintf(tw, "  + register\t%s\t%s\n", c.Target, c.Reason)
		}
		for _, c := range b.Plan.Deregister {
			fmt.Fprintf(tw, "  - deregister\t%s\t%s\n", c.Target, c.Reason)
		}
		for _, r := range b.Plan.Refused {
			target := "-"
			if r.Target.IP.IsValid() {
				target = r.Target.String()
			}
			fmt.Fprintf(tw, "  ! refuse %s\t%s\t[%s] %s\n", r.Action, target, r.Rule, r.Reason)
		}
		for _, p := range b.Plan.Pending {
			fmt.Fprintf(tw, "  ~ pending\t%s\tmissed %d time(s) over %s; %d more miss(es) and %s to go\n",
				p.Target, p.Misses, p.MissingFor.Round(time.Second), p.MissesLeft, p.TimeLeft.Round(time.Second))
		}
		_ = tw.Flush()
		if b.Plan.Empty() && len(b.Plan.Refused) == 0 && b.Err == nil {
			fmt.Fprintln(w, "  no changes")
		}
	}
}
