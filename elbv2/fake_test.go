package elbv2

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tgsync/tgsync"
)

// fakeELB stands in for the AWS behaviour moto does not show: the
// Availability Zone rule for IPs outside the VPC (AWS answers
// ValidationError; moto accepts anything), one target per ip:port (moto
// keeps one per IP), target states other than healthy, zones in
// descriptions, and faults such as throttling on a chosen call. Its errors
// have the shapes the SDK's awsquery deserializer produces.
type fakeELB struct {
	mu sync.Mutex
	// vpc is the target group VPC's range; zone is the zone AWS reports
	// for an IP inside it.
	vpc  netip.Prefix
	zone string
	// azMessage words the ValidationError for an IP outside the VPC
	// registered without a zone (AWS has used more than one wording).
	azMessage string
	groups    map[string]*fakeGroup
	calls     map[string]int
	// fail, when set, may fail a call: it gets the operation and its
	// 1-based number among calls of that operation.
	fail func(op string, n int) error
	// noPorts leaves the port out of descriptions.
	noPorts bool
	// registered records the zone each RegisterTargets call used per
	// target, in order.
	registered []map[string]string
}

type fakeGroup struct {
	targetType string
	port       int32
	targets    map[tgsync.Target]string // zone as AWS reports it
	order      []tgsync.Target
}

var _ API = (*fakeELB)(nil)

const fakeAZRequired = "The Availability Zone is required for IP address '%s' because it is not in the VPC"

func newFakeELB() *fakeELB {
	return &fakeELB{
		vpc:       netip.MustParsePrefix("10.0.0.0/16"),
		zone:      "us-east-1a",
		azMessage: fakeAZRequired,
		groups:    map[string]*fakeGroup{},
		calls:     map[string]int{},
	}
}

func (f *fakeELB) addGroup(arn, targetType string, port int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[arn] = &fakeGroup{targetType: targetType, port: port, targets: map[tgsync.Target]string{}}
}

func (f *fakeELB) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeELB) zones(arn string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for t, z := range f.groups[arn].targets {
		out[t.String()] = z
	}
	return out
}

// begin counts a call and returns the injected fault or a missing group.
func (f *fakeELB) begin(op, arn string) (*fakeGroup, error) {
	f.calls[op]++
	if f.fail != nil {
		if err := f.fail(op, f.calls[op]); err != nil {
			return nil, err
		}
	}
	g, ok := f.groups[arn]
	if !ok {
		return nil, apiError(op, &types.TargetGroupNotFoundException{Message: aws.String("One or more target groups not found")})
	}
	return g, nil
}

func (f *fakeELB) DescribeTargetGroups(ctx context.Context, in *elasticloadbalancingv2.DescribeTargetGroupsInput, _ ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DescribeTargetGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := in.TargetGroupArns[0]
	g, err := f.begin("DescribeTargetGroups", arn)
	if err != nil {
		return nil, err
	}
	return &elasticloadbalancingv2.DescribeTargetGroupsOutput{TargetGroups: []types.TargetGroup{{
		TargetGroupArn:  aws.String(arn),
		TargetGroupName: aws.String("fake"),
		Port:            aws.Int32(g.port),
		Protocol:        types.ProtocolEnumTcp,
		TargetType:      types.TargetTypeEnum(g.targetType),
		IpAddressType:   types.TargetGroupIpAddressTypeEnumIpv4,
		VpcId:           aws.String("vpc-fake"),
	}}}, nil
}

func (f *fakeELB) DescribeTargetHealth(ctx context.Context, in *elasticloadbalancingv2.DescribeTargetHealthInput, _ ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DescribeTargetHealthOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.begin("DescribeTargetHealth", aws.ToString(in.TargetGroupArn))
	if err != nil {
		return nil, err
	}
	out := &elasticloadbalancingv2.DescribeTargetHealthOutput{}
	for _, t := range g.order {
		d := types.TargetDescription{Id: aws.String(t.IP.String()), AvailabilityZone: aws.String(g.targets[t])}
		if !f.noPorts {
			d.Port = aws.Int32(int32(t.Port))
		}
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, types.TargetHealthDescription{
			Target: &d,
			TargetHealth: &types.TargetHealth{
				State:       types.TargetHealthStateEnumInitial,
				Reason:      types.TargetHealthReasonEnumRegistrationInProgress,
				Description: aws.String("Target registration is in progress"),
			},
		})
	}
	return out, nil
}

func (f *fakeELB) RegisterTargets(ctx context.Context, in *elasticloadbalancingv2.RegisterTargetsInput, _ ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.RegisterTargetsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	const op = "RegisterTargets"
	g, err := f.begin(op, aws.ToString(in.TargetGroupArn))
	if err != nil {
		return nil, err
	}
	// AWS validates the whole call before it changes anything.
	zones := make([]string, len(in.Targets))
	record := map[string]string{}
	for i, d := range in.Targets {
		id, az := aws.ToString(d.Id), aws.ToString(d.AvailabilityZone)
		ip := netip.MustParseAddr(id)
		inside := f.vpc.Contains(ip)
		switch {
		case inside && az == "all":
			return nil, validationError(op, fmt.Sprintf("The IP address '%s' is within the VPC, and cannot have its Availability Zone overridden to 'all' from '%s'", id, f.zone))
		case !inside && az == "":
			return nil, validationError(op, fmt.Sprintf(f.azMessage, id))
		case inside:
			zones[i] = f.zone
		default:
			zones[i] = az
		}
		record[id] = az
	}
	f.registered = append(f.registered, record)
	for i, d := range in.Targets {
		port := g.port
		if d.Port != nil {
			port = *d.Port
		}
		t := tgsync.Target{IP: netip.MustParseAddr(aws.ToString(d.Id)), Port: uint16(port)}
		if _, ok := g.targets[t]; !ok {
			g.order = append(g.order, t)
		}
		g.targets[t] = zones[i]
	}
	return &elasticloadbalancingv2.RegisterTargetsOutput{}, nil
}

func (f *fakeELB) DeregisterTargets(ctx context.Context, in *elasticloadbalancingv2.DeregisterTargetsInput, _ ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DeregisterTargetsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.begin("DeregisterTargets", aws.ToString(in.TargetGroupArn))
	if err != nil {
		return nil, err
	}
	for _, d := range in.Targets {
		port := g.port
		if d.Port != nil {
			port = *d.Port
		}
		t := tgsync.Target{IP: netip.MustParseAddr(aws.ToString(d.Id)), Port: uint16(port)}
		delete(g.targets, t)
		for i, o := range g.order {
			if o == t {
				g.order = append(g.order[:i], g.order[i+1:]...)
				break
			}
		}
	}
	return &elasticloadbalancingv2.DeregisterTargetsOutput{}, nil
}

// apiError wraps an API error the way the SDK client returns it: an
// operation error around an HTTP response error.
func apiError(op string, err error) error {
	return &smithy.OperationError{
		ServiceID:     elasticloadbalancingv2.ServiceID,
		OperationName: op,
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusBadRequest}},
				Err:      err,
			},
			RequestID: "00000000-fake-request",
		},
	}
}

// validationError is an unmodelled error such as ValidationError, which
// the awsquery deserializer returns as a smithy.GenericAPIError.
func validationError(op, msg string) error {
	return apiError(op, &smithy.GenericAPIError{Code: "ValidationError", Message: msg, Fault: smithy.FaultClient})
}

func genericError(op, code, msg string) error {
	return apiError(op, &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient})
}
