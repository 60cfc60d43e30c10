package cloudformation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tgsync/tgsync/internal/testenv"
)

// pkg is the deployment package the Makefile builds for this machine's
// architecture, and the bootstrap inside it.
type pkg struct {
	zip       []byte
	bootstrap string // an executable file
	arch      string // the function's Architecture: arm64 or x86_64
}

// packaged is testenv.LambdaPackage, read for upload, with the function's
// Architecture.
func packaged(t *testing.T) pkg {
	t.Helper()
	p := testenv.LambdaPackage(t)
	data, err := os.ReadFile(p.Zip)
	if err != nil {
		t.Fatal(err)
	}
	arch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" {
		t.Fatalf("Lambda has no architecture for GOARCH %s", runtime.GOARCH)
	}
	return pkg{zip: data, bootstrap: p.Bootstrap, arch: arch}
}

// network is a VPC in moto with what the stack can be pointed at: two
// private subnets, a security group, a route table and an internal NLB.
type network struct {
	*testenv.VPC
	subnets          []string
	securityGroup    string
	routeTable       string
	loadBalancerARN  string
	listenerPort     int32
	targetGroupIndex int
}

// newNetwork creates the VPC 10.<n>.0.0/16 with its parts.
func newNetwork(ctx context.Context, t *testing.T, cfg aws.Config, n int) *network {
	t.Helper()
	nw := &network{VPC: testenv.NewVPC(t, cfg, fmt.Sprintf("10.%d.0.0/16", n)), listenerPort: 443}
	nw.subnets = nw.Subnets(t, fmt.Sprintf("10.%d.1.0/24", n), fmt.Sprintf("10.%d.2.0/24", n))
	sg, err := nw.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: aws.String(nw.ID),
		GroupName: aws.String(testenv.UniqueName("tgsync-fn")), Description: aws.String("tgsync function")})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	nw.securityGroup = aws.ToString(sg.GroupId)
	rt, err := nw.EC2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(nw.ID)})
	if err != nil {
		t.Fatalf("CreateRouteTable: %v", err)
	}
	nw.routeTable = aws.ToString(rt.RouteTable.RouteTableId)
	lb, err := nw.ELB.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		Name: aws.String(testenv.UniqueName("nlb")), Type: elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: nw.subnets})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	nw.loadBalancerARN = aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	return nw
}

// targetGroup creates an ip target group on port and, behind a listener
// of the network's load balancer, attaches it.
func (nw *network) targetGroup(ctx context.Context, t *testing.T, port int32) string {
	t.Helper()
	arn := nw.IPTargetGroup(t, elbtypes.ProtocolEnumTcp, port)
	if _, err := nw.ELB.CreateListener(ctx, &elb.CreateListenerInput{
		LoadBalancerArn: aws.String(nw.loadBalancerARN), Protocol: elbtypes.ProtocolEnumTcp,
		Port:           aws.Int32(nw.listenerPort + int32(nw.targetGroupIndex)),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}},
	}); err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	nw.targetGroupIndex++
	return arn
}

func vpcEndpoints(ctx context.Context, t *testing.T, cfg aws.Config, vpc string) map[string]ec2types.VpcEndpoint {
	t.Helper()
	out, err := ec2.NewFromConfig(cfg).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{
		Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		t.Fatalf("DescribeVpcEndpoints: %v", err)
	}
	m := map[string]ec2types.VpcEndpoint{}
	for _, e := range out.VpcEndpoints {
		m[aws.ToString(e.ServiceName)] = e
	}
	return m
}

// grant is one policy statement in a form that compares: sorted actions
// and resources, the condition as canonical JSON.
type grant struct {
	Sid, Effect string
	Actions     []string
	Resources   []string
	Condition   string
}

func (g grant) String() string {
	s := fmt.Sprintf("%s %s %v on %v", g.Sid, g.Effect, g.Actions, g.Resources)
	if g.Condition != "" {
		s += " if " + g.Condition
	}
	return s
}

// grants reads a policy document as IAM's GetRolePolicy returns it
// (URL-encoded) into grants, sorted by Sid.
//
// Two moto 5.2 gaps are bridged here, and only here. moto stores the
// inline policy of a role that CloudFormation creates as the Python
// object it parsed, so GetRolePolicy returns its Python repr instead of
// JSON; python3 (which moto runs on) reads it with ast.literal_eval.
// And moto keeps an Fn::If that yields AWS::NoValue inside a list as a
// null element, where CloudFormation removes the element; nulls are
// dropped.
func grants(ctx context.Context, encoded string) ([]grant, error) {
	raw, err := url.QueryUnescape(encoded)
	if err != nil {
		return nil, fmt.Errorf("policy document: %w", err)
	}
	var doc struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		py := exec.CommandContext(ctx, "python3", "-c",
			"import ast, json, sys; json.dump(ast.literal_eval(sys.stdin.read()), sys.stdout)")
		py.Stdin = strings.NewReader(raw)
		var stderr bytes.Buffer
		py.Stderr = &stderr
		out, perr := py.Output()
		if perr != nil {
			return nil, fmt.Errorf("policy document is neither JSON (%v) nor a Python literal (%v: %s): %.300s", err, perr, stderr.String(), raw)
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return nil, fmt.Errorf("policy document: %w", err)
		}
	}
	if doc.Version != "2012-10-17" {
		return nil, fmt.Errorf("policy document version %q, want 2012-10-17", doc.Version)
	}
	var out []grant
	for _, s := range doc.Statement {
		if s == nil {
			continue
		}
		g := grant{Actions: stringList(s["Action"]), Resources: stringList(s["Resource"])}
		g.Sid, _ = s["Sid"].(string)
		g.Effect, _ = s["Effect"].(string)
		sort.Strings(g.Actions)
		sort.Strings(g.Resources)
		if c, ok := s["Condition"]; ok {
			b, err := json.Marshal(c)
			if err != nil {
				return nil, err
			}
			g.Condition = string(b)
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sid < out[j].Sid })
	return out, nil
}

// otherAccount is a target group in another account of moto, and the
// role tgsync assumes there. moto's STS answers AssumeRole for any role
// ARN, and what the credentials it hands out create is in the role's
// account.
type otherAccount struct {
	role, group string
	elb         *elb.Client
}

func newOtherAccount(ctx context.Context, t *testing.T, cfg aws.Config, account string) *otherAccount {
	t.Helper()
	role := "arn:aws:iam::" + account + ":role/tgsync-target"
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("test-setup")})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	roleCfg := cfg.Copy()
	roleCfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	vpc := testenv.NewVPC(t, roleCfg, "10.90.0.0/16")
	return &otherAccount{role: role, group: vpc.IPTargetGroup(t, elbtypes.ProtocolEnumTcp, 8443), elb: vpc.ELB}
}

// createStack creates a stack of the Lambda template, waits for
// CREATE_COMPLETE and returns its outputs, which it checks.
func createStack(ctx context.Context, t *testing.T, cfg aws.Config, name, body string, params map[string]string) map[string]string {
	t.Helper()
	out := launchStack(ctx, t, cfg, name, body, params)
	want := []string{"FunctionArn", "FunctionName", "LogGroupName", "RoleArn", "ScheduleRuleName", "StateBucketName", "StateObjectUrl"}
	if params["SpotTargetGroupArns"] != "" {
		want = append(want, "SpotRuleName")
	}
	if params["CreateVpcEndpoints"] == "true" {
		want = append(want, "ElasticLoadBalancingEndpointId", "LogsEndpointId", "S3EndpointId")
	}
	if params["Monitoring"] != "none" {
		want = append(want, "DashboardName")
	}
	if params["StatusListenerArn"] != "" {
		want = append(want, "StatusTargetGroupArn", "StatusPath")
	}
	for _, k := range want {
		if out[k] == "" {
			t.Errorf("output %s is missing (outputs: %v)", k, out)
		}
	}
	if want := fmt.Sprintf("s3://%s/%stgsync-state.json", out["StateBucketName"], prefixOr(params["StatePrefix"], "tgsync/")); out["StateObjectUrl"] != want {
		t.Errorf("StateObjectUrl = %s, want %s", out["StateObjectUrl"], want)
	}
	if want := "/aws/lambda/" + name; out["LogGroupName"] != want {
		t.Errorf("LogGroupName = %s, want %s", out["LogGroupName"], want)
	}
	return out
}

// launchStack creates a stack, waits for CREATE_COMPLETE and returns its
// outputs.
func launchStack(ctx context.Context, t *testing.T, cfg aws.Config, name, body string, params map[string]string) map[string]string {
	t.Helper()
	c := cfn.NewFromConfig(cfg)
	var ps []cfntypes.Parameter
	for k, v := range params {
		ps = append(ps, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	if _, err := c.CreateStack(ctx, &cfn.CreateStackInput{
		StackName: aws.String(name), TemplateBody: aws.String(body), Parameters: ps,
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
	}); err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	w := cfn.NewStackCreateCompleteWaiter(c, func(o *cfn.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	desc, err := w.WaitForOutput(ctx, &cfn.DescribeStacksInput{StackName: aws.String(name)}, time.Minute)
	if err != nil {
		t.Fatalf("stack %s did not reach CREATE_COMPLETE: %v", name, err)
	}
	out := map[string]string{}
	for _, o := range desc.Stacks[0].Outputs {
		out[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return out
}

func prefixOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// fnConfig is what Lambda reports about the deployed function.
type fnConfig struct {
	arn     string
	timeout time.Duration
	env     map[string]string
	subnets []string
	groups  []string
}

func functionConfig(ctx context.Context, t *testing.T, cfg aws.Config, out map[string]string, concurrency string) fnConfig {
	t.Helper()
	c := lambda.NewFromConfig(cfg)
	fc, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(out["FunctionName"])})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	}
	if got := string(fc.Runtime); got != "provided.al2023" {
		t.Errorf("Runtime = %s, want provided.al2023", got)
	}
	if got := aws.ToString(fc.Handler); got != "bootstrap" {
		t.Errorf("Handler = %s, want bootstrap", got)
	}
	if got := aws.ToInt32(fc.Timeout); got <= 0 || got >= 60 {
		t.Errorf("Timeout = %d s, want less than the one-minute schedule", got)
	}
	if got := aws.ToInt32(fc.MemorySize); got != 128 {
		t.Errorf("MemorySize = %d, want 128", got)
	}
	if got := aws.ToString(fc.Role); got != out["RoleArn"] {
		t.Errorf("Role = %s, want the stack's role %s", got, out["RoleArn"])
	}
	conc, err := c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(out["FunctionName"])})
	if err != nil {
		t.Fatalf("GetFunctionConcurrency: %v", err)
	}
	if want := prefixOr(concurrency, "2"); fmt.Sprint(aws.ToInt32(conc.ReservedConcurrentExecutions)) != want {
		t.Errorf("reserved concurrency = %d, want %s (by default 2: a scheduled run and a Spot event)", aws.ToInt32(conc.ReservedConcurrentExecutions), want)
	}
	r := fnConfig{arn: aws.ToString(fc.FunctionArn), timeout: time.Duration(aws.ToInt32(fc.Timeout)) * time.Second}
	if fc.Environment != nil {
		r.env = fc.Environment.Variables
	}
	if fc.VpcConfig != nil {
		r.subnets, r.groups = fc.VpcConfig.SubnetIds, fc.VpcConfig.SecurityGroupIds
	}
	return r
}
