package cloudformation

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// deployerPolicyPath is the policy docs/deploy.md gives the person who
// runs tgsync deploy.
const deployerPolicyPath = "../iam/tgsync-deployer.json"

// createActions are, for every resource type of tgsync.yaml, the calls
// CloudFormation makes with the deployer's credentials to create it.
var createActions = map[string][]string{
	"AWS::S3::Bucket":                           {"s3:CreateBucket", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration", "s3:PutBucketOwnershipControls"},
	"AWS::S3::BucketPolicy":                     {"s3:PutBucketPolicy"},
	"AWS::Logs::LogGroup":                       {"logs:CreateLogGroup", "logs:PutRetentionPolicy"},
	"AWS::IAM::Role":                            {"iam:CreateRole", "iam:PutRolePolicy", "iam:GetRole"},
	"AWS::Lambda::Function":                     {"lambda:CreateFunction", "lambda:GetFunction", "lambda:PutFunctionConcurrency", "iam:PassRole", "s3:GetObject"},
	"AWS::Lambda::EventInvokeConfig":            {"lambda:PutFunctionEventInvokeConfig"},
	"AWS::Lambda::Permission":                   {"lambda:AddPermission"},
	"AWS::Events::Rule":                         {"events:PutRule", "events:PutTargets", "events:DescribeRule"},
	"AWS::CloudWatch::Alarm":                    {"cloudwatch:PutMetricAlarm"},
	"AWS::CloudWatch::Dashboard":                {"cloudwatch:PutDashboard", "cloudwatch:GetDashboard"},
	"AWS::ElasticLoadBalancingV2::TargetGroup":  {"elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:ModifyTargetGroupAttributes"},
	"AWS::ElasticLoadBalancingV2::ListenerRule": {"elasticloadbalancing:CreateRule", "elasticloadbalancing:DescribeRules"},
	"AWS::EC2::SecurityGroup":                   {"ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress"},
	"AWS::EC2::VPCEndpoint":                     {"ec2:CreateVpcEndpoint", "ec2:DescribeVpcEndpoints", "route53:AssociateVPCWithHostedZone"},
	"tgsync deploy itself":                      {"cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:GetTemplate", "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:DeleteChangeSet", "s3:CreateBucket", "s3:ListBucket", "s3:PutObject", "lambda:InvokeFunction"},
	"tgsync deploy --delete-state":              {"s3:ListBucketVersions", "s3:DeleteObjectVersion", "s3:DeleteBucket"},
	"a function in a VPC (--subnets)":           {"ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"},
}

// TestDeployerPolicy checks the deployer's policy: valid IAM JSON, every
// call that deploying the template and tgsync deploy make, no action on
// "*" but EC2's, Route 53's and ELB's describe calls, which have no
// resource-level permissions, and docs/deploy.md shows it as it is.
func TestDeployerPolicy(t *testing.T) {
	data, err := os.ReadFile(deployerPolicyPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", deployerPolicyPath, err)
	}
	if doc.Version != "2012-10-17" {
		t.Errorf("Version %q", doc.Version)
	}
	action := regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)
	allowed := map[string]bool{}
	sids := map[string]bool{}
	for _, s := range doc.Statement {
		sid, _ := s["Sid"].(string)
		if sid == "" || sids[sid] {
			t.Errorf("statement without a Sid of its own: %v", s)
		}
		sids[sid] = true
		if s["Effect"] != "Allow" || s["NotAction"] != nil || s["NotResource"] != nil {
			t.Errorf("%s: want Allow with Action and Resource", sid)
		}
		resources := stringList(s["Resource"])
		for _, a := range stringList(s["Action"]) {
			if !action.MatchString(a) {
				t.Errorf("%s: action %q", sid, a)
			}
			allowed[a] = true
			if slices.Contains(resources, "*") && !strings.HasPrefix(a, "ec2:") && !strings.HasPrefix(a, "route53:") && !strings.HasPrefix(a, "elasticloadbalancing:Describe") {
				t.Errorf("%s: %s on \"*\"", sid, a)
			}
		}
	}
	tpl := mustTemplate(t)
	for _, r := range section(tpl, "Resources") {
		typ, _ := r.(map[string]any)["Type"].(string)
		if _, ok := createActions[typ]; !ok {
			t.Errorf("resource type %s of the template: no create actions are known; add them here and to %s", typ, deployerPolicyPath)
		}
	}
	for what, actions := range createActions {
		for _, a := range actions {
			if !allowed[a] {
				t.Errorf("%s needs %s, which the policy does not allow", what, a)
			}
		}
	}
	guide, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), string(data)) {
		t.Errorf("docs/deploy.md does not show %s as it is", deployerPolicyPath)
	}
}
