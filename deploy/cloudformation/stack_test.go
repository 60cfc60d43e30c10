package cloudformation

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/shard"
	"github.com/tgsync/tgsync/internal/testenv"
)

// stackCase is one way to deploy the template, and what must follow.
type stackCase struct {
	name string
	// stackName, when set, turns the unique stack name into the one the
	// case deploys as.
	stackName func(unique string) string
	// params returns the stack parameters, given the world the case runs
	// in; CodeS3Bucket and CodeS3Key are added.
	params func(w *caseWorld) map[string]string
	// config is what the function's configuration must say.
	config func(w *caseWorld, out map[string]string) wantConfig
	// grants are the role's statements, in Sid order.
	grants func(w *caseWorld, out map[string]string) []grant
	// run invokes the packaged bootstrap and checks what it did; nil
	// runs nothing.
	run func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string)
}

// caseWorld is what one case created in moto and DNS.
type caseWorld struct {
	cfg         aws.Config
	dns         *dnstest.Server
	net         *network
	groups      []string // target groups to sync
	spotGroup   string
	stateBucket string // an existing bucket, for cases that bring one
	listener    string // an ALB listener, for the status page case
	t           *testing.T
	// other is a target group of another account, and the role there
	// tgsync assumes to reach it.
	other *otherAccount
	lb    string // the name of a load balancer whose interfaces a case makes
}

// holds checks that group holds exactly want; what names the group, and
// when, in the error.
func (w *caseWorld) holds(t *testing.T, group string, want []string, what string) {
	t.Helper()
	if got := testenv.Members(t, w.net.ELB, group); !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", what, got, want)
	}
}

// wantConfig is the part of the config the function must read from its
// environment.
type wantConfig struct {
	bindings  map[string]binding // by name
	state     string             // s3://bucket/prefix/
	spotDrain []string
	shards    int // TGSYNC_SHARDS; 0 for 1
}

type binding struct {
	dns   string
	group string
	ports []int
}

const (
	openSearchName = "vpc-logs-abc123.us-east-1.es.amazonaws.com"
	albName        = "internal-web-1234567890.us-east-1.elb.amazonaws.com"
)

// Addresses the DNS server answers: documentation-style private data,
// never dialled.
var (
	openSearchIPs = []netip.Addr{netip.MustParseAddr("10.40.1.17"), netip.MustParseAddr("10.40.2.23")}
	albIPs        = []netip.Addr{netip.MustParseAddr("10.50.1.5"), netip.MustParseAddr("10.50.2.6"), netip.MustParseAddr("10.50.3.7")}
	albFourth     = netip.MustParseAddr("10.50.1.8")
)

// baseGrants are the statements every deployment has.
func baseGrants(bucket, prefix, logGroup string) []grant {
	return []grant{
		{Sid: "DescribeTargetGroups", Effect: "Allow",
			Actions:   []string{"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"},
			Resources: []string{"*"}},
		{Sid: "FindStateObject", Effect: "Allow", Actions: []string{"s3:ListBucket"},
			Resources: []string{"arn:aws:s3:::" + bucket},
			Condition: fmt.Sprintf(`{"StringLike":{"s3:prefix":"%s*"}}`, prefix)},
		{Sid: "ReadWriteState", Effect: "Allow", Actions: []string{"s3:GetObject", "s3:PutObject"},
			Resources: []string{"arn:aws:s3:::" + bucket + "/" + prefix + "*"}},
		{Sid: "WriteLogs", Effect: "Allow", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []string{"arn:aws:logs:us-east-1:123456789012:log-group:" + logGroup + ":*"}},
	}
}

func withGrants(base []grant, more ...grant) []grant {
	out := append(slices.Clone(base), more...)
	sort.Slice(out, func(i, j int) bool { return out[i].Sid < out[j].Sid })
	return out
}

func syncGrant(sid string, groups ...string) grant {
	g := grant{Sid: sid, Effect: "Allow",
		Actions:   []string{"elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"},
		Resources: slices.Sorted(slices.Values(groups))}
	return g
}

func stackCases(p pkg) []stackCase {
	return []stackCase{
		{
			// The longest name CloudFormation allows: the binding, named
			// after the stack, gets a shortened name, the same at every
			// cold start.
			name:      "OpenSearch domain, the simple case, a stack name of 128 characters",
			stackName: func(unique string) string { return padName(unique, maxStackName) },
			params: func(w *caseWorld) map[string]string {
				w.dns.SetA(openSearchName, 60, openSearchIPs...)
				return map[string]string{"DomainName": openSearchName, "TargetGroupArn": w.groups[0], "Architecture": p.arch}
			},
			config: func(w *caseWorld, out map[string]string) wantConfig {
				return wantConfig{
					bindings: map[string]binding{stackBinding(out["stack"]): {dns: openSearchName, group: w.groups[0], ports: []int{443}}},
					state:    "s3://" + out["StateBucketName"] + "/tgsync/",
				}
			},
			grants: func(w *caseWorld, out map[string]string) []grant {
				return withGrants(baseGrants(out["StateBucketName"], "tgsync/", out["LogGroupName"]),
					syncGrant("SyncTargetGroup", w.groups[0]))
			},
			run: func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string) {
				fn.scheduled(ctx, t, out)
				w.holds(t, w.groups[0], ipPorts(openSearchIPs, 443), "target group (the DNS answer)")
				stateObjectExists(ctx, t, w.cfg, out["StateObjectUrl"])
			},
		},
		{
			name: "private subnets with endpoints, an existing bucket and Spot drain",
			params: func(w *caseWorld) map[string]string {
				w.dns.SetA(albName, 60, albIPs...)
				return map[string]string{
					"DomainName": albName, "TargetGroupArn": w.groups[0], "Ports": "80,443",
					"SpotTargetGroupArns": w.spotGroup,
					"StateBucket":         w.stateBucket, "StatePrefix": "team-a/tgsync/",
					"SubnetIds": strings.Join(w.net.subnets, ","), "SecurityGroupIds": w.net.securityGroup,
					"CreateVpcEndpoints": "true", "VpcId": w.net.ID, "RouteTableIds": w.net.routeTable,
					// The VPC resolver as data: the run below asks the
					// test's DNS server instead.
					"DnsServers": "10.60.0.2", "Architecture": p.arch,
				}
			},
			config: func(w *caseWorld, out map[string]string) wantConfig {
				return wantConfig{
					bindings:  map[string]binding{stackBinding(out["stack"]): {dns: albName, group: w.groups[0], ports: []int{80, 443}}},
					state:     "s3://" + w.stateBucket + "/team-a/tgsync/",
					spotDrain: []string{w.spotGroup},
				}
			},
			grants: func(w *caseWorld, out map[string]string) []grant {
				return withGrants(baseGrants(w.stateBucket, "team-a/tgsync/", out["LogGroupName"]),
					syncGrant("SyncTargetGroup", w.groups[0]),
					grant{Sid: "DrainSpotTasks", Effect: "Allow", Actions: []string{"elasticloadbalancing:DeregisterTargets"}, Resources: []string{w.spotGroup}},
					grant{Sid: "DescribeNetworkForVpcAccess", Effect: "Allow",
						Actions: []string{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}, Resources: []string{"*"}},
					grant{Sid: "ManageNetworkInterfacesForVpcAccess", Effect: "Allow",
						Actions:   []string{"ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:UnassignPrivateIpAddresses"},
						Resources: []string{"arn:aws:ec2:us-east-1:*:*"}})
			},
			// moto keeps one target per IP, so the two ports of a scheduled
			// run cannot be shown there; this case runs the Spot drain.
			run: func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string) {
				checkNetwork(ctx, t, w, fn.config)
				testenv.Register(t, w.net.ELB, w.spotGroup, 5044, spotTaskIP, "10.20.3.99")
				fn.spotInterruption(ctx, t)
				w.holds(t, w.spotGroup, []string{"10.20.3.99:5044"}, "Spot target group after the interruption of "+spotTaskIP)
			},
		},
		{
			name: "the status page behind an ALB, with alarms and a dashboard",
			params: func(w *caseWorld) map[string]string {
				w.dns.SetA(openSearchName, 60, openSearchIPs...)
				w.listener = applicationListener(w.t, w)
				return map[string]string{"DomainName": openSearchName, "TargetGroupArn": w.groups[0], "Architecture": p.arch,
					"Metrics": "essential", "StatusListenerArn": w.listener, "StatusPathPrefix": "/status", "StatusRulePriority": "7"}
			},
			config: func(w *caseWorld, out map[string]string) wantConfig {
				return wantConfig{
					bindings: map[string]binding{stackBinding(out["stack"]): {dns: openSearchName, group: w.groups[0], ports: []int{443}}},
					state:    "s3://" + out["StateBucketName"] + "/tgsync/",
				}
			},
			grants: func(w *caseWorld, out map[string]string) []grant {
				return withGrants(baseGrants(out["StateBucketName"], "tgsync/", out["LogGroupName"]),
					syncGrant("SyncTargetGroup", w.groups[0]))
			},
			run: func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string) {
				checkWatchAndStatusPage(ctx, t, w, fn, out, w.listener)
			},
		},
		{
			name: "full ConfigYaml with two bindings",
			params: func(w *caseWorld) map[string]string {
				w.dns.SetA(openSearchName, 60, openSearchIPs...)
				w.dns.SetA(albName, 60, albIPs...)
				yml := fmt.Sprintf(`dns:
  lookups: 2
bindings:
  - name: dashboards
    source: {dns: %s}
    targetGroupArn: %s
    ports: [443]
  - name: web
    source: {dns: %s}
    targetGroupArn: %s
    ports: [8443]
`, openSearchName, w.groups[0], albName, w.groups[1])
				return map[string]string{"ConfigYaml": yml, "ConfigTargetGroupArns": w.groups[0] + "," + w.groups[1],
					"LogRetentionDays": "7", "Architecture": p.arch}
			},
			config: func(w *caseWorld, out map[string]string) wantConfig {
				return wantConfig{
					bindings: map[string]binding{
						"dashboards": {dns: openSearchName, group: w.groups[0], ports: []int{443}},
						"web":        {dns: albName, group: w.groups[1], ports: []int{8443}},
					},
					state: "s3://" + out["StateBucketName"] + "/tgsync/",
				}
			},
			grants: func(w *caseWorld, out map[string]string) []grant {
				return withGrants(baseGrants(out["StateBucketName"], "tgsync/", out["LogGroupName"]),
					syncGrant("SyncConfigTargetGroups", w.groups[0], w.groups[1]))
			},
			run: func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string) {
				fn.scheduled(ctx, t, out)
				w.holds(t, w.groups[0], ipPorts(openSearchIPs, 443), "dashboards target group")
				w.holds(t, w.groups[1], ipPorts(albIPs, 8443), "web target group")
				stateObjectExists(ctx, t, w.cfg, out["StateObjectUrl"])
			},
		},
		{
			name: "a binding in another account, through a role",
			params: func(w *caseWorld) map[string]string {
				w.dns.SetA(albName, 60, albIPs...)
				yml := fmt.Sprintf("bindings:\n  - name: web\n    source: {dns: %s}\n    targetGroupArn: %s\n    ports: [8443]\n"+
					"    roleArn: %s\n    externalId: tgsync-ext\n", albName, w.other.group, w.other.role)
				return map[string]string{"ConfigYaml": yml, "ConfigTargetGroupArns": w.other.group, "AssumeRoleArns": w.other.role,
					"Architecture": p.arch}
			},
			config: func(w *caseWorld, out map[string]string) wantConfig {
				return wantConfig{
					bindings: map[string]binding{"web": {dns: albName, group: w.other.group, ports: []int{8443}}},
					state:    "s3://" + out["StateBucketName"] + "/tgsync/",
				}
			},
			grants: func(w *caseWorld, out map[string]string) []grant {
				return withGrants(baseGrants(out["StateBucketName"], "tgsync/", out["LogGroupName"]),
					syncGrant("SyncConfigTargetGroups", w.other.group),
					grant{Sid: "AssumeTargetAccountRoles", Effect: "Allow", Actions: []string{"sts:AssumeRole"}, Resources: []string{w.other.role}})
			},
			run: func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string) {
				fn.scheduled(ctx, t, out)
				if got, want := testenv.Members(t, w.other.elb, w.other.group), ipPorts(albIPs, 8443); !slices.Equal(got, want) {
					t.Errorf("the other account's target group holds %v, want %v", got, want)
				}
			},
		},
		{
			name: "two bindings in three shards",
			params: func(w *caseWorld) map[string]string {
				w.dns.SetA(openSearchName, 60, openSearchIPs...)
				w.dns.SetA(albName, 60, albIPs...)
				yml := fmt.Sprintf("bindings:\n  - name: dashboards\n    source: {dns: %s}\n    targetGroupArn: %s\n    ports: [443]\n"+
					"  - name: web\n    source: {dns: %s}\n    targetGroupArn: %s\n    ports: [8443]\n", openSearchName, w.groups[0], albName, w.groups[1])
				return map[string]string{"ConfigYaml": yml, "ConfigTargetGroupArns": w.groups[0] + "," + w.groups[1],
					"Shards": "3", "ReservedConcurrency": "4", "Architecture": p.arch}
			},
			config: func(w *caseWorld, out map[string]string) wantConfig {
				return wantConfig{
					bindings: map[string]binding{
						"dashboards": {dns: openSearchName, group: w.groups[0], ports: []int{443}},
						"web":        {dns: albName, group: w.groups[1], ports: []int{8443}},
					},
					state: "s3://" + out["StateBucketName"] + "/tgsync/", shards: 3,
				}
			},
			grants: func(w *caseWorld, out map[string]string) []grant {
				return withGrants(baseGrants(out["StateBucketName"], "tgsync/", out["LogGroupName"]),
					syncGrant("SyncConfigTargetGroups", w.groups[0], w.groups[1]))
			},
			// Each of the rule's targets, as EventBridge would send its
			// input: every shard runs the groups it holds, on its own state.
			run: func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string) {
				inputs := ruleInputs(ctx, t, w.cfg, out["FunctionArn"])
				want := []string{`{"action":"reconcile","shard":"1/3"}`, `{"action":"reconcile","shard":"2/3"}`, `{"action":"reconcile","shard":"3/3"}`}
				if !slices.Equal(inputs, want) {
					t.Fatalf("schedule rule inputs %q, want %q", inputs, want)
				}
				for _, in := range inputs {
					fn.invoke(ctx, t, []byte(in))
				}
				w.holds(t, w.groups[0], ipPorts(openSearchIPs, 443), "dashboards target group")
				w.holds(t, w.groups[1], ipPorts(albIPs, 8443), "web target group")
				for _, g := range w.groups[:2] {
					k := shard.Of(g, 3)
					stateObjectExists(ctx, t, w.cfg, shard.ObjectName(out["StateObjectUrl"], k))
				}
			},
		},
		{
			name: "an internal ALB by DNS and network interfaces, with the interface event rule",
			params: func(w *caseWorld) map[string]string {
				w.dns.SetA(albName, 60, albIPs[:2]...)
				w.lb = testenv.UniqueName("web")
				yml := fmt.Sprintf(`bindings:
  - name: web
    source: {dns: %s, loadBalancer: %s}
    targetGroupArn: %s
    ports: [443]
`, albName, w.lb, w.groups[0])
				return map[string]string{"ConfigYaml": yml, "ConfigTargetGroupArns": w.groups[0],
					"NetworkInterfaceSources": "true", "NetworkInterfaceEvents": "true", "Architecture": p.arch}
			},
			config: func(w *caseWorld, out map[string]string) wantConfig {
				return wantConfig{bindings: map[string]binding{"web": {dns: albName, group: w.groups[0], ports: []int{443}}},
					state: "s3://" + out["StateBucketName"] + "/tgsync/"}
			},
			grants: func(w *caseWorld, out map[string]string) []grant {
				return withGrants(baseGrants(out["StateBucketName"], "tgsync/", out["LogGroupName"]),
					syncGrant("SyncConfigTargetGroups", w.groups[0]),
					grant{Sid: "ReadNetworkInterfaces", Effect: "Allow", Actions: []string{"ec2:DescribeNetworkInterfaces"}, Resources: []string{"*"}})
			},
			// DNS shows two of the three nodes; the interfaces show all
			// three; a fourth node's creation event registers it at once.
			run: func(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string) {
				if out["InterfaceRuleName"] == "" {
					t.Error("no InterfaceRuleName output")
				}
				desc := "ELB app/" + w.lb + "/50dc6c495c0c9188"
				for i, ip := range albIPs {
					w.net.Interface(t, testenv.Interface{Subnet: w.net.subnets[i%2], Description: desc, IPs: []string{ip.String()}, InUse: true})
				}
				fn.scheduled(ctx, t, out)
				w.holds(t, w.groups[0], ipPorts(albIPs, 443), "target group (every node)")
				id := w.net.Interface(t, testenv.Interface{Subnet: w.net.subnets[0], Description: desc, IPs: []string{albFourth.String()}, InUse: true})
				fn.interfaceCreated(ctx, t, id, desc, albFourth.String())
				w.holds(t, w.groups[0], ipPorts(append(slices.Clone(albIPs), albFourth), 443), "target group after the creation event")
			},
		},
	}
}

// TestStackToTargetGroup deploys the template to moto with CloudFormation,
// reads back the function's environment and role, and runs the packaged
// bootstrap under a Lambda Runtime API with exactly that environment (plus
// moto's endpoint and the test's DNS server) until the target group holds
// the DNS answer.
//
// moto 5.2's CloudFormation has no model for AWS::Lambda::EventInvokeConfig,
// AWS::S3::BucketPolicy and AWS::CloudWatch::Alarm: it skips them with a
// warning and still completes the stack, so the ErrorsAlarmName output is
// missing. It also ignores the function's Architectures and LoggingConfig
// and the bucket's public access block and versioning. The static tests
// check those parts of the template.
func TestStackToTargetGroup(t *testing.T) {
	t.Parallel()
	moto := testenv.StartMoto(t)
	testenv.NeedTool(t, "python3")
	p := packaged(t)
	cfg := moto.AWSConfig()
	ctx := testenv.Context(t, 3*time.Minute)
	body, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	codeBucket, codeKey := testenv.Bucket(t, cfg, "tgsync-code"), "tgsync/cfn-test/tgsync-"+p.arch+".zip"
	if _, err := testenv.S3(cfg).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(codeBucket), Key: aws.String(codeKey), Body: bytes.NewReader(p.zip)}); err != nil {
		t.Fatalf("upload the package: %v", err)
	}
	dns := testenv.DNS(t)

	for i, tc := range stackCases(p) {
		t.Run(tc.name, func(t *testing.T) {
			w := &caseWorld{cfg: cfg, dns: dns, net: newNetwork(ctx, t, cfg, 100+i), t: t}
			w.groups = []string{w.net.targetGroup(ctx, t, 443), w.net.targetGroup(ctx, t, 8443)}
			w.spotGroup = w.net.targetGroup(ctx, t, 5044)
			w.stateBucket = testenv.Bucket(t, cfg, "tgsync-state")
			w.other = newOtherAccount(ctx, t, cfg, "111111111111")
			params := tc.params(w)
			params["CodeS3Bucket"], params["CodeS3Key"] = codeBucket, codeKey
			stack := testenv.UniqueName("tgsync")
			if tc.stackName != nil {
				stack = tc.stackName(stack)
			}
			out := createStack(ctx, t, cfg, stack, string(body), params)
			out["stack"] = stack

			fc := functionConfig(ctx, t, cfg, out, params["ReservedConcurrency"])
			checkConfig(t, fc.env, tc.config(w, out))
			checkRole(ctx, t, cfg, out, tc.grants(w, out))

			if tc.run != nil {
				fn := startFunction(ctx, t, p, fc, moto.Env(), dns.Addr())
				tc.run(ctx, t, w, fn, out)
			}
		})
	}
}

// maxStackName is the longest stack name CloudFormation accepts.
const maxStackName = 128

// padName lengthens a stack name to n characters, keeping its start.
func padName(name string, n int) string {
	return (name + "-" + strings.Repeat("long-stack-name-", n/16+1))[:n]
}

// stackBinding is the name the simple case's binding must have: the stack
// name, shortened by config.ShortBindingName (whose own tests pin the
// rule) when it is longer than a binding name may be.
func stackBinding(stack string) string { return config.ShortBindingName(stack) }
