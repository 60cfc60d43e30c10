package deploy

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/tgsync/tgsync/internal/obs"
)

// Result is what one tgsync deploy or deploy --delete did. The command's
// text is written from it as the deploy goes, and -o json is the whole of
// it at the end, so that the two cannot tell different stories.
type Result struct {
	Stack  string `json:"stack"`
	Region string `json:"region"`
	// Action is one of the Action* constants.
	Action string `json:"action"`
	// DryRun is set for --dry-run, whatever the change set said.
	DryRun bool `json:"dryRun"`
	// ChangeSet is what a create, an update or a dry run submits.
	ChangeSet *ChangeSet `json:"changeSet,omitempty"`
	// Status is the stack's status at the end: after a create or an
	// update, the one CloudFormation ended in; DELETE_COMPLETE after a
	// delete; "" when there is no stack.
	Status string `json:"status,omitempty"`
	// ElapsedSeconds is how long CloudFormation took to create or update
	// the stack.
	ElapsedSeconds int64 `json:"elapsedSeconds,omitempty"`
	// Failures are the resources that failed when the stack did not
	// complete; EventsError says why they could not be read.
	Failures    []ResourceFailure `json:"failures,omitempty"`
	EventsError string            `json:"eventsError,omitempty"`
	Outputs     map[string]string `json:"outputs,omitempty"`
	FirstRun    *FirstRun         `json:"firstRun,omitempty"`
	// State is what a delete did with the state.
	State *DeleteState `json:"state,omitempty"`
	// Error is the command's error when it failed after starting; the
	// library leaves it to its caller, which knows the final message.
	Error string `json:"error,omitempty"`
}

// The actions of a Result.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	// ActionNone is a deploy that would change nothing, or a delete of a
	// stack that does not exist.
	ActionNone   = "none"
	ActionDelete = "delete"
	// ActionDryRun is a dry run that has changes to show.
	ActionDryRun = "dry-run"
)

// ChangeSet is what a deploy submits: the parameters that change, and the
// resources CloudFormation will add, modify or remove (known for a dry
// run, which makes a change set; a deploy submits the stack directly).
type ChangeSet struct {
	// Type is create or update.
	Type       string            `json:"type"`
	Parameters []ParameterChange `json:"parameters"`
	Resources  []ResourceChange  `json:"resources,omitempty"`
}

// ParameterChange is one parameter the deploy sets that differs from the
// stack's. ConfigYaml's values are masked as "(the config, N bytes)" and
// the change shown as Diff, a line diff with context.
type ParameterChange struct {
	Key string `json:"key"`
	// Old is nil for a new stack.
	Old  *string  `json:"old,omitempty"`
	New  string   `json:"new"`
	Diff []string `json:"diff,omitempty"`
}

// ResourceChange is one resource of a change set.
type ResourceChange struct {
	Action      string `json:"action"`
	LogicalID   string `json:"logicalId"`
	Type        string `json:"type"`
	Replacement string `json:"replacement,omitempty"`
}

// ResourceFailure is a resource that failed in a create or an update.
type ResourceFailure struct {
	Status    string `json:"status"`
	LogicalID string `json:"logicalId"`
	Type      string `json:"type"`
	Reason    string `json:"reason"`
}

// FirstRun is the function's first run after a create or an update. One
// of InvokeError, Error, Answer or Summary is set.
type FirstRun struct {
	Function string `json:"function"`
	LogGroup string `json:"logGroup"`
	// InvokeError is why the function could not be invoked; the schedule
	// runs it within a minute.
	InvokeError string `json:"invokeError,omitempty"`
	// Error is the function's error.
	Error *FirstRunError `json:"error,omitempty"`
	// Answer is an answer that is not a run summary, clipped, and
	// AnswerError why it is not.
	Answer      string `json:"answer,omitempty"`
	AnswerError string `json:"answerError,omitempty"`
	// Summary is the run's summary: per binding what it wants, what the
	// group holds, the changes, refusals and errors.
	Summary *obs.RunSummary `json:"summary,omitempty"`
}

// DeleteState is what a delete did with the state. Kept: the state stays
// (no --delete-state). BucketKept: the bucket stays, which it does unless
// the stack created it and --delete-state deleted it.
type DeleteState struct {
	Bucket          string `json:"bucket"`
	URL             string `json:"url"`
	Kept            bool   `json:"kept"`
	BucketKept      bool   `json:"bucketKept"`
	VersionsDeleted int    `json:"versionsDeleted"`
}

// maskValue is a parameter's value as the output shows it: the config by
// its size, since it is shown as a diff.
func maskValue(k, v string) string {
	if k == "ConfigYaml" {
		return fmt.Sprintf("(the config, %d bytes)", len(v))
	}
	return v
}

// parameterChanges are the parameters in want that differ from the
// stack's: every one with a value for a new stack.
func parameterChanges(prev, want map[string]string, create bool) []ParameterChange {
	out := []ParameterChange{}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		old, had := prev[k]
		v := want[k]
		switch {
		case create && v == "":
		case create:
			out = append(out, ParameterChange{Key: k, New: maskValue(k, v)})
		case had && old == v:
		default:
			o := maskValue(k, old)
			ch := ParameterChange{Key: k, Old: &o, New: maskValue(k, v)}
			if k == "ConfigYaml" {
				ch.Diff = withContext(lineDiff(old, v), 2)
			}
			out = append(out, ch)
		}
	}
	return out
}

// The text of tgsync deploy, one part at a time, as the deploy goes.

func writeUpToDate(w io.Writer, r *Result) {
	fmt.Fprintf(w, "Stack %s is up to date: no updates are to be performed.\n", r.Stack)
	writeOutputs(w, r.Outputs)
}

// writeChangeSet writes a dry run's change set, or what a deploy submits.
func writeChangeSet(w io.Writer, r *Result) {
	cs := r.ChangeSet
	if r.DryRun {
		fmt.Fprintf(w, "Change set to %s stack %s:\n", cs.Type, r.Stack)
	} else {
		fmt.Fprintf(w, "Deploying stack %s (%s):\n", r.Stack, cs.Type)
	}
	for _, p := range cs.Parameters {
		switch {
		case p.Old == nil:
			fmt.Fprintf(w, "  parameter %s = %s\n", p.Key, shown(p.New))
		case p.Key == "ConfigYaml":
			fmt.Fprintf(w, "  parameter ConfigYaml: the config changes\n")
			for _, l := range p.Diff {
				fmt.Fprintf(w, "      %s\n", l)
			}
		default:
			fmt.Fprintf(w, "  parameter %s: %s -> %s\n", p.Key, shown(*p.Old), shown(p.New))
		}
	}
	for _, rc := range cs.Resources {
		line := fmt.Sprintf("  %-7s %s (%s)", rc.Action, rc.LogicalID, rc.Type)
		if rc.Replacement == "True" || rc.Replacement == "Conditional" {
			line += ", replacement: " + rc.Replacement
		}
		fmt.Fprintln(w, line)
	}
}

// shown is a value in the text, where "" would be invisible.
func shown(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

func writeDryRunDone(w io.Writer) {
	fmt.Fprintf(w, "Dry run: nothing was changed (run without --dry-run to deploy).\n")
}

// writeFailures writes why resources failed, oldest first.
func writeFailures(w io.Writer, r *Result) {
	if r.EventsError != "" {
		fmt.Fprintf(w, "  (the stack's events cannot be read: %s)\n", r.EventsError)
		return
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  %s %s (%s): %s\n", f.Status, f.LogicalID, f.Type, f.Reason)
	}
}

func writeDone(w io.Writer, r *Result) {
	fmt.Fprintf(w, "Stack %s: %s in %s.\n", r.Stack, r.Status, time.Duration(r.ElapsedSeconds)*time.Second)
	writeOutputs(w, r.Outputs)
}

// writeOutputs writes a stack's outputs, sorted.
func writeOutputs(w io.Writer, outputs map[string]string) {
	if len(outputs) == 0 {
		return
	}
	keys := slices.Sorted(maps.Keys(outputs))
	width := 0
	for _, k := range keys {
		width = max(width, len(k))
	}
	fmt.Fprintln(w, "Outputs:")
	for _, k := range keys {
		fmt.Fprintf(w, "  %-*s  %s\n", width, k, outputs[k])
	}
}

func writeFirstRun(w io.Writer, fr *FirstRun) {
	switch {
	case fr.InvokeError != "":
		fmt.Fprintf(w, "First run: the function could not be invoked (%s).\nThe schedule runs it within a minute: aws logs tail %s --follow\n", fr.InvokeError, fr.LogGroup)
	case fr.Error != nil:
		fmt.Fprintf(w, "First run: failed: %s: %s\nLogs: aws logs tail %s --follow\n", fr.Error.Type, fr.Error.Message, fr.LogGroup)
	case fr.Summary != nil:
		writeRun(w, *fr.Summary)
	default:
		fmt.Fprintf(w, "First run: the function answered %q, not a run summary (%s)\n", fr.Answer, fr.AnswerError)
	}
}

// writeRun writes a run summary: per binding what it wants, what the
// group holds and what changed, with the reasons.
func writeRun(w io.Writer, sum obs.RunSummary) {
	changes, refusals := 0, 0
	for _, b := range sum.Bindings {
		changes += len(b.Changes)
		refusals += len(b.Refusals)
	}
	fmt.Fprintf(w, "First run: %d binding(s), %d failed, %d change(s), %d refusal(s), state written: %v\n",
		len(sum.Bindings), len(sum.Failed), changes, refusals, sum.StateWritten)
	for _, b := range sum.Bindings {
		fmt.Fprintf(w, "  %s (%s): wants %s; the group holds %s\n", b.Binding, b.Source, list(b.Desired), list(b.Registered))
		for _, c := range b.Changes {
			fmt.Fprintf(w, "    %s %s: %s\n", c.Action, c.Target, c.Reason)
		}
		for _, r := range b.Refusals {
			fmt.Fprintf(w, "    refused %s %s (%s): %s\n", r.Action, r.Target, r.Rule, r.Reason)
		}
		if b.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", b.Error)
		}
	}
}

func writeNothingToDelete(w io.Writer, r *Result) {
	fmt.Fprintf(w, "Stack %s does not exist in %s: nothing to delete.\n", r.Stack, r.Region)
}

func writeDeleted(w io.Writer, r *Result) {
	fmt.Fprintf(w, "Stack %s: deleted.\n", r.Stack)
}

func writeState(w io.Writer, s *DeleteState) {
	switch {
	case s.Kept:
		fmt.Fprintf(w, "Kept the state, %s (the targets stay registered; deploy again to go on from it, or add --delete-state to remove it).\n", s.URL)
	case !s.BucketKept:
		fmt.Fprintf(w, "Deleted the state bucket %s (%d object versions).\n", s.Bucket, s.VersionsDeleted)
	default:
		fmt.Fprintf(w, "Deleted the state object %s (%d versions); the bucket %s was not the stack's and stays.\n", s.URL, s.VersionsDeleted, s.Bucket)
	}
}

// outputsOf are a stack's outputs as a map; nil when it has none.
func outputsOf(outputs []cfntypes.Output) map[string]string {
	if len(outputs) == 0 {
		return nil
	}
	m := make(map[string]string, len(outputs))
	for _, o := range outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return m
}
