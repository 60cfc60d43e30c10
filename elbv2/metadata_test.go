package elbv2

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMetadataAndAttachedToMoto(t *testing.T) {
	w := newMotoWorld(t)
	ctx := testenv.Context(t, 30*time.Second)
	attached := w.targetGroup(t, types.TargetTypeEnumIp, 443)
	alone := w.targetGroup(t, types.TargetTypeEnumIp, 443)
	lbArn := w.InternalALB(t, w.Subnets(t, "10.0.100.0/24", "10.0.101.0/24"), attached)

	a, c := w.adapter(Options{})
	md, err := a.Metadata(ctx, attached)
	if err != nil {
		t.Fatal(err)
	}
	if md.ARN != attached || md.VPCID != w.ID || md.Port != 443 || md.Protocol != "HTTP" ||
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
	if got := c.Snapshot()["DescribeTargetGroups"]; got != 2 {
		t.Errorf("DescribeTargetGroups calls = %d, want 2 (one per group)", got)
	}
}
