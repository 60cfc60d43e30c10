package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/tgsync/tgsync/internal/obs"
)

// firstRunEvent asks the function for one reconcile, as the schedule does
// every minute: the deploy shows its result at once instead of leaving the
// reader to wait for the first scheduled run.
const firstRunEvent = `{"action":"reconcile"}`

// FirstRunError is a deployed stack whose function failed its first run:
// the stack is there, the config or the network is not right.
type FirstRunError struct{ Type, Message string }

func (e *FirstRunError) Error() string {
	return fmt.Sprintf("the stack is deployed, but its first run failed: %s: %s", e.Type, e.Message)
}

// firstRun invokes the function once and prints what the run did. A
// function that cannot be invoked (no lambda:InvokeFunction, or an API
// without invocations) is reported and not an error: the stack is
// deployed, and the schedule runs it within a minute.
func firstRun(ctx context.Context, w io.Writer, c *lambda.Client, function, logGroup string) error {
	out, err := c.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(function), InvocationType: lambdatypes.InvocationTypeRequestResponse,
		Payload: []byte(firstRunEvent),
	})
	if err != nil {
		fmt.Fprintf(w, "First run: the function could not be invoked (%v).\nThe schedule runs it within a minute: aws logs tail %s --follow\n", clip(err.Error(), 300), logGroup)
		return nil
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		var rep struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		if json.Unmarshal(out.Payload, &rep) != nil || rep.Type == "" {
			rep.Type, rep.Message = fe, string(out.Payload)
		}
		fmt.Fprintf(w, "First run: failed: %s: %s\nLogs: aws logs tail %s --follow\n", rep.Type, rep.Message, logGroup)
		return &FirstRunError{Type: rep.Type, Message: rep.Message}
	}
	var sum obs.RunSummary
	if err := json.Unmarshal(out.Payload, &sum); err != nil {
		fmt.Fprintf(w, "First run: the function answered %q, not a run summary (%v)\n", clip(string(out.Payload), 200), err)
		return nil
	}
	printRun(w, sum)
	return nil
}

// printRun prints a run summary: per binding what it wants, what the
// group holds and what changed, with the reasons.
func printRun(w io.Writer, sum obs.RunSummary) {
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

func list(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// clip shortens s to at most n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
