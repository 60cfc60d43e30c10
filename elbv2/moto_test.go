package elbv2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// sum is the number of calls in counts by operation.
func sum(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

// batchSizes records how many targets each change call carried.
type batchSizes struct {
	mu                   sync.Mutex
	register, deregister []int
}

func (s *batchSizes) option(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("test.batchSizes",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			s.mu.Lock()
			switch p := in.Parameters.(type) {
			case *elasticloadbalancingv2.RegisterTargetsInput:
				s.register = append(s.register, len(p.Targets))
			case *elasticloadbalancingv2.DeregisterTargetsInput:
				s.deregister = append(s.deregister, len(p.Targets))
			}
			s.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// motoWorld is one VPC in the shared moto server, and the clients to set
// up target groups in it.
type motoWorld struct {
	cfg aws.Config
	*testenv.VPC
}

func newMotoWorld(t testing.TB) *motoWorld {
	t.Helper()
	cfg := testenv.StartMoto(t).AWSConfig()
	return &motoWorld{cfg: cfg, VPC: testenv.NewVPC(t, cfg, "10.0.0.0/16")}
}

// targetGroup creates an HTTP target group of targetType on port.
func (w *motoWorld) targetGroup(t testing.TB, targetType types.TargetTypeEnum, port int32) string {
	t.Helper()
	return w.TargetGroup(t, targetType, types.ProtocolEnumHttp, port)
}

// adapter returns an Adapter over moto whose calls are counted. Rates are
// unlimited unless opts says otherwise, so tests measure the adapter.
func (w *motoWorld) adapter(opts Options, extra ...func(*middleware.Stack) error) (*Adapter, *Calls) {
	c := &Calls{}
	cfg := w.cfg.Copy()
	cfg.APIOptions = append(append(slices.Clone(cfg.APIOptions), CountCalls(c.Record)), extra...)
	if opts.DescribeRate == 0 {
		opts.DescribeRate = rate.Inf
	}
	if opts.ChangeRate == 0 {
		opts.ChangeRate = rate.Inf
	}
	return NewFromConfig(cfg, opts), c
}

func targets(t testing.TB, specs ...string) []tgsync.Target {
	t.Helper()
	out := make([]tgsync.Target, len(specs))
	for i, s := range specs {
		p, err := tgsync.ParseTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = p
	}
	return out
}

// manyTargets returns n targets with distinct IPs (moto keeps one target
// per IP) on port.
func manyTargets(n int, port uint16) []tgsync.Target {
	out := make([]tgsync.Target, n)
	for i := range out {
		out[i] = tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(1 + i/250), byte(1 + i%250)}), Port: port}
	}
	return out
}

func deregistrations(ts []tgsync.Target) []tgsync.Change {
	out := make([]tgsync.Change, len(ts))
	for i, t := range ts {
		out[i] = tgsync.Change{Action: tgsync.ActionDeregister, Target: t, Reason: "test"}
	}
	return out
}

// count turns what Register or Deregister returned into how many targets
// were applied.
func count(applied []tgsync.Change, err error) (int, error) { return len(applied), err }

func observedSet(obs []tgsync.ObservedTarget) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = o.Target.String()
	}
	slices.Sort(out)
	return out
}

func TestRoundTripMoto(t *testing.T) {
	w := newMotoWorld(t)
	tests := []struct {
		name       string
		groupPort  int32
		register   []string
		deregister []string
		wantAfter  []string
	}{
		{
			name:       "group port",
			groupPort:  80,
			register:   []string{"10.0.1.10:80", "10.0.2.20:80", "10.0.3.30:80"},
			deregister: []string{"10.0.2.20:80"},
			wantAfter:  []string{"10.0.1.10:80", "10.0.3.30:80"},
		},
		{
			name:       "ports other than the group's",
			groupPort:  443,
			register:   []string{"10.0.1.10:8443", "10.0.2.20:9200"},
			deregister: []string{"10.0.1.10:8443"},
			wantAfter:  []string{"10.0.2.20:9200"},
		},
		{
			name:       "address outside the VPC (moto does not validate)",
			groupPort:  5044,
			register:   []string{"192.168.7.7:5044", "10.0.9.9:5044"},
			deregister: []string{"192.168.7.7:5044", "10.0.9.9:5044"},
			wantAfter:  []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testenv.Context(t, 30*time.Second)
			arn := w.targetGroup(t, types.TargetTypeEnumIp, tc.groupPort)
			a, c := w.adapter(Options{})

			done, usedAll, err := mock.RegisterTargets(ctx, a, arn, targets(t, tc.register...), false)
			if err != nil || done != len(tc.register) || usedAll {
				t.Fatalf("Register = %d, %v, %v; want %d, false, nil", done, usedAll, err, len(tc.register))
			}
			obs, err := a.Describe(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Sorted(slices.Values(tc.register))
			if got := observedSet(obs); !slices.Equal(got, want) {
				t.Fatalf("after register: observed %v, want %v", got, want)
			}
			for _, o := range obs {
				// moto reports every registered target healthy at once,
				// with neither reason nor description nor zone.
				if o.State != tgsync.HealthHealthy || o.Reason != "" || o.Description != "" {
					t.Errorf("%s: state %q reason %q description %q; want healthy with no reason", o.Target, o.State, o.Reason, o.Description)
				}
			}

			n, err := count(a.Deregister(ctx, arn, deregistrations(targets(t, tc.deregister...))))
			if err != nil || n != len(tc.deregister) {
				t.Fatalf("Deregister = %d, %v; want %d", n, err, len(tc.deregister))
			}
			obs, err = a.Describe(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if got := observedSet(obs); !slices.Equal(got, tc.wantAfter) {
				t.Fatalf("after deregister: observed %v, want %v", got, tc.wantAfter)
			}
			if got := c.Snapshot()["RegisterTargets"]; got != 1 {
				t.Errorf("RegisterTargets calls = %d, want 1", got)
			}
		})
	}
}

func TestBatchesMoto(t *testing.T) {
	w := newMotoWorld(t)
	tests := []struct {
		name      string
		n         int
		batchSize int
		want      []int
	}{
		{"450 in default batches", 450, 0, []int{200, 200, 50}},
		{"batch size above the API maximum is capped", 450, 1000, []int{200, 200, 50}},
		{"exactly one batch", 200, 0, []int{200}},
		{"small batches", 5, 2, []int{2, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testenv.Context(t, 60*time.Second)
			arn := w.targetGroup(t, types.TargetTypeEnumIp, 80)
			sizes := &batchSizes{}
			a, c := w.adapter(Options{BatchSize: tc.batchSize}, sizes.option)
			ts := manyTargets(tc.n, 80)
			// checkBatches checks the calls of op and the targets each carried.
			checkBatches := func(op string, sizes []int) {
				t.Helper()
				if got := c.Snapshot()[op]; got != len(tc.want) {
					t.Errorf("%s calls = %d, want %d", op, got, len(tc.want))
				}
				if !slices.Equal(sizes, tc.want) {
					t.Errorf("%s batch sizes = %v, want %v", op, sizes, tc.want)
				}
			}

			done, _, err := mock.RegisterTargets(ctx, a, arn, ts, false)
			if err != nil || done != tc.n {
				t.Fatalf("Register = %d, %v; want %d", done, err, tc.n)
			}
			checkBatches("RegisterTargets", sizes.register)
			obs, err := a.Describe(ctx, arn)
			if err != nil || len(obs) != tc.n {
				t.Fatalf("Describe = %d targets, %v; want %d", len(obs), err, tc.n)
			}

			n, err := count(a.Deregister(ctx, arn, deregistrations(ts)))
			if err != nil || n != tc.n {
				t.Fatalf("Deregister = %d, %v; want %d", n, err, tc.n)
			}
			checkBatches("DeregisterTargets", sizes.deregister)
			if obs, err = a.Describe(ctx, arn); err != nil || len(obs) != 0 {
				t.Fatalf("Describe after deregister = %v, %v; want none", observedSet(obs), err)
			}
		})
	}
}

func TestTargetGroupNotFoundMoto(t *testing.T) {
	w := newMotoWorld(t)
	missing := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:123456789012:targetgroup/%s/0123456789abcdef", testenv.Region, testenv.UniqueName("gone"))
	tests := []struct {
		name    string
		binding func(string) string
		call    func(ctx context.Context, a *Adapter) error
		want    string
	}{
		{
			name:    "describe names the binding",
			binding: func(string) string { return "dashboards" },
			call:    func(ctx context.Context, a *Adapter) error { _, err := a.Describe(ctx, missing); return err },
			want: "binding dashboards: target group " + missing + " not found: check targetGroupArn and the region (AWS_REGION): " +
				"the group was deleted, the ARN has a typo, or the credentials are for another account; " +
				"'aws elbv2 describe-target-groups --names NAME' prints the ARN of a group",
		},
		{
			name:    "register",
			binding: func(string) string { return "spot" },
			call: func(ctx context.Context, a *Adapter) error {
				_, _, err := mock.RegisterTargets(ctx, a, missing, targets(t, "10.0.0.1:80"), false)
				return err
			},
			want: "binding spot: target group " + missing + " not found",
		},
		{
			name: "deregister without a binding name",
			call: func(ctx context.Context, a *Adapter) error {
				_, err := a.Deregister(ctx, missing, deregistrations(targets(t, "10.0.0.1:80")))
				return err
			},
			want: "target group " + missing + " not found: check targetGroupArn",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testenv.Context(t, 30*time.Second)
			a, c := w.adapter(Options{Binding: tc.binding})
			err := tc.call(ctx, a)
			if err == nil {
				t.Fatal("no error for a missing target group")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			if tc.binding == nil && strings.Contains(err.Error(), "binding") {
				t.Errorf("error %q names a binding though none was given", err)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "TargetGroupNotFound" {
				t.Errorf("error does not unwrap to the TargetGroupNotFound API error: %#v", err)
			}
			var typed *types.TargetGroupNotFoundException
			if !errors.As(err, &typed) {
				t.Errorf("error does not unwrap to *types.TargetGroupNotFoundException")
			}
			if got := c.Snapshot()["RegisterTargets"] + c.Snapshot()["DeregisterTargets"] + c.Snapshot()["DescribeTargetHealth"]; got != 0 {
				t.Errorf("%d target calls were sent for a group that does not exist", got)
			}
		})
	}
}

// TestNotIPGroupRefusedMoto: a target group of another type than ip is
// refused before any target call, with what to do for its type.
func TestNotIPGroupRefusedMoto(t *testing.T) {
	w := newMotoWorld(t)
	for _, tc := range []struct {
		typ  types.TargetTypeEnum
		in   elasticloadbalancingv2.CreateTargetGroupInput
		want string
	}{
		{types.TargetTypeEnumInstance, elasticloadbalancingv2.CreateTargetGroupInput{Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(w.ID)},
			"has target type instance; tgsync manages target type ip only: instances are registered by ID, not by address: create a target group of type ip"},
		{types.TargetTypeEnumAlb, elasticloadbalancingv2.CreateTargetGroupInput{Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(w.ID)},
			"has target type alb; tgsync manages target type ip only: an NLB target group of type alb already follows the ALB's addresses by itself (AWS registers the ALB, not its IPs), so no tgsync binding is needed for it: remove the binding"},
		{types.TargetTypeEnumLambda, elasticloadbalancingv2.CreateTargetGroupInput{},
			"has target type lambda; tgsync manages target type ip only: a lambda target group holds a function, not addresses"},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			ctx := testenv.Context(t, 30*time.Second)
			in := tc.in
			in.Name, in.TargetType = aws.String(testenv.UniqueName("tg")), tc.typ
			out, err := w.ELB.CreateTargetGroup(ctx, &in)
			if err != nil {
				t.Fatalf("create a target group of type %s: %v", tc.typ, err)
			}
			arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
			a, c := w.adapter(Options{})
			for name, call := range map[string]func() error{
				"describe": func() error { _, err := a.Describe(ctx, arn); return err },
				"register": func() error {
					_, _, err := mock.RegisterTargets(ctx, a, arn, targets(t, "10.0.0.1:80"), false)
					return err
				},
				"deregister": func() error { _, err := a.Deregister(ctx, arn, deregistrations(targets(t, "10.0.0.1:80"))); return err },
			} {
				if err := call(); err == nil || !strings.Contains(err.Error(), "target group "+arn+" "+tc.want) {
					t.Errorf("%s: error %v; want one containing %q", name, err, tc.want)
				}
			}
			if got, total := c.Snapshot()["DescribeTargetGroups"], sum(c.Snapshot()); got != 1 || total != 1 {
				t.Errorf("calls: %d DescribeTargetGroups of %d in all; want only the one metadata lookup", got, total)
			}
		})
	}
}

func TestSteadyStateMoto(t *testing.T) {
	w := newMotoWorld(t)
	arn := w.targetGroup(t, types.TargetTypeEnumIp, 80)
	ctx := testenv.Context(t, 30*time.Second)
	setup, _ := w.adapter(Options{})
	if _, _, err := mock.RegisterTargets(ctx, setup, arn, manyTargets(30, 80), false); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		concurrent int
	}{
		{"two describes in turn", 0},
		{"eight describes at once", 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, c := w.adapter(Options{})
			describes := 2
			if tc.concurrent == 0 {
				for range describes {
					if obs, err := a.Describe(ctx, arn); err != nil || len(obs) != 30 {
						t.Fatalf("Describe = %d targets, %v; want 30", len(obs), err)
					}
				}
			} else {
				describes = tc.concurrent
				var wg sync.WaitGroup
				errs := make(chan error, tc.concurrent)
				for range tc.concurrent {
					wg.Go(func() {
						if _, err := a.Describe(ctx, arn); err != nil {
							errs <- err
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
			}
			if got := c.Snapshot()["DescribeTargetHealth"]; got != describes {
				t.Errorf("DescribeTargetHealth calls = %d, want %d", got, describes)
			}
			if got := c.Snapshot()["DescribeTargetGroups"]; got != 1 {
				t.Errorf("DescribeTargetGroups calls = %d, want 1 per process", got)
			}
			if got := sum(c.Snapshot()); got != describes+1 {
				t.Errorf("%d calls in all, want %d", got, describes+1)
			}
		})
	}
}
