package cloudformation

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
)

// emfSource is the code that writes the EMF metrics the alarms and the
// dashboard read: the names they use must be names it writes.
func emfSource(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../internal/obs/emf.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// emitted reports whether emf.go declares a metric of that name, and
// whether MetricsEssential keeps it.
func emitted(src, name string) (declared, essential bool) {
	declared = strings.Contains(src, `{"`+name+`", Unit`)
	m := regexp.MustCompile(`essentialMetrics = map\[string\]bool\{([^}]*)\}`).FindStringSubmatch(src)
	essential = m != nil && strings.Contains(m[1], `"`+name+`": true`)
	return declared, essential
}

// TestSelfMonitoringAlarms: the alarms query metrics tgsync writes, under
// the condition that they exist (Refused only with Metrics all), in its
// namespace and dimension; missing data breaches only the alarm on runs
// that stopped coming.
func TestSelfMonitoringAlarms(t *testing.T) {
	tpl := mustTemplate(t)
	src := emfSource(t)
	tests := []struct {
		alarm, condition, metric, aggregate string
		needsEssential                      bool
		operator, missing                   string
		minutes                             int
	}{
		{"SourceFailuresAlarm", "WatchBindings", "SourceFailures", "SUM", true, "GreaterThanOrEqualToThreshold", "notBreaching", 5},
		{"RefusalsAlarm", "WatchRefusals", "Refused", "SUM", false, "GreaterThanOrEqualToThreshold", "notBreaching", 10},
		{"NoHealthyTargetAlarm", "WatchBindings", "HealthyTargets", "MIN", true, "LessThanThreshold", "notBreaching", 5},
	}
	for _, tt := range tests {
		t.Run(tt.alarm, func(t *testing.T) {
			r, _ := section(tpl, "Resources")[tt.alarm].(map[string]any)
			props, typ := resource(tpl, tt.alarm)
			if typ != "AWS::CloudWatch::Alarm" || r["Condition"] != tt.condition {
				t.Fatalf("%s: type %q condition %v, want an alarm under %s", tt.alarm, typ, r["Condition"], tt.condition)
			}
			declared, essential := emitted(src, tt.metric)
			if !declared || essential != tt.needsEssential {
				t.Errorf("metric %s: written %v, kept by essential %v; want written, essential %v", tt.metric, declared, essential, tt.needsEssential)
			}
			metrics, _ := props["Metrics"].([]any)
			if len(metrics) != 1 {
				t.Fatalf("Metrics = %v, want one Metrics Insights query", props["Metrics"])
			}
			q, _ := metrics[0].(map[string]any)
			want := fmt.Sprintf("SELECT %s(%s) FROM SCHEMA(%s, Binding)", tt.aggregate, tt.metric, obs.DefaultNamespace)
			if q["Expression"] != want || q["Period"] != 60 || q["ReturnData"] != true {
				t.Errorf("query %v, want %q every 60 s", q, want)
			}
			if props["ComparisonOperator"] != tt.operator || props["TreatMissingData"] != tt.missing || props["EvaluationPeriods"] != tt.minutes {
				t.Errorf("%v %v over %v periods, want %s, %s over %d", props["ComparisonOperator"], props["TreatMissingData"], props["EvaluationPeriods"],
					tt.operator, tt.missing, tt.minutes)
			}
		})
	}
	if !strings.Contains(src, `line(map[string]string{"Binding": b.Binding}`) {
		t.Error("emf.go no longer writes the per-binding metrics with the dimension Binding the alarms read")
	}

	props, _ := resource(tpl, "NotRunningAlarm")
	ns, _ := props["Namespace"].(map[string]any)["Fn::If"].([]any)
	name, _ := props["MetricName"].(map[string]any)["Fn::If"].([]any)
	if len(ns) != 3 || ns[0] != "HasRunMetric" || ns[1] != obs.DefaultNamespace || ns[2] != "AWS/Lambda" ||
		len(name) != 3 || name[2] != "Invocations" {
		t.Errorf("NotRunningAlarm reads %v %v, want tgsync's run metric with Metrics all, else Lambda's Invocations", ns, name)
	}
	if declared, _ := emitted(src, fmt.Sprint(name[1])); !declared || !strings.Contains(src, `return runLines(line, res`) {
		t.Errorf("the run metric %v is not written once per run", name[1])
	}
	if props["TreatMissingData"] != "breaching" || props["Period"] != 60 || props["EvaluationPeriods"] != 5 || props["DatapointsToAlarm"] != 5 ||
		props["ComparisonOperator"] != "LessThanThreshold" || props["Threshold"] != 1 {
		t.Errorf("NotRunningAlarm %v: want fewer than 1 run in each of 5 minutes, missing data breaching", props)
	}
}

// TestDashboardBody: the dashboard is valid JSON once CloudFormation
// substitutes it, and every metric it shows is one tgsync writes.
func TestDashboardBody(t *testing.T) {
	tpl := mustTemplate(t)
	src := emfSource(t)
	props, typ := resource(tpl, "Dashboard")
	body, _ := props["DashboardBody"].(map[string]any)["Fn::Sub"].(string)
	if typ != "AWS::CloudWatch::Dashboard" || body == "" {
		t.Fatalf("Dashboard: type %q, body %q", typ, body)
	}
	sub := strings.NewReplacer("${AWS::Region}", "us-east-1", "${Function}", "tgsync-fn").Replace(body)
	if strings.Contains(sub, "${") {
		t.Errorf("the body has a variable the test does not know: %s", sub)
	}
	var doc struct {
		Widgets []struct {
			Properties struct {
				Title   string  `json:"title"`
				Region  string  `json:"region"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(sub), &doc); err != nil {
		t.Fatalf("dashboard body is not JSON: %v", err)
	}
	searched := regexp.MustCompile(`SEARCH\('\{tgsync,Binding\} MetricName="([A-Za-z]+)"'`)
	var names []string
	for _, w := range doc.Widgets {
		if w.Properties.Region != "us-east-1" || w.Properties.Title == "" || len(w.Properties.Metrics) == 0 {
			t.Errorf("widget %+v: want a title, the stack's Region and metrics", w.Properties)
		}
		for _, m := range w.Properties.Metrics {
			if e, ok := m[0].(map[string]any); ok {
				s := searched.FindStringSubmatch(fmt.Sprint(e["expression"]))
				if s == nil {
					t.Errorf("expression %v: want a SEARCH over {tgsync,Binding}", e["expression"])
					continue
				}
				names = append(names, s[1])
			} else if m[0] == obs.DefaultNamespace {
				names = append(names, fmt.Sprint(m[1]))
			}
		}
	}
	for _, n := range names {
		if declared, _ := emitted(src, n); !declared {
			t.Errorf("the dashboard shows %s, which tgsync does not write", n)
		}
	}
	for _, want := range []string{"HealthyTargets", "DesiredTargets", "RegisteredTargets", "SourceFailures", "Refused"} {
		if !slices.Contains(names, want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}

// TestStatusPageWiring: with StatusListenerArn, the function is the
// target of a lambda target group that the load balancer may invoke, a
// listener rule sends the path to it, and the function strips the path.
func TestStatusPageWiring(t *testing.T) {
	tpl := mustTemplate(t)
	for _, id := range []string{"StatusPermission", "StatusTargetGroup", "StatusListenerRule"} {
		if r, _ := section(tpl, "Resources")[id].(map[string]any); r["Condition"] != "HasStatusListener" {
			t.Errorf("%s: condition %v, want HasStatusListener", id, r["Condition"])
		}
	}
	perm, _ := resource(tpl, "StatusPermission")
	if perm["Principal"] != "elasticloadbalancing.amazonaws.com" || perm["Action"] != "lambda:InvokeFunction" || perm["SourceAccount"] == nil {
		t.Errorf("permission %v", perm)
	}
	tg, _ := resource(tpl, "StatusTargetGroup")
	r, _ := section(tpl, "Resources")["StatusTargetGroup"].(map[string]any)
	if tg["TargetType"] != "lambda" || r["DependsOn"] != "StatusPermission" || !strings.Contains(fmt.Sprint(tg["Targets"]), "Function Arn") {
		t.Errorf("target group %v (DependsOn %v): want type lambda, the function as target, after the permission", tg, r["DependsOn"])
	}
	rule, _ := resource(tpl, "StatusListenerRule")
	if s := fmt.Sprint(rule["Conditions"]); !strings.Contains(s, "path-pattern") || !strings.Contains(s, "${StatusPathPrefix}/*") {
		t.Errorf("rule conditions %s: want the prefix and everything under it", s)
	}
	fn, _ := resource(tpl, "Function")
	vars, _ := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if s := fmt.Sprint(vars["TGSYNC_STATUS_PATH_PREFIX"]); !strings.Contains(s, "HasStatusListener") || !strings.Contains(s, "StatusPathPrefix") {
		t.Errorf("TGSYNC_STATUS_PATH_PREFIX = %s", s)
	}
}

// applicationListener creates an internet-free ALB in the network with an
// HTTP listener, for the status page case.
func applicationListener(t *testing.T, w *caseWorld) string {
	t.Helper()
	ctx := testenv.Context(t, 30e9)
	lb, err := w.net.ELB.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		Name: aws.String(testenv.UniqueName("alb")), Type: elbtypes.LoadBalancerTypeEnumApplication,
		Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: w.net.subnets, SecurityGroups: []string{w.net.securityGroup}})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	l, err := w.net.ELB.CreateListener(ctx, &elb.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumFixedResponse,
			FixedResponseConfig: &elbtypes.FixedResponseActionConfig{StatusCode: aws.String("404")}}},
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	return aws.ToString(l.Listeners[0].ListenerArn)
}

// checkWatchAndStatusPage checks, in moto, what the stack made for the
// dashboard and the status page, and asks the running function for the
// page as the load balancer would.
func checkWatchAndStatusPage(ctx context.Context, t *testing.T, w *caseWorld, fn *runningFunction, out map[string]string, listener string) {
	t.Helper()
	// moto's CloudWatch does not speak the CBOR protocol of the SDK's
	// client; CloudFormation says what it made of the dashboard instead.
	res, err := cfn.NewFromConfig(w.cfg).ListStackResources(ctx, &cfn.ListStackResourcesInput{StackName: aws.String(out["stack"])})
	if err != nil {
		t.Fatalf("ListStackResources: %v", err)
	}
	made := map[string]string{}
	for _, r := range res.StackResourceSummaries {
		made[aws.ToString(r.LogicalResourceId)] = string(r.ResourceStatus) + " " + aws.ToString(r.PhysicalResourceId)
	}
	if made["Dashboard"] != string(cfntypes.ResourceStatusCreateComplete)+" "+out["DashboardName"] {
		t.Errorf("dashboard: %q, want %s created", made["Dashboard"], out["DashboardName"])
	}
	tgs, err := w.net.ELB.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{out["StatusTargetGroupArn"]}})
	if err != nil || len(tgs.TargetGroups) != 1 || tgs.TargetGroups[0].TargetType != elbtypes.TargetTypeEnumLambda {
		t.Errorf("status target group %s: %v %+v, want type lambda", out["StatusTargetGroupArn"], err, tgs)
	}
	rules, err := w.net.ELB.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(listener)})
	if err != nil {
		t.Fatalf("DescribeRules: %v", err)
	}
	forwarded := false
	for _, r := range rules.Rules {
		for _, a := range r.Actions {
			if aws.ToString(a.TargetGroupArn) == out["StatusTargetGroupArn"] {
				forwarded = strings.Contains(fmt.Sprint(r.Conditions[0].Values, r.Conditions[0].PathPatternConfig), "/status/*")
			}
		}
	}
	if !forwarded {
		t.Errorf("no rule on the listener sends /status/* to the status target group: %+v", rules.Rules)
	}
	policy, err := lambda.NewFromConfig(w.cfg).GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(out["FunctionName"])})
	if err != nil || !strings.Contains(aws.ToString(policy.Policy), "elasticloadbalancing.amazonaws.com") {
		t.Errorf("function policy: %v %s, want the load balancer allowed to invoke it", err, aws.ToString(policy.Policy))
	}
	if fn.config.env["TGSYNC_STATUS_PATH_PREFIX"] != "/status" {
		t.Errorf("TGSYNC_STATUS_PATH_PREFIX = %q, want /status", fn.config.env["TGSYNC_STATUS_PATH_PREFIX"])
	}

	fn.scheduled(ctx, t, out)
	req, _ := json.Marshal(events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: out["StatusPath"],
		RequestContext: events.ALBTargetGroupRequestContext{ELB: events.ELBContext{TargetGroupArn: out["StatusTargetGroupArn"]}}})
	var resp events.ALBTargetGroupResponse
	if err := json.Unmarshal(fn.invoke(ctx, t, req).Response, &resp); err != nil || resp.StatusCode != 200 ||
		!strings.Contains(resp.Body, "group: 2 of 2 healthy") {
		t.Errorf("GET %s through the load balancer: %v, status %d:\n%.3000s", out["StatusPath"], err, resp.StatusCode, resp.Body)
	}
}
