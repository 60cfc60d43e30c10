package elbv2

import (
	"context"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go/middleware"
)

// CountCallsID is the middleware ID CountCalls registers; a stack holds it
// at most once.
const CountCallsID = "tgsync.CountCalls"

// CountCalls returns an SDK stack option that calls record with the service
// and operation of every attempt the client sends, for metrics and tests.
// Put it in aws.Config.APIOptions (or a client's APIOptions).
//
// It sits at the end of the Finalize step, after the Retry middleware and
// request signing, which loop over each attempt: so every retry counts, and
// an attempt that fails before it could be sent (say, signing without
// credentials) does not. Counting in the Initialize step instead would see
// one call per operation however often the SDK retried it, which hides
// exactly the throttling the counts are meant to show.
func CountCalls(record func(service, operation string)) func(*middleware.Stack) error {
	return CountCallsContext(func(_ context.Context, service, operation string) { record(service, operation) })
}

// CountCallsContext is CountCalls with the request's context, for counters
// that attribute a call to the work it was made for (see
// tgsync.CountAPICall).
func CountCallsContext(record func(ctx context.Context, service, operation string)) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc(CountCallsID,
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				record(ctx, middleware.GetServiceID(ctx), middleware.GetOperationName(ctx))
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	}
}

// Calls counts API calls by operation, retries included, and the attempts
// AWS throttled: Record feeds CountCalls, RecordThrottle CountThrottles.
// The zero value is ready, and it is safe for concurrent use.
type Calls struct {
	mu        sync.Mutex
	n         map[string]int
	throttles map[string]int
}

// Record counts one attempt of operation.
func (c *Calls) Record(_, operation string) { c.add(&c.n, operation) }

// RecordThrottle counts one throttled attempt of operation.
func (c *Calls) RecordThrottle(_ context.Context, _, operation string) {
	c.add(&c.throttles, operation)
}

func (c *Calls) add(counts *map[string]int, operation string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *counts == nil {
		*counts = map[string]int{}
	}
	(*counts)[operation]++
}

// Snapshot returns the counts so far, in a map of its own.
func (c *Calls) Snapshot() map[string]int { return c.copy(&c.n) }

// Throttles returns the throttled attempts so far, in a map of its own.
func (c *Calls) Throttles() map[string]int { return c.copy(&c.throttles) }

func (c *Calls) copy(counts *map[string]int) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(*counts))
	maps.Copy(out, *counts)
	return out
}

// Take returns the counts so far and starts again from zero.
func (c *Calls) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	if n == nil {
		n = map[string]int{}
	}
	return n
}

// CountThrottlesID is the middleware ID CountThrottles registers.
const CountThrottlesID = "tgsync.CountThrottles"

// CountThrottles returns an SDK stack option that calls record for every
// attempt AWS answered with a throttling error (Throttling, "Rate
// exceeded", and the other codes the SDK's retryer treats as throttling),
// with the request's context, service and operation. Like CountCalls it
// sits inside the retry loop, so it sees each throttled attempt before
// the retryer backs off and tries again: a call that succeeds on its
// third attempt counts two throttles, which the caller never sees as an
// error. Those are what show that the client-side limits are too high for
// the account.
func CountThrottles(record func(ctx context.Context, service, operation string)) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc(CountThrottlesID,
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleFinalize(ctx, in)
				if err != nil && retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
					record(ctx, middleware.GetServiceID(ctx), middleware.GetOperationName(ctx))
				}
				return out, md, err
			}), middleware.After)
	}
}
