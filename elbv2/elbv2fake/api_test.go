package elbv2fake

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// The batches of 200 are the adapter's; the world counts the calls they
// take.
func TestBatching(t *testing.T) {
	tests := []struct {
		n, calls int
	}{{0, 0}, {1, 1}, {200, 1}, {201, 2}, {450, 3}, {1000, 5}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			ctx := context.Background()
			ts := targets(tc.n)
			a := adapter(w)
			done, usedAll, err := mock.RegisterTargets(ctx, a, testARN, ts, false)
			if err != nil || done != tc.n || usedAll {
				t.Fatalf("Register = %d, %v, %v; want %d, false, nil", done, usedAll, err, tc.n)
			}
			if got := len(w.Targets(testARN)); got != tc.n {
				t.Errorf("group holds %d targets, want %d", got, tc.n)
			}
			n, err := count(a.Deregister(ctx, testARN, changes(ts)))
			if err != nil || n != tc.n {
				t.Fatalf("Deregister = %d, %v; want %d, nil", n, err, tc.n)
			}
			calls := w.Calls()
			if calls[ActionRegister] != tc.calls || calls[ActionDeregister] != tc.calls {
				t.Errorf("calls %v, want %d of each change", calls, tc.calls)
			}
		})
	}
}

// TestPartialBatchFailure: the fault fails the Batch-th change call, which
// is the Batch-th batch of the adapter's next Register or Deregister.
func TestPartialBatchFailure(t *testing.T) {
	tests := []struct {
		batch, done int
		failed      bool
	}{{1, 0, true}, {2, 200, true}, {3, 400, true}, {4, 450, false}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("batch %d", tc.batch), func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			ctx := context.Background()
			ts := targets(450)
			a := adapter(w)
			for _, action := range []string{ActionRegister, ActionDeregister} {
				if err := w.Inject(Fault{Kind: FaultPartialBatch, Action: action, Batch: tc.batch, Times: 1}); err != nil {
					t.Fatal(err)
				}
			}
			done, _, err := mock.RegisterTargets(ctx, a, testARN, ts, false)
			if done != tc.done || (err != nil) != tc.failed {
				t.Fatalf("Register = %d, %v; want %d, failed=%v", done, err, tc.done, tc.failed)
			}
			if tc.failed && !hasCode(err, CodeInternalFailure) {
				t.Errorf("Register error %v, want InternalFailure", err)
			}
			if got := len(w.Targets(testARN)); got != tc.done {
				t.Errorf("group holds %d targets, want the %d leading ones", got, tc.done)
			}
			// The fault was for one call: the rest registers now.
			if done, _, err := mock.RegisterTargets(ctx, a, testARN, ts[done:], false); err != nil || done != 450-tc.done {
				t.Fatalf("second Register = %d, %v", done, err)
			}
			n, err := count(a.Deregister(ctx, testARN, changes(ts)))
			if n != tc.done || (err != nil) != tc.failed {
				t.Fatalf("Deregister = %d, %v; want %d, failed=%v", n, err, tc.done, tc.failed)
			}
			draining := 0
			for _, o := range w.Targets(testARN) {
				if o.State == tgsync.HealthDraining {
					draining++
				}
			}
			if draining != tc.done {
				t.Errorf("%d targets draining, want %d", draining, tc.done)
			}
		})
	}
}

// TestAvailabilityZoneRule runs the adapter's rule 7 on the world's
// answers: RegisterTargets refuses an IP outside the VPC without a zone,
// and with StrictZoneOverride refuses "all" for an IP inside it.
func TestAvailabilityZoneRule(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	outside := mock.Target("10.9.0.5:443")
	inside := mock.Target("10.0.0.5:443")
	// zones maps targets to their expected zone; "" means a detected one.
	type zones map[tgsync.Target]string
	tests := []struct {
		name      string
		spec      GroupSpec
		targets   []tgsync.Target
		azAll     bool
		wantAll   bool
		wantCalls int
		zones     zones
	}{
		{"inside the VPC", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{inside}, false, false, 1, zones{inside: ""}},
		{"outside: retried with all", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{outside}, false, true, 2, zones{outside: "all"}},
		{"outside with all at once", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{outside}, true, true, 1, zones{outside: "all"}},
		{"no VPC given: every IP is inside", GroupSpec{}, []tgsync.Target{outside}, false, false, 1, zones{outside: ""}},
		{"all for an inside IP is accepted", GroupSpec{VPCPrefixes: vpc}, []tgsync.Target{inside}, true, true, 1, zones{inside: "all"}},
		{"all refused for an inside IP: sent again without", GroupSpec{VPCPrefixes: vpc, StrictZoneOverride: true},
			[]tgsync.Target{inside}, true, false, 2, zones{inside: ""}},
		{"all refused in a mixed batch: one by one", GroupSpec{VPCPrefixes: vpc, StrictZoneOverride: true},
			[]tgsync.Target{inside, outside}, true, true, 4, zones{inside: "", outside: "all"}},
		{"second batch outside: only it is retried, later ones keep all", GroupSpec{VPCPrefixes: vpc},
			append(append(targets(200), outside), targets(250)[200:]...), false, true, 3,
			zones{targets(1)[0]: "", outside: "all", targets(250)[249]: "all"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWorld(t, tc.spec, Options{})
			done, usedAll, err := mock.RegisterTargets(context.Background(), adapter(w), testARN, tc.targets, tc.azAll)
			if err != nil || done != len(tc.targets) || usedAll != tc.wantAll {
				t.Fatalf("Register = %d, %v, %v; want %d, %v, nil", done, usedAll, err, len(tc.targets), tc.wantAll)
			}
			if got := w.Calls()[ActionRegister]; got != tc.wantCalls {
				t.Errorf("RegisterTargets calls = %d, want %d", got, tc.wantCalls)
			}
			for _, o := range w.Targets(testARN) {
				want, ok := tc.zones[o.Target]
				if !ok {
					continue
				}
				if want != "" && o.AvailabilityZone != want || want == "" && !strings.HasPrefix(o.AvailabilityZone, "us-east-1") {
					t.Errorf("%s: zone %q, want %q", o.Target, o.AvailabilityZone, want)
				}
			}
		})
	}
}

// TestAvailabilityZoneError checks the shape of the ValidationError a
// target outside the VPC gets without a zone, from RegisterTargets and
// DeregisterTargets alike, and that the zone "all" lets it in and out.
func TestAvailabilityZoneError(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{VPCPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}, Options{})
	ctx := context.Background()
	outside := mock.Target("192.168.7.9:443")
	for _, call := range []struct {
		action string
		do     func(zone string) error
	}{
		{ActionRegister, func(zone string) error { return register(ctx, w, testARN, zone, outside) }},
		{ActionDeregister, func(zone string) error { return deregister(ctx, w, testARN, zone, outside) }},
	} {
		err := call.do("")
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationError" ||
			apiErr.ErrorMessage() != "The Availability Zone is required for IP address '192.168.7.9' because it is not in the VPC" {
			t.Fatalf("%s without a zone: error %v is not AWS's ValidationError", call.action, err)
		}
		var opErr *smithy.OperationError
		var respErr *awshttp.ResponseError
		if !errors.As(err, &opErr) || opErr.Operation() != call.action || !errors.As(err, &respErr) || respErr.HTTPStatusCode() != 400 {
			t.Errorf("error %v does not have the SDK's shape", err)
		}
		wantText := "operation error Elastic Load Balancing v2: " + call.action + ", https response error StatusCode: 400, RequestID: "
		if !strings.Contains(err.Error(), wantText) || !strings.HasSuffix(err.Error(), "api error ValidationError: "+apiErr.ErrorMessage()) {
			t.Errorf("error text %q", err)
		}
		if err := call.do("all"); err != nil {
			t.Errorf("%s with zone all: %v", call.action, err)
		}
	}
}

func TestRejects(t *testing.T) {
	ts := targets(1001)
	registered := ts[0]
	arn := aws.String(testARN)
	tests := []struct {
		name    string
		prefill int
		call    func(context.Context, *World) error
		code    string // "" means the SDK's parameter validation, before any call
	}{
		{"register without a group", 1, func(ctx context.Context, w *World) error {
			_, err := w.RegisterTargets(ctx, &elb.RegisterTargetsInput{Targets: Descriptions(registered)})
			return err
		}, ""},
		{"deregister without targets", 1, func(ctx context.Context, w *World) error {
			_, err := w.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: arn})
			return err
		}, ""},
		{"describe a target without an id", 1, func(ctx context.Context, w *World) error {
			_, err := w.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: arn, Targets: []types.TargetDescription{{}}})
			return err
		}, ""},
		{"register an id that is not an IP", 1, func(ctx context.Context, w *World) error {
			_, err := w.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: arn,
				Targets: []types.TargetDescription{{Id: aws.String("i-0123456789abcdef0")}}})
			return err
		}, CodeValidation},
		{"register on port 0", 1, func(ctx context.Context, w *World) error {
			_, err := w.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: arn,
				Targets: []types.TargetDescription{{Id: aws.String("10.0.0.9"), Port: aws.Int32(0)}}})
			return err
		}, CodeValidation},
		{"register in a zone the group does not have", 1, func(ctx context.Context, w *World) error {
			return register(ctx, w, testARN, "eu-west-1a", ts[1])
		}, CodeValidation},
		{"register beyond 1000 targets", 999, func(ctx context.Context, w *World) error {
			return register(ctx, w, testARN, "", ts[999:]...)
		}, CodeTooManyTargets},
		{"deregister a target that is not registered", 1, func(ctx context.Context, w *World) error {
			return deregister(ctx, w, testARN, "", ts[:2]...)
		}, CodeInvalidTarget},
		{"deregister from another zone", 1, func(ctx context.Context, w *World) error {
			return deregister(ctx, w, testARN, "eu-west-1a", registered)
		}, CodeInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{}, Options{})
			ctx := context.Background()
			if err := register(ctx, w, testARN, "", ts[:tc.prefill]...); err != nil {
				t.Fatal(err)
			}
			before := w.Calls()
			err := tc.call(ctx, w)
			var apiErr smithy.APIError
			var invalid smithy.InvalidParamsError
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tc.code == "" && (errors.As(err, &apiErr) || !errors.As(err, &invalid)):
				t.Fatalf("error %v, want the SDK's InvalidParamsError", err)
			case tc.code != "" && !hasCode(err, tc.code):
				t.Fatalf("error %v, want %s", err, tc.code)
			}
			calls := 0
			for k, v := range w.Calls() {
				calls += v - before[k]
			}
			if want := map[bool]int{true: 0, false: 1}[tc.code == ""]; calls != want {
				t.Errorf("%d calls made, want %d", calls, want)
			}
			obs := w.Targets(testARN)
			if len(obs) != tc.prefill || obs[0].State != tgsync.HealthInitial {
				t.Errorf("a failed call changed the group: %d targets, first %s", len(obs), obs[0].State)
			}
		})
	}
}

func TestZoneOverrideError(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{VPCPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, StrictZoneOverride: true}, Options{})
	err := register(context.Background(), w, testARN, "all", mock.Target("10.0.0.5:443"))
	want := regexp.MustCompile(`^operation error Elastic Load Balancing v2: RegisterTargets, https response error StatusCode: 400, RequestID: [-0-9a-f]{36}, ` +
		`api error ValidationError: The IP address '10\.0\.0\.5' is within the VPC, and cannot have its Availability Zone overridden to 'all' from 'us-east-1[abc]'$`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Errorf("error %v, want to match %s", err, want)
	}
}

func TestPortZeroUsesTheGroupPort(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{Port: 8443}, Options{})
	if err := register(context.Background(), w, testARN, "", tgsync.Target{IP: netip.MustParseAddr("10.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	if o := w.Targets(testARN); len(o) != 1 || o[0].Target != mock.Target("10.0.0.1:8443") {
		t.Errorf("targets %v, want 10.0.0.1:8443", o)
	}
}

// TestDescribeTargetGroups: the answer the adapter takes a group's port
// and type from, and the failures AWS gives for groups it does not know.
func TestDescribeTargetGroups(t *testing.T) {
	other := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/0000000000000002"
	tests := []struct {
		name string
		in   *elb.DescribeTargetGroupsInput
		want []string // names, in order
		code string
	}{
		{"by ARN", &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{other}}, []string{"other"}, ""},
		{"by name", &elb.DescribeTargetGroupsInput{Names: []string{"test", "other"}}, []string{"test", "other"}, ""},
		{"every group, by ARN", nil, []string{"other", "test"}, ""},
		{"a missing ARN fails the call", &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{testARN, testARN + "9"}}, nil, CodeTargetGroupNotFound},
		{"a missing name fails the call", &elb.DescribeTargetGroupsInput{Names: []string{"nope"}}, nil, CodeTargetGroupNotFound},
		{"ARNs and names", &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{testARN}, Names: []string{"test"}}, nil, CodeValidation},
		{"by load balancer", &elb.DescribeTargetGroupsInput{LoadBalancerArn: aws.String("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1")}, nil, CodeValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newTestWorld(t, GroupSpec{Port: 9200}, Options{})
			if err := w.CreateTargetGroup(other, GroupSpec{Port: 443}); err != nil {
				t.Fatal(err)
			}
			out, err := w.DescribeTargetGroups(context.Background(), tc.in)
			if tc.code != "" {
				if !hasCode(err, tc.code) {
					t.Fatalf("error %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			groups := map[string]struct {
				arn  string
				port int32
			}{"test": {testARN, 9200}, "other": {other, 443}}
			var names []string
			for _, g := range out.TargetGroups {
				name := aws.ToString(g.TargetGroupName)
				names = append(names, name)
				if aws.ToString(g.TargetGroupArn) != groups[name].arn || aws.ToInt32(g.Port) != groups[name].port ||
					g.TargetType != types.TargetTypeEnumIp || aws.ToString(g.VpcId) != VPCID {
					t.Errorf("group %s: %+v", name, g)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("groups %v, want %v", names, tc.want)
			}
			if got := w.Calls()[ActionDescribeGroups]; got != 1 {
				t.Errorf("DescribeTargetGroups calls = %d, want 1", got)
			}
		})
	}
	// The adapter reads what it needs from that answer, once.
	w, _ := newTestWorld(t, GroupSpec{Port: 9200}, Options{})
	a := adapter(w)
	for range 2 {
		md, err := a.Metadata(context.Background(), testARN)
		if err != nil || md.Port != 9200 || md.TargetType != "ip" || md.VPCID != VPCID || md.Name != "test" {
			t.Fatalf("adapter metadata %+v, %v", md, err)
		}
	}
	if got := w.Calls()[ActionDescribeGroups]; got != 1 {
		t.Errorf("DescribeTargetGroups calls = %d, want 1 (the adapter caches)", got)
	}
}

// TestDescribeNamedTargets: DescribeTargetHealth for given targets answers
// for each, in order, unused and not registered for a stranger.
func TestDescribeNamedTargets(t *testing.T) {
	w, _ := newTestWorld(t, GroupSpec{HealthyAfter: -1}, Options{})
	ctx := context.Background()
	if err := register(ctx, w, testARN, "", mock.Target("10.0.0.1:443"), mock.Target("10.0.0.2:443")); err != nil {
		t.Fatal(err)
	}
	out, err := w.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(testARN),
		Targets: Descriptions(mock.Target("10.0.0.2:443"), tgsync.Target{IP: netip.MustParseAddr("10.0.0.1")}, mock.Target("10.0.0.1:80"))})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range out.TargetHealthDescriptions {
		got = append(got, fmt.Sprintf("%s:%d %s %s", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port), d.TargetHealth.State, d.TargetHealth.Reason))
	}
	want := []string{"10.0.0.2:443 healthy ", "10.0.0.1:443 healthy ", "10.0.0.1:80 unused Target.NotRegistered"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
