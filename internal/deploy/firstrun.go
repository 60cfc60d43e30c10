package deploy

import (
	"context"
	"encoding/json"
	"fmt"
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
type FirstRunError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (e *FirstRunError) Error() string {
	return fmt.Sprintf("the stack is deployed, but its first run failed: %s: %s", e.Type, e.Message)
}

// firstRun invokes fr's function once and records what the run did. A
// function that cannot be invoked (no lambda:InvokeFunction, or an API
// without invocations) is recorded and not an error: the stack is
// deployed, and the schedule runs it within a minute.
func firstRun(ctx context.Context, c *lambda.Client, fr *FirstRun) error {
	out, err := c.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(fr.Function), InvocationType: lambdatypes.InvocationTypeRequestResponse,
		Payload: []byte(firstRunEvent),
	})
	if err != nil {
		fr.InvokeError = clip(err.Error(), 300)
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
		fr.Error = &FirstRunError{Type: rep.Type, Message: rep.Message}
		return fr.Error
	}
	var sum obs.RunSummary
	if err := json.Unmarshal(out.Payload, &sum); err != nil {
		fr.Answer, fr.AnswerError = clip(string(out.Payload), 200), err.Error()
		return nil
	}
	fr.Summary = &sum
	return nil
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
