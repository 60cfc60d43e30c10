package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The resources tests set up in the shared moto server, each uniquely
// named, since tests share the server and never reset it.

// UniqueName returns prefix-<10 hex digits>: a name no other test uses,
// and with a prefix of up to 21 characters short enough for a target group
// or a load balancer (32).
func UniqueName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// VPC is one test's VPC in moto and the clients that fill it.
type VPC struct {
	ID  string
	EC2 *ec2.Client
	ELB *elasticloadbalancingv2.Client
}

// NewVPC creates a VPC with the CIDR block cidr. moto does not check that
// the targets registered in its groups lie inside it.
func NewVPC(t testing.TB, cfg aws.Config, cidr string) *VPC {
	t.Helper()
	v := &VPC{EC2: ec2.NewFromConfig(cfg), ELB: elasticloadbalancingv2.NewFromConfig(cfg)}
	out, err := v.EC2.CreateVpc(Context(t, 30*time.Second), &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		t.Fatalf("create VPC %s: %v", cidr, err)
	}
	v.ID = aws.ToString(out.Vpc.VpcId)
	return v
}

// TargetGroup creates a target group of type typ on port in the VPC and
// returns its ARN.
func (v *VPC) TargetGroup(t testing.TB, typ types.TargetTypeEnum, protocol types.ProtocolEnum, port int32) string {
	t.Helper()
	out, err := v.ELB.CreateTargetGroup(Context(t, 30*time.Second), &elasticloadbalancingv2.CreateTargetGroupInput{
		Name: aws.String(UniqueName("tg")), TargetType: typ, Protocol: protocol, Port: aws.Int32(port), VpcId: aws.String(v.ID),
	})
	if err != nil {
		t.Fatalf("create target group: %v", err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}

// IPTargetGroup creates a target group of type ip, the type tgsync
// manages.
func (v *VPC) IPTargetGroup(t testing.TB, protocol types.ProtocolEnum, port int32) string {
	t.Helper()
	return v.TargetGroup(t, types.TargetTypeEnumIp, protocol, port)
}

// Subnets creates a subnet for each CIDR block, in us-east-1a and
// us-east-1b by turns (a load balancer needs two zones), and returns their
// IDs.
func (v *VPC) Subnets(t testing.TB, cidrs ...string) []string {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	var ids []string
	for i, cidr := range cidrs {
		out, err := v.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(v.ID),
			CidrBlock: aws.String(cidr), AvailabilityZone: aws.String([]string{"us-east-1a", "us-east-1b"}[i%2])})
		if err != nil {
			t.Fatalf("create subnet %s: %v", cidr, err)
		}
		ids = append(ids, aws.ToString(out.Subnet.SubnetId))
	}
	return ids
}

// InternalALB creates an internal application load balancer in subnets
// whose HTTP listener on port 80 forwards to the target group forward, and
// returns the load balancer's ARN.
func (v *VPC) InternalALB(t testing.TB, subnets []string, forward string) string {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	lb, err := v.ELB.CreateLoadBalancer(ctx, &elasticloadbalancingv2.CreateLoadBalancerInput{
		Name: aws.String(UniqueName("alb")), Subnets: subnets, Scheme: types.LoadBalancerSchemeEnumInternal})
	if err != nil {
		t.Fatalf("create load balancer: %v", err)
	}
	arn := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	if _, err := v.ELB.CreateListener(ctx, &elasticloadbalancingv2.CreateListenerInput{
		LoadBalancerArn: aws.String(arn), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(forward)}},
	}); err != nil {
		t.Fatalf("create listener: %v", err)
	}
	return arn
}

// Register puts ips on port into a target group behind the back of the
// code under test.
func Register(t testing.TB, c *elasticloadbalancingv2.Client, arn string, port int32, ips ...string) {
	t.Helper()
	ts := make([]types.TargetDescription, len(ips))
	for i, ip := range ips {
		ts[i] = types.TargetDescription{Id: aws.String(ip), Port: aws.Int32(port)}
	}
	if _, err := c.RegisterTargets(Context(t, 30*time.Second), &elasticloadbalancingv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(arn), Targets: ts}); err != nil {
		t.Fatalf("register %v in %s: %v", ips, arn, err)
	}
}

// Members lists a target group's targets as ip:port, sorted as strings: what
// ELB holds, read without the code under test.
func Members(t testing.TB, c *elasticloadbalancingv2.Client, arn string) []string {
	t.Helper()
	out, err := c.DescribeTargetHealth(Context(t, 30*time.Second), &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("describe target health of %s: %v", arn, err)
	}
	var got []string
	for _, d := range out.TargetHealthDescriptions {
		got = append(got, fmt.Sprintf("%s:%d", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port)))
	}
	slices.Sort(got)
	return got
}

// S3 returns an S3 client for moto, which serves every bucket on its one
// host: path-style addressing.
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// Bucket creates a bucket named UniqueName(prefix) and returns its name.
func Bucket(t testing.TB, cfg aws.Config, prefix string) string {
	t.Helper()
	name := UniqueName(prefix)
	if _, err := S3(cfg).CreateBucket(Context(t, 30*time.Second), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}
