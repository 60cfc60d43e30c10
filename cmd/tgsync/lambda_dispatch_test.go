package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/elbv2/elbv2fake"
	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/store/memstore"
)

// fuzzFunc is the Lambda function with nothing behind it that reaches the
// network: its bindings resolve from memory, its target groups are an
// elbv2fake world (which stands in for ELB) behind the real adapter, its
// state a memstore, and its Spot drain is the real handler over the same
// adapter. Each call builds a fresh one, so that an input's outcome does
// not depend on the inputs before it. The world's target group starts
// empty: a run that changed it registered.
func fuzzFunc(t *testing.T) (*lambdaFunc, *elbv2fake.World) {
	world := elbv2fake.New(elbv2fake.NewManualClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)), elbv2fake.Options{})
	if err := world.CreateTargetGroup(fuzzGroup, elbv2fake.GroupSpec{Port: 443}); err != nil {
		t.Fatal(err)
	}
	groups := elbv2.New(world, elbv2.Unlimited())
	store := memstore.New()
	log := slog.New(slog.DiscardHandler)
	var bindings []tgsync.Binding
	for _, name := range []string{"search", "dashboards"} {
		// Fixed sources need no network, so that every event the fuzzer
		// routes to a reconcile runs one.
		bindings = append(bindings, tgsync.Binding{Name: name, Source: mock.Fixed(name+".internal", "10.0.0.11", "10.0.0.12"), TargetGroupARN: fuzzGroup,
			Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()})
	}
	// One binding reads the interfaces of the load balancer of the
	// shared interface sample, from a double of EC2 (no network).
	lister := eni.NewLister(fuzzEC2{})
	alb, err := eni.LoadBalancer(lister, "os-dash")
	if err != nil {
		t.Fatal(err)
	}
	bindings = append(bindings, tgsync.Binding{Name: "alb", Source: alb, TargetGroupARN: fuzzGroup, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()})
	h, err := newDrainHandler(&config.SpotDrain{TargetGroupARNs: []string{fuzzGroup},
		StopCodes: []string{config.StopCodeSpotInterruption, config.StopCodeTerminationNotice}}, groups, store, log)
	if err != nil {
		t.Fatal(err)
	}
	return &lambdaFunc{
		reconciler: &tgsync.Reconciler{Bindings: bindings, Groups: groups, Store: store},
		log:        log,
		ecs:        ecsHandler(h),
		interfaces: map[string]*eni.Source{"alb": alb},
		lister:     lister,
		settle:     settleOptions{budget: 3 * time.Second, first: time.Second, most: time.Second, wait: func(context.Context, time.Duration) error { return nil }},
	}, world
}

// fuzzEC2 stands in for EC2's DescribeNetworkInterfaces: one in-use
// interface of the load balancer os-dash, whatever the filters, but none
// looked up by ID (an interface that is gone).
type fuzzEC2 struct{}

func (fuzzEC2) DescribeNetworkInterfaces(_ context.Context, in *ec2.DescribeNetworkInterfacesInput, _ ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	for _, f := range in.Filters {
		if aws.ToString(f.Name) == "network-interface-id" {
			return &ec2.DescribeNetworkInterfacesOutput{}, nil
		}
	}
	return &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: []ec2types.NetworkInterface{{
		NetworkInterfaceId: aws.String("eni-0123456789abcdef0"), Description: aws.String("ELB app/os-dash/50dc6c495c0c9188"),
		Status: ec2types.NetworkInterfaceStatusInUse, PrivateIpAddress: aws.String("10.0.0.13")}}}, nil
}

// fuzzGroup is fuzzFunc's target group.
const fuzzGroup = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fuzz/0123456789abcdef"

// errorTypes are the errorType values an invocation may report; Panic is
// not among them: no event may make the function panic.
var errorTypes = []string{errBadEvent, errBindingsFailed, errRunFailed, errDrainFailed, "Error"}

// FuzzDispatch hands arbitrary payloads to the Lambda handler, as the
// runtime loop does, and checks what the function answers: never a panic,
// either a JSON response or an error response of a known type with a
// message of bounded size, a BadEvent for anything that is not a JSON
// object, a successful reconcile for a scheduled event without an action,
// and, for any event with an action key, whatever its shape, no change at
// all unless the action is "reconcile" and a BadEvent unless it is
// "reconcile" or "plan". The seed corpus in testdata/fuzz/FuzzDispatch
// holds every kind of event the function takes and the shapes it refuses.
func FuzzDispatch(f *testing.F) {
	f.Add([]byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	f.Add([]byte(`{"action":"plan","bindings":["search"]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		fn, world := fuzzFunc(t)
		out, err := fn.Invoke(context.Background(), payload)
		var top map[string]json.RawMessage
		isObject := json.Unmarshal(payload, &top) == nil && top != nil
		// An action key in any case counts, as encoding/json reads it.
		hasAction := slices.ContainsFunc(slices.Collect(maps.Keys(top)), func(k string) bool { return strings.EqualFold(k, "action") })
		rawAction := top["action"]
		var action string
		_ = json.Unmarshal(rawAction, &action)
		if hasAction && action != "reconcile" {
			if got := world.Targets(fuzzGroup); len(got) > 0 {
				t.Fatalf("%q with action %s changed the target group: %v", payload, rawAction, got)
			}
		}
		if err == nil {
			if !json.Valid(out) {
				t.Fatalf("response is not JSON: %q", out)
			}
			if !isObject {
				t.Fatalf("%q is not a JSON object, yet it was served: %s", payload, out)
			}
			if hasAction && action != "reconcile" && action != "plan" {
				t.Fatalf("%q with action %s was served: %s", payload, rawAction, out)
			}
			return
		}
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) {
			t.Fatalf("error %T %v is not an error response", err, err)
		}
		if !slices.Contains(errorTypes, ie.Type) {
			t.Fatalf("error type %q (%s) for %q", ie.Type, ie.Message, payload)
		}
		if ie.Message == "" || len(ie.Message) > maxErrorMessage {
			t.Fatalf("error message of %d bytes for %q", len(ie.Message), payload)
		}
		if !isObject && ie.Type != errBadEvent {
			t.Fatalf("%q is not a JSON object: want %s, got %s: %s", payload, errBadEvent, ie.Type, ie.Message)
		}
		var src, dt string
		_ = json.Unmarshal(top["source"], &src)
		_ = json.Unmarshal(top["detail-type"], &dt)
		if isObject && src == "aws.events" && dt == "Scheduled Event" && !hasAction {
			t.Fatalf("a scheduled event failed: %s: %s", ie.Type, ie.Message)
		}
	})
}

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
			Groups:   elbv2.New(world, elbv2.Unlimited()), Store: slowSaves(memstore.New(), deadline*4/10),
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
