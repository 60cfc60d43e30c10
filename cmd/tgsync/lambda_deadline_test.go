package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"golang.org/x/time/rate"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/store/memstore"
)

// slowSaves delays every save of base, honouring the context as an S3
// PUT does.
func slowSaves(base tgsync.Store, delay time.Duration) *mock.Store {
	s := mock.StoreOf(base)
	s.SaveFn = func(ctx context.Context, st *tgsync.State, rev string) (string, error) {
		select {
		case <-time.After(delay):
			return base.Save(ctx, st, rev)
		case <-ctx.Done():
			return "", fmt.Errorf("put state: %w", ctx.Err())
		}
	}
	return s
}

// TestInvocationAnswersBeforeItsDeadline: an invocation whose describe
// takes 80% of its time and whose state save would take 40% more answers
// before its deadline, and says the state could not be saved. The slow
// calls stand in for a throttled ELB API and a slow S3, which moto does not
// show; the elbv2fake world behind the real adapter and a delayed memstore
// play them.
func TestInvocationAnswersBeforeItsDeadline(t *testing.T) {
	t.Parallel()
	const deadline = 2 * time.Second
	world := elbv2fake.New(nil, elbv2fake.Options{})
	const arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/slow/0000000000000001"
	if err := world.CreateTargetGroup(arn, elbv2fake.GroupSpec{Port: 443}); err != nil {
		t.Fatal(err)
	}
	if err := world.Inject(elbv2fake.Fault{Kind: elbv2fake.FaultLatency, Action: elbv2fake.ActionDescribe, Latency: deadline * 8 / 10}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	f := &lambdaFunc{
		reconciler: &tgsync.Reconciler{
			Bindings: []tgsync.Binding{{Name: "db", Source: mock.Fixed("fixed.example.internal", "10.0.0.1"), TargetGroupARN: arn, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()}},
			Groups:   elbv2.New(world, elbv2.Options{DescribeRate: rate.Inf, ChangeRate: rate.Inf}), Store: slowSaves(memstore.New(), deadline*4/10),
		},
		log: obs.NewLogger(logs, obs.FormatJSON, 0),
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	end, _ := ctx.Deadline()
	_, err := f.Invoke(ctx, []byte(scheduledEvent))
	if left := time.Until(end); left <= 0 {
		t.Errorf("answered %s after the deadline", -left)
	}
	if err == nil || !strings.Contains(err.Error(), "save state") {
		t.Errorf("err = %v, want the unsaved state reported", err)
	}
	var ie messages.InvokeResponse_Error
	if !errors.As(err, &ie) || ie.Type != errRunFailed {
		t.Errorf("error %#v, want one of type %s", err, errRunFailed)
	}
}
