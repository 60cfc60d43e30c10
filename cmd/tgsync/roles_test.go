package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tgsync/tgsync/internal/testenv"
)

// otherAccount is a VPC in another account of moto, reached as tgsync's
// role there would reach it. moto's STS answers AssumeRole for any role
// ARN, and requests signed with the credentials it hands out act in the
// role's account, where the process's own credentials see nothing.
type otherAccount struct {
	role string
	vpc  *testenv.VPC
}

func newOtherAccount(t *testing.T, m *testenv.Moto, account string) *otherAccount {
	t.Helper()
	role := "arn:aws:iam::" + account + ":role/tgsync-target"
	out, err := sts.NewFromConfig(m.AWSConfig()).AssumeRole(testenv.Context(t, 10*time.Second), &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("test-setup")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.AWSConfig()
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return &otherAccount{role: role, vpc: testenv.NewVPC(t, cfg, "10.70.0.0/16")}
}

// TestCrossAccountRoles: bindings that name a role reach their target
// group in the role's account with the role's credentials, assumed once
// per role, with the external ID only where one is configured; the
// others, and their groups in the process's own account, use the
// process's credentials; the Spot drain's role works the same way. A
// proxy in front of moto records which access key signed each call.
func TestCrossAccountRoles(t *testing.T) {
	w := newLambdaWorld(t)
	proxy := testenv.StartProxy(t, w.Moto)
	sdkEnv(t, proxy.URL)
	b, c := newOtherAccount(t, w.Moto, "111111111111"), newOtherAccount(t, w.Moto, "222222222222")
	home := w.targetGroup(t, 443)
	groupB := b.vpc.IPTargetGroup(t, types.ProtocolEnumHttps, 443)
	spotB := b.vpc.IPTargetGroup(t, types.ProtocolEnumTcp, 5044)
	groupC := c.vpc.IPTargetGroup(t, types.ProtocolEnumHttps, 443)
	if got := strings.Split(groupB, ":")[4]; got != "111111111111" {
		t.Fatalf("moto made the group in account %s, not the role's", got)
	}
	yaml := fmt.Sprintf(`bindings:
  - {name: home, source: {dns: %s}, targetGroupArn: %s, ports: [443]}
  - {name: acct-b, source: {dns: %s}, targetGroupArn: %s, ports: [443], roleArn: %q, externalId: tgsync-ext}
  - {name: acct-c, source: {dns: %s}, targetGroupArn: %s, ports: [443], roleArn: %q}
spotDrain: {targetGroupArns: [%s], roleArn: %q, externalId: tgsync-ext}
state: {s3: s3://%s/roles/}
`, w.name("home", "10.60.0.1"), home, w.name("b", "10.70.0.11"), groupB, b.role, w.name("c", "10.70.0.21"), groupC, c.role,
		spotB, b.role, w.Bucket)
	f, _ := inProcFunc(t, map[string]string{"TGSYNC_CONFIG_YAML": yaml, "TGSYNC_DNS_SERVERS": w.DNS.Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if _, err := f.Invoke(ctx, []byte(`{"action":"reconcile"}`)); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	for _, tc := range []struct {
		name string
		vpc  *testenv.VPC
		arn  string
		want string
	}{{"home", w.VPC, home, "10.60.0.1:443"}, {"acct-b", b.vpc, groupB, "10.70.0.11:443"}, {"acct-c", c.vpc, groupC, "10.70.0.21:443"}} {
		if got := testenv.Members(t, tc.vpc.ELB, tc.arn); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: members %v, want [%s]", tc.name, got, tc.want)
		}
	}

	// The Spot drain reaches its group through the role too.
	testenv.Register(t, b.vpc.ELB, spotB, 5044, "10.20.3.41", "10.20.3.99")
	if _, err := f.Invoke(ctx, drainEvent(t, "../../ecsevent/testdata/fargate-spot-interruption.json", 0, time.Now())); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := testenv.Members(t, b.vpc.ELB, spotB); !slices.Equal(got, []string{"10.20.3.99:5044"}) {
		t.Errorf("Spot group in account B holds %v after the interruption, want [10.20.3.99:5044]", got)
	}

	keys := map[string]map[string]bool{} // access keys by target group
	assumed := map[string][]testenv.Request{}
	for _, r := range proxy.Requests() {
		if r.Action == "AssumeRole" {
			assumed[r.Params.Get("RoleArn")] = append(assumed[r.Params.Get("RoleArn")], r)
			continue
		}
		if tg := r.Params.Get("TargetGroupArn"); tg != "" {
			if keys[tg] == nil {
				keys[tg] = map[string]bool{}
			}
			keys[tg][r.AccessKeyID] = true
		}
		if tg := r.Params.Get("TargetGroupArns.member.1"); tg != "" {
			if keys[tg] == nil {
				keys[tg] = map[string]bool{}
			}
			keys[tg][r.AccessKeyID] = true
		}
	}
	for role, external := range map[string]string{b.role: "tgsync-ext", c.role: ""} {
		rs := assumed[role]
		if len(rs) != 1 {
			t.Errorf("%s assumed %d times, want once: the credentials are cached", role, len(rs))
			continue
		}
		if rs[0].AccessKeyID != "testing" || rs[0].Params.Get("RoleSessionName") != roleSessionName {
			t.Errorf("%s assumed with key %s as session %q; want the process's own key, session %s", role, rs[0].AccessKeyID, rs[0].Params.Get("RoleSessionName"), roleSessionName)
		}
		if got, sent := rs[0].Params["ExternalId"]; external == "" && sent || external != "" && (len(got) != 1 || got[0] != external) {
			t.Errorf("%s assumed with ExternalId %q, want %q (none: left out)", role, got, external)
		}
	}
	only := func(tg string) string {
		if len(keys[tg]) != 1 {
			t.Errorf("%s called with keys %v, want one", tg, keys[tg])
		}
		for k := range keys[tg] {
			return k
		}
		return ""
	}
	kHome, kB, kSpot, kC := only(home), only(groupB), only(spotB), only(groupC)
	switch {
	case kHome != "testing":
		t.Errorf("the group of the process's own account was called with key %s, want the process's own", kHome)
	case kB == "testing" || kC == "testing" || kB == kC:
		t.Errorf("the roles' groups were called with keys %s and %s, want each role's own", kB, kC)
	case kSpot != kB:
		t.Errorf("the drain's group was called with key %s, not role B's %s", kSpot, kB)
	}
}
