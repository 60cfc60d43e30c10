package elbv2

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMetadataAndAttachedToMoto(t *testing.T) {
	w := newMotoWorld(t)
	ctx := testenv.Context(t, 30*time.Second)
	var subnets []string
	for i, az := range []string{"us-east-1a", "us-east-1b"} {
		out, err := w.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: aws.String(w.vpc), CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", 100+i)), AvailabilityZone: aws.String(az),
		})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(out.Subnet.SubnetId))
	}
	lb, err := w.elb.CreateLoadBalancer(ctx, &elasticloadbalancingv2.CreateLoadBalancerInput{
		Name: aws.String(uniqueName("alb")), Subnets: subnets, Scheme: types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatal(err)
	}
	lbArn := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	attached := w.targetGroup(t, types.TargetTypeEnumIp, 443)
	alone := w.targetGroup(t, types.TargetTypeEnumIp, 443)
	if _, err := w.elb.CreateListener(ctx, &elasticloadbalancingv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lbArn), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(attached)}},
	}); err != nil {
		t.Fatal(err)
	}

	a, c := w.adapter(Options{})
	md, err := a.Metadata(ctx, attached)
	if err != nil {
		t.Fatal(err)
	}
	if md.ARN != attached || md.VPCID != w.vpc || md.Port != 443 || md.Protocol != "HTTP" ||
		md.TargetType != "ip" || md.IPAddressType != "ipv4" || !slices.Equal(md.LoadBalancerARNs, []string{lbArn}) || md.Name == "" {
		t.Errorf("Metadata = %+v", md)
	}
	tests := []struct {
		tg, lb string
		want   bool
	}{
		{attached, lbArn, true},
		{alone, lbArn, false},
		{attached, lbArn + "-other", false},
	}
	for _, tc := range tests {
		got, err := a.AttachedTo(ctx, tc.tg, tc.lb)
		if err != nil || got != tc.want {
			t.Errorf("AttachedTo(%s, %s) = %v, %v; want %v", tc.tg, tc.lb, got, err, tc.want)
		}
	}
	if got := c.get("DescribeTargetGroups"); got != 2 {
		t.Errorf("DescribeTargetGroups calls = %d, want 2 (one per group)", got)
	}
}
