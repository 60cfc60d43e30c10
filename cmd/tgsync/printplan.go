package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tgsync/tgsync"
)

// printRun writes a run for people: per binding the answer, then every
// change (planned, in a dry run; applied, otherwise), refusal and pending
// removal with its reason. It is what plan and once print on stdout; the
// log on stderr is for the record.
func printRun(w io.Writer, res tgsync.RunResult, dryRun bool) {
	reg, dereg := "+ registered", "- deregistered"
	if dryRun {
		reg, dereg = "+ register", "- deregister"
	}
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
		regs, deregs := b.Registered, b.Deregistered
		if dryRun {
			regs, deregs = b.Plan.Register, b.Plan.Deregister
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range regs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", reg, c.Target, c.Reason)
		}
		for _, c := range deregs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", dereg, c.Target, c.Reason)
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
		if len(regs)+len(deregs)+len(b.Plan.Refused) == 0 && b.Err == nil {
			fmt.Fprintln(w, "  no changes")
		}
	}
}

// hasChanges reports whether a dry run planned a registration or a
// deregistration: what plan --detailed-exitcode exits 3 for.
func hasChanges(res tgsync.RunResult) bool {
	for _, b := range res.Bindings {
		if len(b.Plan.Register)+len(b.Plan.Deregister) > 0 {
			return true
		}
	}
	return false
}
