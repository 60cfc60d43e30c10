package cloudformation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// templatePaths are every template of this directory.
var templatePaths = []string{templatePath, daemonTemplatePath}

// forEachTemplate runs check on every template, each in a subtest.
func forEachTemplate(t *testing.T, check func(t *testing.T, path string, tpl map[string]any)) {
	for _, path := range templatePaths {
		t.Run(path, func(t *testing.T) {
			tpl, err := loadTemplate(path)
			if err != nil {
				t.Fatal(err)
			}
			check(t, path, tpl)
		})
	}
}

func TestFunctionRuntime(t *testing.T) {
	tpl := mustTemplate(t)
	props, typ := resource(tpl, "Function")
	if typ != "AWS::Lambda::Function" {
		t.Fatalf("resource Function is %q, want AWS::Lambda::Function", typ)
	}
	tests := []struct {
		key  string
		want any
	}{
		{"Runtime", "provided.al2023"},
		{"Handler", "bootstrap"},
		{"MemorySize", 128},
		{"Architectures", []any{map[string]any{"Ref": "Architecture"}}},
		{"Code", map[string]any{"S3Bucket": map[string]any{"Ref": "CodeS3Bucket"}, "S3Key": map[string]any{"Ref": "CodeS3Key"}}},
		{"LoggingConfig", map[string]any{"LogGroup": map[string]any{"Ref": "LogGroup"}}},
	}
	for _, tt := range tests {
		if got := props[tt.key]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Function.%s = %#v, want %#v", tt.key, got, tt.want)
		}
	}
	// The schedule fires every 60 s; a run must end before the next.
	if to, ok := props["Timeout"].(int); !ok || to <= 0 || to >= 60 {
		t.Errorf("Function.Timeout = %#v, want 1..59 seconds", props["Timeout"])
	}
	arch, _ := section(tpl, "Parameters")["Architecture"].(map[string]any)
	if arch["Default"] != "arm64" || !reflect.DeepEqual(arch["AllowedValues"], []any{"arm64", "x86_64"}) {
		t.Errorf("Architecture parameter = %v, want default arm64 and values arm64, x86_64", arch)
	}
}

func TestEveryParameterAndConditionIsUsed(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		u := &usage{refs: map[string]int{}, conditions: map[string]int{}}
		// Metadata lists every parameter for the console and Rules only check
		// them: neither counts as a use.
		collectUsage(section(tpl, "Conditions"), u)
		collectUsage(section(tpl, "Resources"), u)
		collectUsage(section(tpl, "Outputs"), u)
		for _, sec := range []string{"Resources", "Outputs"} {
			for _, v := range section(tpl, sec) {
				if m, ok := v.(map[string]any); ok {
					if c, ok := m["Condition"].(string); ok {
						u.conditions[c]++
					}
				}
			}
		}
		for name := range section(tpl, "Parameters") {
			if u.refs[name] == 0 {
				t.Errorf("parameter %s is never used", name)
			}
		}
		for name := range section(tpl, "Conditions") {
			if u.conditions[name] == 0 {
				t.Errorf("condition %s is never used", name)
			}
		}
		// And the other way round: nothing refers to what is not there.
		known := map[string]bool{}
		for _, sec := range []string{"Parameters", "Resources"} {
			for name := range section(tpl, sec) {
				known[name] = true
			}
		}
		for name := range u.refs {
			if !known[name] && !strings.HasPrefix(name, "AWS::") {
				t.Errorf("%s is referred to but is neither a parameter nor a resource", name)
			}
		}
		for name := range u.conditions {
			if _, ok := section(tpl, "Conditions")[name]; !ok {
				t.Errorf("condition %s is used but not defined", name)
			}
		}
	})
}

func TestConsoleInterfaceListsEveryParameterOnce(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		iface, _ := section(tpl, "Metadata")["AWS::CloudFormation::Interface"].(map[string]any)
		groups, _ := iface["ParameterGroups"].([]any)
		labels, _ := iface["ParameterLabels"].(map[string]any)
		seen := map[string]int{}
		for _, g := range groups {
			gm, _ := g.(map[string]any)
			for _, p := range stringList(gm["Parameters"]) {
				seen[p]++
			}
		}
		params := section(tpl, "Parameters")
		for name, p := range params {
			if seen[name] != 1 {
				t.Errorf("parameter %s is in %d parameter groups, want 1", name, seen[name])
			}
			if _, ok := labels[name]; !ok {
				t.Errorf("parameter %s has no label", name)
			}
			if d, _ := p.(map[string]any)["Description"].(string); len(d) < 20 {
				t.Errorf("parameter %s: description %q says too little", name, d)
			}
		}
		for name := range seen {
			if _, ok := params[name]; !ok {
				t.Errorf("parameter group lists %s, which is not a parameter", name)
			}
		}
	})
}

// describeOnly are the actions allowed on "*": AWS supports no
// resource-level permissions for them.
var describeOnly = []string{
	"elasticloadbalancing:DescribeTargetGroups",
	"elasticloadbalancing:DescribeTargetHealth",
	"ec2:DescribeNetworkInterfaces",
	"ec2:DescribeSubnets",
	"ecr:GetAuthorizationToken",
}

func TestIAMLeastPrivilege(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		stmts := policyStatements(tpl)
		if len(stmts) < 5 {
			t.Fatalf("found %d policy statements; the walk misses the policies", len(stmts))
		}
		scoped := map[string]bool{
			"elasticloadbalancing:RegisterTargets":   true,
			"elasticloadbalancing:DeregisterTargets": true,
			"s3:PutObject":                           true,
			"s3:GetObject":                           true,
			"sts:AssumeRole":                         true,
		}
		for _, s := range stmts {
			actions := stringList(s.m["Action"])
			resources := stringList(s.m["Resource"])
			if s.m["NotAction"] != nil || s.m["NotResource"] != nil {
				t.Errorf("%s: NotAction/NotResource grant more than they name", s.where)
			}
			for _, a := range actions {
				if a == "*" {
					t.Errorf("%s: action \"*\"", s.where)
				}
				if s.m["Effect"] == "Allow" && strings.Contains(a, "*") {
					t.Errorf("%s: allows wildcard action %s", s.where, a)
				}
			}
			if s.m["Effect"] != "Allow" {
				continue
			}
			star := slices.Contains(resources, "*")
			for _, a := range actions {
				if star && !slices.Contains(describeOnly, a) {
					t.Errorf("%s: %s on resource \"*\"; only %v may be", s.where, a, describeOnly)
				}
				if scoped[a] {
					for _, r := range resources {
						if r == "*" || strings.HasPrefix(r, "arn:aws:") {
							t.Errorf("%s: %s on %q, want a resource built from parameters with ${AWS::Partition}", s.where, a, r)
						}
					}
				}
			}
			if slices.Contains(actions, "logs:CreateLogGroup") {
				t.Errorf("%s: logs:CreateLogGroup; the stack creates the log group", s.where)
			}
		}
	})
}

func TestRegisterAndDeregisterOnlyOnParameterTargetGroups(t *testing.T) {
	tpl := mustTemplate(t)
	want := map[string][]string{
		"elasticloadbalancing:RegisterTargets":   {"ConfigTargetGroupArns", "TargetGroupArn"},
		"elasticloadbalancing:DeregisterTargets": {"ConfigTargetGroupArns", "SpotTargetGroupArns", "TargetGroupArn"},
		// The roles of other accounts' target groups, and no other.
		"sts:AssumeRole": {"AssumeRoleArns"},
	}
	got := map[string][]string{}
	for _, s := range policyStatements(tpl) {
		for _, a := range stringList(s.m["Action"]) {
			if _, ok := want[a]; !ok {
				continue
			}
			r, _ := s.m["Resource"].(map[string]any)
			ref, ok := r["Ref"].(string)
			if !ok || len(r) != 1 {
				t.Errorf("%s: %s on %#v, want exactly a target group parameter", s.where, a, s.m["Resource"])
				continue
			}
			got[a] = append(got[a], ref)
		}
	}
	for a := range got {
		sort.Strings(got[a])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("target groups per action = %v, want %v", got, want)
	}
}

func TestNoManagedPolicies(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range resourcesOfType(tpl, "AWS::IAM::Role") {
			props, _ := resource(tpl, id)
			if props["ManagedPolicyArns"] != nil {
				t.Errorf("role %s has ManagedPolicyArns", id)
			}
		}
		if ids := resourcesOfType(tpl, "AWS::IAM::ManagedPolicy"); len(ids) > 0 {
			t.Errorf("managed policies %v", ids)
		}
		for _, s := range []string{":iam::aws:policy/", "AmazonS3ReadOnlyAccess", "AWSLambdaBasicExecutionRole", "go1.x"} {
			if strings.Contains(string(data), s) {
				t.Errorf("template contains %q", s)
			}
		}
	})
}

// TestARNsUsePartition finds ARNs written for the aws partition only.
func TestARNsUsePartition(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch x := v.(type) {
			case string:
				if strings.Contains(x, "arn:aws:") || strings.Contains(x, "com.amazonaws.") && !strings.Contains(x, "${AWS::Region}") {
					t.Errorf("%s: %q names a fixed partition or Region", path, x)
				}
			case map[string]any:
				for k, e := range x {
					walk(path+"."+k, e)
				}
			case []any:
				for _, e := range x {
					walk(path+"[]", e)
				}
			}
		}
		walk("Resources", section(tpl, "Resources"))
		walk("Outputs", section(tpl, "Outputs"))
	})
}

func TestRulesMatchShippedPatterns(t *testing.T) {
	for _, tc := range []struct{ rule, file, condition string }{
		{"SpotRule", spotPatternPath, "HasSpot"},
		{"InterfaceRule", interfacePatternPath, "InterfaceEvents"},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatalf("the shipped pattern: %v", err)
		}
		var want any
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		tpl := mustTemplate(t)
		props, _ := resource(tpl, tc.rule)
		// Through JSON, so that YAML's int and JSON's float64 compare equal.
		got, err := viaJSON(props["EventPattern"])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			t.Errorf("%s.EventPattern = %s\nwant %s (%s)", tc.rule, g, strings.Join(strings.Fields(string(data)), " "), tc.file)
		}
		if c := section(tpl, "Resources")[tc.rule].(map[string]any)["Condition"]; c != tc.condition {
			t.Errorf("%s condition = %v, want %s", tc.rule, c, tc.condition)
		}
	}
}

// TestInterfaceReadOnlyWhenAsked: ec2:DescribeNetworkInterfaces, beyond
// what a VPC function needs, is granted only when a binding reads
// network interfaces.
func TestInterfaceReadOnlyWhenAsked(t *testing.T) {
	props, _ := resource(mustTemplate(t), "Role")
	doc := props["Policies"].([]any)[0].(map[string]any)["PolicyDocument"].(map[string]any)
	found := 0
	for _, s := range doc["Statement"].([]any) {
		for _, b := range branches(s) {
			if b["Sid"] != "ReadNetworkInterfaces" {
				continue
			}
			found++
			cond, _ := s.(map[string]any)["Fn::If"].([]any)
			if len(cond) != 3 || cond[0] != "ReadInterfaces" || !reflect.DeepEqual(cond[2], map[string]any{"Ref": "AWS::NoValue"}) ||
				!slices.Equal(stringList(b["Action"]), []string{"ec2:DescribeNetworkInterfaces"}) {
				t.Errorf("ReadNetworkInterfaces = %v; want only ec2:DescribeNetworkInterfaces, when ReadInterfaces, else nothing", s)
			}
		}
	}
	if found != 1 {
		t.Fatalf("%d ReadNetworkInterfaces statements, want 1", found)
	}
}

func viaJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

func TestRulesTargetTheFunctionWithBoundedRetries(t *testing.T) {
	tpl := mustTemplate(t)
	fnArn := map[string]any{"Fn::GetAtt": []any{"Function", "Arn"}}
	shard1 := map[string]any{"Fn::If": []any{"Sharded", map[string]any{"Fn::Sub": `{"action":"reconcile","shard":"1/${Shards}"}`},
		map[string]any{"Ref": "AWS::NoValue"}}}
	shard := func(k int) map[string]any {
		return map[string]any{"Fn::Sub": fmt.Sprintf(`{"action":"reconcile","shard":"%d/${Shards}"}`, k)}
	}
	tests := []struct {
		rule, permission string
		schedule         any
		retries          int
		input            any    // the target's Input
		condition        string // the rule's and the permission's
	}{
		{rule: "ScheduleRule", permission: "SchedulePermission", schedule: "rate(1 minute)", retries: 0, input: shard1},
		{rule: "ScheduleRuleShard2", permission: "ScheduleShard2Permission", schedule: "rate(1 minute)", input: shard(2), condition: "Sharded"},
		{rule: "ScheduleRuleShard3", permission: "ScheduleShard3Permission", schedule: "rate(1 minute)", input: shard(3), condition: "ShardsAtLeast3"},
		{rule: "ScheduleRuleShard4", permission: "ScheduleShard4Permission", schedule: "rate(1 minute)", input: shard(4), condition: "ShardsAtLeast4"},
		{rule: "ScheduleRuleShard5", permission: "ScheduleShard5Permission", schedule: "rate(1 minute)", input: shard(5), condition: "ShardsAtLeast5"},
		{rule: "SpotRule", permission: "SpotPermission", schedule: nil, retries: 2, condition: "HasSpot"},
		{rule: "InterfaceRule", permission: "InterfacePermission", schedule: nil, retries: 2, condition: "InterfaceEvents"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			props, typ := resource(tpl, tt.rule)
			if typ != "AWS::Events::Rule" {
				t.Fatalf("%s is %q", tt.rule, typ)
			}
			if props["ScheduleExpression"] != tt.schedule {
				t.Errorf("ScheduleExpression = %v, want %v", props["ScheduleExpression"], tt.schedule)
			}
			targets, _ := props["Targets"].([]any)
			if len(targets) != 1 {
				t.Fatalf("%d targets, want 1", len(targets))
			}
			tg := targets[0].(map[string]any)
			if !reflect.DeepEqual(tg["Arn"], fnArn) {
				t.Errorf("target = %v, want the function", tg["Arn"])
			}
			want := map[string]any{"MaximumRetryAttempts": tt.retries, "MaximumEventAgeInSeconds": 60}
			if !reflect.DeepEqual(tg["RetryPolicy"], want) {
				t.Errorf("RetryPolicy = %v, want %v", tg["RetryPolicy"], want)
			}
			if !reflect.DeepEqual(tg["Input"], tt.input) {
				t.Errorf("Input = %v, want %v", tg["Input"], tt.input)
			}
			for _, id := range []string{tt.rule, tt.permission} {
				c, _ := section(tpl, "Resources")[id].(map[string]any)["Condition"].(string)
				if c != tt.condition {
					t.Errorf("%s has condition %q, want %q", id, c, tt.condition)
				}
			}
			perm, _ := resource(tpl, tt.permission)
			wantPerm := map[string]any{
				"FunctionName":  fnArn,
				"Action":        "lambda:InvokeFunction",
				"Principal":     "events.amazonaws.com",
				"SourceAccount": map[string]any{"Ref": "AWS::AccountId"},
				"SourceArn":     map[string]any{"Fn::GetAtt": []any{tt.rule, "Arn"}},
			}
			if !reflect.DeepEqual(perm, wantPerm) {
				t.Errorf("%s = %v, want %v", tt.permission, perm, wantPerm)
			}
		})
	}
	inv, _ := resource(tpl, "EventInvokeConfig")
	want := map[string]any{
		"FunctionName":             map[string]any{"Ref": "Function"},
		"Qualifier":                "$LATEST",
		"MaximumRetryAttempts":     0,
		"MaximumEventAgeInSeconds": 60,
	}
	if !reflect.DeepEqual(inv, want) {
		t.Errorf("EventInvokeConfig = %v, want %v", inv, want)
	}
}

func TestStateBucketIsPrivateAndEncrypted(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		props, _ := resource(tpl, "StateBucketResource")
		enc, _ := viaJSON(props["BucketEncryption"])
		wantEnc, _ := viaJSON(map[string]any{"ServerSideEncryptionConfiguration": []any{
			map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}})
		if !reflect.DeepEqual(enc, wantEnc) {
			t.Errorf("BucketEncryption = %v, want SSE AES256", enc)
		}
		pab, _ := props["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				t.Errorf("PublicAccessBlockConfiguration.%s = %v, want true", k, pab[k])
			}
		}
		r := section(tpl, "Resources")["StateBucketResource"].(map[string]any)
		if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("state bucket DeletionPolicy %v, UpdateReplacePolicy %v; want Retain (docs/deploy.md says it is kept)", r["DeletionPolicy"], r["UpdateReplacePolicy"])
		}
		var denies int
		for _, s := range policyStatements(tpl) {
			if !strings.HasPrefix(s.where, "StateBucketPolicy") {
				continue
			}
			cond, _ := viaJSON(s.m["Condition"])
			want, _ := viaJSON(map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}})
			if s.m["Effect"] == "Deny" && reflect.DeepEqual(cond, want) && s.m["Principal"] == "*" {
				denies++
			}
		}
		if denies != 1 {
			t.Errorf("state bucket policy has %d statements denying aws:SecureTransport false, want 1", denies)
		}
	})
}

func TestLogGroupHasRetention(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		props, _ := resource(tpl, "LogGroup")
		if !reflect.DeepEqual(props["RetentionInDays"], map[string]any{"Ref": "LogRetentionDays"}) {
			t.Errorf("LogGroup.RetentionInDays = %v, want the LogRetentionDays parameter", props["RetentionInDays"])
		}
		p, _ := section(tpl, "Parameters")["LogRetentionDays"].(map[string]any)
		if p["Default"] != 30 {
			t.Errorf("LogRetentionDays default = %v, want 30", p["Default"])
		}
		if path != templatePath {
			return // the daemon has no function whose errors to count
		}
		alarm, _ := resource(tpl, "ErrorsAlarm")
		if alarm["MetricName"] != "Errors" || alarm["Namespace"] != "AWS/Lambda" {
			t.Errorf("ErrorsAlarm watches %v/%v, want AWS/Lambda Errors", alarm["Namespace"], alarm["MetricName"])
		}
	})
}

// TestCfnLint runs cfn-lint on every template here: any error or warning
// fails (cfn-lint exits 2 for errors, 4 for warnings, 8 for
// informational findings).
func TestCfnLint(t *testing.T) {
	t.Parallel()
	bin := testenv.NeedTool(t, "cfn-lint")
	templates, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(templates) == 0 {
		t.Fatal("no templates found")
	}
	for _, tpl := range templates {
		t.Run(tpl, func(t *testing.T) {
			ctx := testenv.Context(t, 2*time.Minute)
			start := time.Now()
			out, err := exec.CommandContext(ctx, bin, "--format", "parseable", tpl).CombinedOutput()
			var exit *exec.ExitError
			switch {
			case errors.As(err, &exit):
				t.Errorf("cfn-lint %s: exit %d:\n%s", tpl, exit.ExitCode(), out)
			case err != nil:
				t.Fatalf("cfn-lint %s: %v", tpl, err)
			case len(out) > 0:
				t.Errorf("cfn-lint %s printed findings:\n%s", tpl, out)
			}
			t.Logf("cfn-lint %s: %s", tpl, time.Since(start).Round(time.Millisecond))
		})
	}
}
