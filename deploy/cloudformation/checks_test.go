package cloudformation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/testenv"
)

// checkConfig reads the environment the way the function does at init
// (config.FromEnv) and compares the result.
func checkConfig(t *testing.T, env map[string]string, want wantConfig) {
	t.Helper()
	if env["TGSYNC_CONFIG"] != "" {
		t.Errorf("TGSYNC_CONFIG = %q, want the config inline in TGSYNC_CONFIG_YAML only", env["TGSYNC_CONFIG"])
	}
	cfg, info, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the function's environment is not a valid config: %v\nTGSYNC_CONFIG_YAML:\n%s", err, env["TGSYNC_CONFIG_YAML"])
	}
	if info.From != "TGSYNC_CONFIG_YAML" {
		t.Errorf("config read from %q, want TGSYNC_CONFIG_YAML", info.From)
	}
	got := map[string]binding{}
	for _, b := range cfg.Bindings {
		var name string
		if b.Source.DNS != nil {
			name = b.Source.DNS.Name
		}
		got[b.Name] = binding{dns: name, group: b.TargetGroupARN, ports: b.Ports}
	}
	if !reflect.DeepEqual(got, want.bindings) {
		t.Errorf("bindings = %+v\nwant %+v", got, want.bindings)
	}
	if cfg.State.S3 == nil || cfg.State.S3.String() != want.state {
		t.Errorf("state = %+v, want s3 %s", cfg.State, want.state)
	}
	var spot []string
	if cfg.SpotDrain != nil {
		spot = cfg.SpotDrain.TargetGroupARNs
	}
	if !slices.Equal(spot, want.spotDrain) {
		t.Errorf("spotDrain.targetGroupArns = %v, want %v", spot, want.spotDrain)
	}
	if got, want := env["TGSYNC_SHARDS"], fmt.Sprint(max(want.shards, 1)); got != want {
		t.Errorf("TGSYNC_SHARDS = %q, want %s", got, want)
	}
}

// ruleInputs are the inputs with which the rules that target a function
// invoke it, sorted, "" for a target without one. The SDK's EventBridge
// client is not among tgsync's modules, so the calls are made in the
// API's JSON protocol (moto checks no signature).
func ruleInputs(ctx context.Context, t *testing.T, cfg aws.Config, function string) []string {
	t.Helper()
	var rules struct{ RuleNames []string }
	eventsCall(ctx, t, cfg, "ListRuleNamesByTarget", map[string]string{"TargetArn": function}, &rules)
	var inputs []string
	for _, rule := range rules.RuleNames {
		var out struct {
			Targets []struct{ Arn, Input string }
		}
		eventsCall(ctx, t, cfg, "ListTargetsByRule", map[string]string{"Rule": rule}, &out)
		for _, tg := range out.Targets {
			if tg.Arn == function {
				inputs = append(inputs, tg.Input)
			}
		}
	}
	sort.Strings(inputs)
	return inputs
}

func eventsCall(ctx context.Context, t *testing.T, cfg aws.Config, action string, in, out any) {
	t.Helper()
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, aws.ToString(cfg.BaseEndpoint)+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSEvents."+action)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/"+cfg.Region+"/events/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %s, %v", action, resp.Status, err)
	}
}

// checkRole compares the role's policies, read back from IAM, with the
// expected statements: exactly one inline policy, no managed ones.
func checkRole(ctx context.Context, t *testing.T, cfg aws.Config, out map[string]string, want []grant) {
	t.Helper()
	checkRolePolicy(ctx, t, cfg, out["RoleArn"], "tgsync", want)
}

// checkRolePolicy checks that the role roleARN has exactly one inline
// policy, policy, with the statements want, and no managed ones.
func checkRolePolicy(ctx context.Context, t *testing.T, cfg aws.Config, roleARN, policy string, want []grant) {
	t.Helper()
	c := iam.NewFromConfig(cfg)
	role := roleARN[strings.LastIndex(roleARN, "/")+1:]
	list, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatalf("ListRolePolicies: %v", err)
	}
	if !slices.Equal(list.PolicyNames, []string{policy}) {
		t.Errorf("inline policies of %s: %v, want [%s]", role, list.PolicyNames, policy)
	}
	attached, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		t.Fatalf("ListAttachedRolePolicies: %v", err)
	}
	if len(attached.AttachedPolicies) > 0 {
		t.Errorf("managed policies attached: %v", attached.AttachedPolicies)
	}
	pol, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(policy)})
	if err != nil {
		t.Fatalf("GetRolePolicy: %v", err)
	}
	got, err := grants(ctx, aws.ToString(pol.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("grants of %s's policy %s:\n%s\nwant:\n%s", role, policy, joinGrants(got), joinGrants(want))
	}
}

func joinGrants(gs []grant) string {
	var b strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&b, "  %s\n", g)
	}
	return b.String()
}

// checkNetwork checks the function's VPC settings and the endpoints.
func checkNetwork(ctx context.Context, t *testing.T, w *caseWorld, fc fnConfig) {
	t.Helper()
	if !slices.Equal(fc.subnets, w.net.subnets) || !slices.Equal(fc.groups, []string{w.net.securityGroup}) {
		t.Errorf("VpcConfig subnets %v groups %v, want %v and [%s]", fc.subnets, fc.groups, w.net.subnets, w.net.securityGroup)
	}
	if got := fc.env["TGSYNC_DNS_SERVERS"]; got != "10.60.0.2" {
		t.Errorf("TGSYNC_DNS_SERVERS = %q, want the DnsServers parameter", got)
	}
	eps := vpcEndpoints(ctx, t, w.cfg, w.net.ID)
	for _, service := range []string{"elasticloadbalancing", "logs"} {
		ep := eps["com.amazonaws.us-east-1."+service]
		if string(ep.VpcEndpointType) != "Interface" || !aws.ToBool(ep.PrivateDnsEnabled) || !slices.Equal(ep.SubnetIds, w.net.subnets) {
			t.Errorf("%s endpoint = type %s, private DNS %v, subnets %v; want Interface, true, %v",
				service, ep.VpcEndpointType, aws.ToBool(ep.PrivateDnsEnabled), ep.SubnetIds, w.net.subnets)
		}
	}
	s3EP := eps["com.amazonaws.us-east-1.s3"]
	if string(s3EP.VpcEndpointType) != "Gateway" || !slices.Equal(s3EP.RouteTableIds, []string{w.net.routeTable}) {
		t.Errorf("s3 endpoint = type %s, route tables %v; want Gateway, [%s]", s3EP.VpcEndpointType, s3EP.RouteTableIds, w.net.routeTable)
	}
	if len(eps) != 3 {
		t.Errorf("%d endpoints in the VPC, want 3: elasticloadbalancing, logs, s3", len(eps))
	}
}

func ipPorts(addrs []netip.Addr, port uint16) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a, port).String())
	}
	sort.Strings(out)
	return out
}

func stateObjectExists(ctx context.Context, t *testing.T, cfg aws.Config, url string) {
	t.Helper()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
	obj, err := testenv.S3(cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the state object %s: %v", url, err)
	}
	defer obj.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(obj.Body).Decode(&st); err != nil {
		t.Errorf("the state object %s is not JSON: %v", url, err)
	}
}
