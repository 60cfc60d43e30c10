// Command echo is a Lambda function for testing the harness through
// aws-lambda-go's real runtime loop: it answers {"echo": payload,
// "deadlineMs": ..., "requestId": ...}, fails on {"fail": "msg"} and
// panics on {"panic": "msg"}.
package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type reply struct {
	Echo        json.RawMessage `json:"echo"`
	DeadlineMs  int64           `json:"deadlineMs"`
	RequestID   string          `json:"requestId"`
	FunctionARN string          `json:"functionArn"`
}

func handle(ctx context.Context, raw json.RawMessage) (reply, error) {
	var in struct {
		Fail  string `json:"fail"`
		Panic string `json:"panic"`
	}
	_ = json.Unmarshal(raw, &in)
	if in.Fail != "" {
		return reply{}, errors.New(in.Fail)
	}
	if in.Panic != "" {
		panic(in.Panic)
	}
	out := reply{Echo: raw}
	if dl, ok := ctx.Deadline(); ok {
		out.DeadlineMs = dl.UnixMilli()
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		out.RequestID, out.FunctionARN = lc.AwsRequestID, lc.InvokedFunctionArn
	}
	return out, nil
}

func main() { lambda.Start(handle) }
