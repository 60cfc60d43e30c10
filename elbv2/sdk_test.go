package elbv2

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/tgsync/tgsync/internal/testenv"
)

// throttlingServer answers every request on loopback the way the ELB API
// does when the account's bucket is empty: HTTP 400 with the awsquery
// error body for code Throttling.
func throttlingServer(t *testing.T) (url string, requests *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	requests = &atomic.Int64{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">` +
			`<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>` +
			`<RequestId>11111111-2222-3333-4444-555555555555</RequestId></ErrorResponse>`))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String(), requests
}

// noBackoff keeps the standard retryer's attempts but not its sleeps, so
// that the test does not wait out real backoff.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

func TestThrottlingAfterSDKRetries(t *testing.T) {
	url, requests := throttlingServer(t)
	c := &Calls{}
	cfg := aws.Config{
		Region:       testenv.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(url),
		APIOptions:   []func(*middleware.Stack) error{CountCalls(c.Record)},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = DefaultMaxAttempts
				o.Backoff = noBackoff{}
				o.RateLimiter = ratelimit.None
			})
		},
	}
	a := NewFromConfig(cfg, Options{DescribeRate: rate.Inf, Binding: func(string) string { return "web" }})
	ctx := testenv.Context(t, 30*time.Second)
	arn := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
	_, err := a.Describe(ctx, arn)
	if err == nil {
		t.Fatal("no error from a throttling endpoint")
	}
	for _, want := range []string{"binding web: describe target group " + arn, "rate exceeded even after retries; lower the rate limits or spread the schedule"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "Throttling" {
		t.Errorf("error does not unwrap to the Throttling API error: %v", err)
	}
	var maxErr *retry.MaxAttemptsError
	if !errors.As(err, &maxErr) || maxErr.Attempt != DefaultMaxAttempts {
		t.Errorf("error does not show %d attempts: %v", DefaultMaxAttempts, err)
	}
	// CountCalls sits after the retry loop: every attempt counts.
	if got := c.Snapshot()["DescribeTargetGroups"]; got != DefaultMaxAttempts || int64(got) != requests.Load() {
		t.Errorf("counted %d DescribeTargetGroups attempts, server saw %d; want %d", got, requests.Load(), DefaultMaxAttempts)
	}
}

func TestNewFromConfigRetryer(t *testing.T) {
	custom := func() aws.Retryer { return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 7 }) }
	tests := []struct {
		name string
		cfg  aws.Config
		want int
	}{
		{"standard retryer with five attempts by default", aws.Config{}, DefaultMaxAttempts},
		{"AWS_MAX_ATTEMPTS as loaded into the config wins", aws.Config{RetryMaxAttempts: 2}, 2},
		{"a retryer in the config is kept", aws.Config{Retryer: custom}, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Region = testenv.Region
			tc.cfg.BaseEndpoint = aws.String("http://127.0.0.1:1")
			a := NewFromConfig(tc.cfg, Options{})
			client, ok := a.api.(*elasticloadbalancingv2.Client)
			if !ok {
				t.Fatalf("api is %T", a.api)
			}
			o := client.Options()
			if got := o.Retryer.MaxAttempts(); got != tc.want {
				t.Errorf("MaxAttempts = %d, want %d", got, tc.want)
			}
			if aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:1" {
				t.Errorf("BaseEndpoint = %q, want the config's", aws.ToString(o.BaseEndpoint))
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		in   Options
		want Options
	}{
		{Options{}, Options{DescribeRate: 5, DescribeBurst: 20, ChangeRate: 2, ChangeBurst: 10, BatchSize: 200}},
		{Options{DescribeRate: 1, DescribeBurst: 2, ChangeRate: 0.5, ChangeBurst: 1, BatchSize: 50},
			Options{DescribeRate: 1, DescribeBurst: 2, ChangeRate: 0.5, ChangeBurst: 1, BatchSize: 50}},
		{Options{DescribeRate: -1, BatchSize: 201}, Options{DescribeRate: 5, DescribeBurst: 20, ChangeRate: 2, ChangeBurst: 10, BatchSize: 200}},
	}
	for _, tc := range tests {
		got := tc.in.withDefaults()
		if got.DescribeRate != tc.want.DescribeRate || got.DescribeBurst != tc.want.DescribeBurst ||
			got.ChangeRate != tc.want.ChangeRate || got.ChangeBurst != tc.want.ChangeBurst || got.BatchSize != tc.want.BatchSize {
			t.Errorf("withDefaults(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	a := New(newFakeELB(), Options{})
	if got := a.budget.Current(); got != (Limits{DescribeRate: 5, DescribeBurst: 20, ChangeRate: 2, ChangeBurst: 10}) {
		t.Errorf("limiters: %+v", got)
	}
}

func TestCalls(t *testing.T) {
	var c Calls
	if got := c.Snapshot(); got == nil || len(got) != 0 {
		t.Fatalf("zero Calls: Snapshot = %#v, want an empty map", got)
	}
	c.Record("ELBv2", "DescribeTargetHealth")
	c.Record("ELBv2", "DescribeTargetHealth")
	c.Record("S3", "GetObject")
	snap := c.Snapshot()
	snap["GetObject"] = 99 // the snapshot is the caller's
	if got := c.Take(); got["DescribeTargetHealth"] != 2 || got["GetObject"] != 1 || len(got) != 2 {
		t.Errorf("Take = %v, want 2 DescribeTargetHealth and 1 GetObject", got)
	}
	if got := c.Take(); got == nil || len(got) != 0 {
		t.Errorf("Take after Take = %#v, want an empty map", got)
	}
	// Throttles are counted apart, and Take leaves them.
	c.RecordThrottle(context.Background(), "ELBv2", "RegisterTargets")
	throttles := c.Throttles()
	throttles["RegisterTargets"] = 99 // the caller's too
	if got, calls := c.Throttles(), c.Snapshot(); got["RegisterTargets"] != 1 || len(got) != 1 || len(calls) != 0 {
		t.Errorf("Throttles = %v and Snapshot = %v after one throttle, want 1 RegisterTargets and no call", got, calls)
	}
}
