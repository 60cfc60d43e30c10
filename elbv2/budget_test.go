package elbv2

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/testenv"
)

// scriptedServer answers the ELB API's requests on loopback with the
// scripted answers in turn, the last one for every request after: an
// error code (HTTP 400 for client faults, 500 for InternalFailure, with
// the awsquery error body) or "" for an empty DescribeTargetHealth.
func scriptedServer(t *testing.T, script ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code := script[min(n, len(script)-1)]
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		if code == "" {
			_, _ = w.Write([]byte(`<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">` +
				`<DescribeTargetHealthResult><TargetHealthDescriptions/></DescribeTargetHealthResult>` +
				`<ResponseMetadata><RequestId>11111111-2222-3333-4444-555555555555</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`))
			return
		}
		status, typ := http.StatusBadRequest, "Sender"
		if code == "InternalFailure" {
			status, typ = http.StatusInternalServerError, "Receiver"
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">` +
			`<Error><Type>` + typ + `</Type><Code>` + code + `</Code><Message>scripted</Message></Error>` +
			`<RequestId>11111111-2222-3333-4444-555555555555</RequestId></ErrorResponse>`))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// TestCountThrottles: every attempt AWS throttles is counted, also those
// the SDK's retryer then retries to success, which the caller never sees
// as an error; other errors are not throttles.
func TestCountThrottles(t *testing.T) {
	tests := []struct {
		name          string
		script        []string
		wantThrottles int
		wantCalls     int
		wantErr       bool
	}{
		{"throttled twice, then answered", []string{"Throttling", "Throttling", ""}, 2, 3, false},
		{"throttled on every attempt", []string{"Throttling"}, DefaultMaxAttempts, DefaultMaxAttempts, true},
		{"another throttling code", []string{"RequestLimitExceeded", ""}, 1, 2, false},
		{"a server error retried is no throttle", []string{"InternalFailure", ""}, 0, 2, false},
		{"a validation error", []string{"ValidationError"}, 0, 1, true},
		{"answered at once", []string{""}, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			throttles, calls := map[string]int{}, map[string]int{}
			cfg := aws.Config{
				Region:       testenv.Region,
				Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
				BaseEndpoint: aws.String(scriptedServer(t, tc.script...)),
				APIOptions: []func(*middleware.Stack) error{
					CountThrottles(func(_ context.Context, service, op string) {
						mu.Lock()
						defer mu.Unlock()
						throttles[service+" "+op]++
					}),
					CountCalls(func(service, op string) {
						mu.Lock()
						defer mu.Unlock()
						calls[service+" "+op]++
					}),
				},
				Retryer: func() aws.Retryer {
					return retry.NewStandard(func(o *retry.StandardOptions) {
						o.MaxAttempts = DefaultMaxAttempts
						o.Backoff = noBackoff{}
						o.RateLimiter = ratelimit.None
					})
				},
			}
			client := elasticloadbalancingv2.NewFromConfig(cfg)
			_, err := client.DescribeTargetHealth(testenv.Context(t, 30*time.Second), &elasticloadbalancingv2.DescribeTargetHealthInput{
				TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef")})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want an error: %v", err, tc.wantErr)
			}
			const key = "Elastic Load Balancing v2 DescribeTargetHealth"
			if throttles[key] != tc.wantThrottles || calls[key] != tc.wantCalls {
				t.Errorf("counted throttles %v and calls %v; want %d and %d of %q", throttles, calls, tc.wantThrottles, tc.wantCalls, key)
			}
		})
	}
}

// TestBudgetSharedByAdapters: adapters on one Budget draw from one
// bucket; adapters without one each have their own, which is how a
// process with an adapter per binding or per drain went over the
// account's share.
func TestBudgetSharedByAdapters(t *testing.T) {
	tests := []struct {
		name       string
		shared     bool
		wantSecond bool // the second adapter's describe goes through
	}{
		{"one budget for both", true, false},
		{"a budget each", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeELB()
			f.addGroup(fakeARN, "ip", 80)
			// One token, the next in about three hours.
			limits := Limits{DescribeRate: 1e-4, DescribeBurst: 1, ChangeRate: rate.Inf, ChangeBurst: 1}
			budget := NewBudget(limits)
			opts := func() Options {
				if tc.shared {
					return Options{Budget: budget}
				}
				return Options{DescribeRate: limits.DescribeRate, DescribeBurst: 1, ChangeRate: rate.Inf}
			}
			first, second := New(f, opts()), New(f, opts())
			first.RememberGroupInfo(fakeARN, ipGroupInfo)
			second.RememberGroupInfo(fakeARN, ipGroupInfo)
			ctx := testenv.Context(t, 10*time.Second)
			if _, err := first.Describe(ctx, fakeARN); err != nil {
				t.Fatal(err)
			}
			// A deadline the limiter cannot meet fails at once.
			short, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_, err := second.Describe(short, fakeARN)
			if got := err == nil; got != tc.wantSecond {
				t.Fatalf("second adapter's describe: %v; want it to go through: %v", err, tc.wantSecond)
			}
			if err != nil && !strings.Contains(err.Error(), "describe rate limit") {
				t.Errorf("error %q does not name the limit", err)
			}
		})
	}
}

// ipGroupInfo is what the state would remember of fakeARN, so that a
// describe needs no DescribeTargetGroups first.
var ipGroupInfo = tgsync.GroupInfo{TargetType: "ip", Port: 80}

func TestBudgetShare(t *testing.T) {
	b := NewBudget(Limits{})
	if got := b.Current(); got != DefaultLimits() {
		t.Fatalf("new budget %+v, want the defaults %+v", got, DefaultLimits())
	}
	tests := []struct {
		n    int
		want Limits
	}{
		{2, Limits{DescribeRate: 2.5, DescribeBurst: 10, ChangeRate: 1, ChangeBurst: 5}},
		{4, Limits{DescribeRate: 1.25, DescribeBurst: 5, ChangeRate: 0.5, ChangeBurst: 2}},
		{20, Limits{DescribeRate: 0.25, DescribeBurst: 1, ChangeRate: 0.1, ChangeBurst: 1}},
		{1, DefaultLimits()},
		{0, DefaultLimits()},
	}
	for _, tc := range tests {
		b.Share(tc.n)
		if got := b.Current(); got != tc.want {
			t.Errorf("Share(%d): %+v, want %+v", tc.n, got, tc.want)
		}
	}
}

// TestDefaultLimitsAreHalfOfAWS keeps the documented fraction true.
func TestDefaultLimitsAreHalfOfAWS(t *testing.T) {
	d := DefaultLimits()
	if float64(d.DescribeRate) != AWSDescribeRefill*DefaultShare || d.DescribeBurst != AWSDescribeBucket/2 ||
		float64(d.ChangeRate) != AWSChangeRefill*DefaultShare || d.ChangeBurst != AWSChangeBucket/2 {
		t.Errorf("DefaultLimits %+v are not half of AWS's buckets", d)
	}
}

func TestAccounts(t *testing.T) {
	const (
		tgA1 = "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/a1/0000000000000001"
		tgA2 = "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/a2/0000000000000002"
		tgA3 = "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/a3/0000000000000003"
		tgB  = "arn:aws:elasticloadbalancing:us-east-1:222222222222:targetgroup/b/0000000000000004"
		tgAW = "arn:aws:elasticloadbalancing:us-west-2:111111111111:targetgroup/aw/0000000000000005"
	)
	clients := map[string]int{}
	client := func(via string) func(string) API {
		return func(region string) API { clients[via+" "+region]++; return newFakeELB() }
	}
	acc := NewAccounts(Limits{}, Options{}, Route{Client: client("")})
	for _, r := range []struct {
		arn string
		via string
	}{{tgA2, "role-a"}, {tgA3, "role-a2"}, {tgB, "role-b"}, {tgAW, "role-a"}} {
		if err := acc.Route(r.arn, Route{Via: r.via, Client: client(r.via)}); err != nil {
			t.Fatal(err)
		}
	}
	adapter := func(arn string) *Adapter {
		t.Helper()
		ad, err := acc.Adapter(arn)
		if err != nil {
			t.Fatal(err)
		}
		return ad
	}
	a1, a2, a3, b, aw := adapter(tgA1), adapter(tgA2), adapter(tgA3), adapter(tgB), adapter(tgAW)
	tests := []struct {
		name       string
		x, y       *Adapter
		sameBudget bool
	}{
		{"own credentials and a role into one account", a1, a2, true},
		{"two roles into one account", a2, a3, true},
		{"two accounts", a1, b, false},
		{"one account, two Regions", a2, aw, false},
	}
	for _, tc := range tests {
		if got := tc.x.budget == tc.y.budget; got != tc.sameBudget {
			t.Errorf("%s: same budget %v, want %v", tc.name, got, tc.sameBudget)
		}
		if tc.x == tc.y {
			t.Errorf("%s: one adapter for two sets of credentials", tc.name)
		}
	}
	if adapter(tgA2) != a2 {
		t.Error("a second lookup made a new adapter")
	}
	want := map[string]int{" us-east-1": 1, "role-a us-east-1": 1, "role-a2 us-east-1": 1, "role-b us-east-1": 1, "role-a us-west-2": 1}
	if len(clients) != len(want) {
		t.Errorf("clients made: %v, want %v", clients, want)
	}
	for k, n := range want {
		if clients[k] != n {
			t.Errorf("clients made: %v, want %v", clients, want)
		}
	}
	acc.Share(4)
	if got := a1.budget.Current().DescribeBurst; got != 5 {
		t.Errorf("after Share(4) the describe burst is %d, want 5", got)
	}
	if got := acc.Budget("333333333333", "us-east-1").Current().DescribeBurst; got != 5 {
		t.Errorf("a budget made after Share(4) has describe burst %d, want 5", got)
	}

	t.Run("bad input", func(t *testing.T) {
		err := acc.Route(tgA2, Route{Via: "role-b", Client: client("role-b")})
		if err == nil || !strings.Contains(err.Error(), "role-a and through role-b") {
			t.Errorf("routing a group through a second role: %v", err)
		}
		for _, bad := range []string{"", "not-an-arn", "arn:aws:s3:::bucket"} {
			if _, err := acc.Adapter(bad); err == nil || !strings.Contains(err.Error(), "not an elasticloadbalancing ARN") {
				t.Errorf("Adapter(%q) = %v", bad, err)
			}
			if _, err := acc.Describe(context.Background(), bad); err == nil {
				t.Errorf("Describe(%q) succeeded", bad)
			}
		}
		none := NewAccounts(Limits{}, Options{}, Route{})
		if _, err := none.Adapter(tgA1); err == nil || !strings.Contains(err.Error(), "no client") {
			t.Errorf("without a client: %v", err)
		}
	})
}
