package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	tgARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/legacy-tg/0123456789abcdef"
	lbARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/dash/0123456789abcdef"
	osDNS = "vpc-logs-abc123.us-east-1.es.amazonaws.com"
	albNm = "internal-web-123456.us-east-1.elb.amazonaws.com"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// TestFromEnvMapping checks each way of configuring Lambda mode against
// the YAML a person would write for the same meaning.
func TestFromEnvMapping(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tgsync.yaml")
	fileYAML := "state: {s3: s3://cfg-bucket/}\nbindings:\n  - {name: f, source: {dns: f.internal.example}, targetGroupArn: " + tgARN + ", ports: [80]}\n"
	if err := os.WriteFile(file, []byte(fileYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		yaml     string
		tgPort   int // the target group's port, for the hostname set
		wantInfo LegacyInfo
	}{
		{
			name:     "config file",
			env:      map[string]string{EnvConfig: file},
			yaml:     fileYAML,
			wantInfo: LegacyInfo{From: EnvConfig, Variables: []string{EnvConfig}},
		},
		{
			name:     "inline config",
			env:      map[string]string{EnvConfigYAML: fileYAML, EnvStateS3: "  ", "ALB_DNS_NAME": ""},
			yaml:     fileYAML,
			wantInfo: LegacyInfo{From: EnvConfigYAML, Variables: []string{EnvConfigYAML}},
		},
		{
			name: "Go function",
			env:  map[string]string{"DomainEndpoint": osDNS, "AlbId": lbARN, "AlbTargetGroupId": tgARN},
			yaml: `state: {file: /tmp/tgsync-state.json}
bindings:
  - {name: legacy-tg, source: {dns: ` + osDNS + `}, targetGroupArn: ` + tgARN + `, ports: [443]}
`,
			wantInfo: LegacyInfo{From: "DomainEndpoint", Set: SetOpenSearchGo, LoadBalancerARN: lbARN,
				Variables: []string{"AlbId", "AlbTargetGroupId", "DomainEndpoint"}},
		},
		{
			name: "Go function with state in S3",
			env:  map[string]string{"DomainEndpoint": osDNS, "AlbTargetGroupId": tgARN, EnvStateS3: "s3://state-bucket/os"},
			yaml: `state: {s3: s3://state-bucket/os/}
bindings:
  - {name: legacy-tg, source: {dns: ` + osDNS + `}, targetGroupArn: ` + tgARN + `, ports: [443]}
`,
			wantInfo: LegacyInfo{From: "DomainEndpoint", Set: SetOpenSearchGo,
				Variables: []string{"AlbTargetGroupId", "DomainEndpoint", EnvStateS3}},
		},
		{
			name: "ALB behind NLB, every variable",
			env: map[string]string{"ALB_DNS_NAME": albNm, "ALB_LISTENER": "443", "S3_BUCKET": "legacy-state",
				"NLB_TG_ARN": tgARN, "MAX_LOOKUP_PER_INVOCATION": "50", "INVOCATIONS_BEFORE_DEREGISTRATION": "5",
				"CW_METRIC_FLAG_IP_COUNT": "TrUe", "SAME_VPC": "FALSE"},
			yaml: `dns: {lookups: 16}
state: {s3: "s3://legacy-state/` + albNm + `/"}
bindings:
  - name: legacy-tg
    source: {dns: ` + albNm + `}
    targetGroupArn: ` + tgARN + `
    ports: [443]
    availabilityZone: all
    deregister: {afterMisses: 5, afterDuration: 2m}
`,
			wantInfo: LegacyInfo{From: string(SetALBBehindNLB), Set: SetALBBehindNLB,
				Variables: []string{"ALB_DNS_NAME", "ALB_LISTENER", "CW_METRIC_FLAG_IP_COUNT", "INVOCATIONS_BEFORE_DEREGISTRATION", "MAX_LOOKUP_PER_INVOCATION", "NLB_TG_ARN", "S3_BUCKET", "SAME_VPC"},
				IPCount: &IPCountMetric{Variable: "CW_METRIC_FLAG_IP_COUNT", Metric: "LoadBalancerIPCount", Dimension: "LoadBalancerName",
					DNSName: albNm, LegacyNamespace: "AWS/ApplicationELB"},
				Notes: []string{"MAX_LOOKUP_PER_INVOCATION=50 is more than tgsync's maximum of 16 lookups per name and run; using 16"}},
		},
		{
			name: "ALB behind NLB, defaults",
			env:  map[string]string{"ALB_DNS_NAME": albNm, "ALB_LISTENER": "80", "S3_BUCKET": "legacy-state", "NLB_TG_ARN": tgARN, "INVOCATIONS_BEFORE_DEREGISTRATION": "1"},
			yaml: `dns: {lookups: 10}
state: {s3: "s3://legacy-state/` + albNm + `/"}
bindings:
  - {name: legacy-tg, source: {dns: ` + albNm + `}, targetGroupArn: ` + tgARN + `, ports: [80], deregister: {afterMisses: 1, afterDuration: 0s}}
`,
			wantInfo: LegacyInfo{From: string(SetALBBehindNLB), Set: SetALBBehindNLB,
				Variables: []string{"ALB_DNS_NAME", "ALB_LISTENER", "INVOCATIONS_BEFORE_DEREGISTRATION", "NLB_TG_ARN", "S3_BUCKET"}},
		},
		{
			name:   "hostname as target, defaults",
			env:    map[string]string{"TARGET_FQDN": "db.corp.example", "ELB_TG_ARN": tgARN, "S3_BUCKET": "legacy-state", "DNS_SERVER": "10.0.0.2"},
			tgPort: 5432,
			yaml: `dns: {lookups: 10, servers: ["10.0.0.2:53"]}
state: {s3: "s3://legacy-state/db.corp.example/"}
bindings:
  - {name: legacy-tg, source: {dns: db.corp.example}, targetGroupArn: ` + tgARN + `, ports: [5432], shared: true, deregister: {afterMisses: 3, afterDuration: 1m}}
`,
			wantInfo: LegacyInfo{From: string(SetHostnameAsTarget), Set: SetHostnameAsTarget, PortFromTargetGroup: "legacy-tg",
				Variables: []string{"DNS_SERVER", "ELB_TG_ARN", "S3_BUCKET", "TARGET_FQDN"},
				IPCount: &IPCountMetric{Variable: "REPORT_IP_COUNT_CW_METRIC", Metric: "HostnameAsTargetIPCount", Dimension: "HostnameIPCount",
					DNSName: "db.corp.example", LegacyNamespace: "AWS/NetworkELB"}},
		},
		{
			name: "hostname as target, every variable",
			env: map[string]string{"TARGET_FQDN": "db.corp.example.", "ELB_TG_ARN": tgARN, "S3_BUCKET": "legacy-state",
				"DNS_SERVER": "10.0.0.2, 10.0.1.2;10.0.2.2:5353 fd00::53", "BUCKET_REGION": "us-west-2", "MAX_LOOKUP_PER_INVOCATION": "2",
				"INVOCATIONS_BEFORE_DEREGISTRATION": "4", "REPORT_IP_COUNT_CW_METRIC": "false", "REMOVE_UNTRACKED_TG_IP": "True"},
			tgPort: 443,
			yaml: `dns: {lookups: 2, servers: ["10.0.0.2", "10.0.1.2", "10.0.2.2:5353", "fd00::53"]}
state: {s3: "s3://legacy-state/db.corp.example/"}
bindings:
  - {name: legacy-tg, source: {dns: db.corp.example.}, targetGroupArn: ` + tgARN + `, ports: [443], deregister: {afterMisses: 4, afterDuration: 90s}}
`,
			wantInfo: LegacyInfo{From: string(SetHostnameAsTarget), Set: SetHostnameAsTarget, PortFromTargetGroup: "legacy-tg", BucketRegion: "us-west-2",
				Variables: []string{"BUCKET_REGION", "DNS_SERVER", "ELB_TG_ARN", "INVOCATIONS_BEFORE_DEREGISTRATION", "MAX_LOOKUP_PER_INVOCATION",
					"REMOVE_UNTRACKED_TG_IP", "REPORT_IP_COUNT_CW_METRIC", "S3_BUCKET", "TARGET_FQDN"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, info, err := FromEnv(envOf(tc.env))
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if !reflect.DeepEqual(info, tc.wantInfo) {
				t.Errorf("info = %+v\nwant %+v", info, tc.wantInfo)
			}
			if info.PortFromTargetGroup != "" {
				if len(cfg.Bindings[0].Ports) != 0 {
					t.Errorf("ports = %v before the target group's port is known", cfg.Bindings[0].Ports)
				}
				if err := info.SetTargetGroupPort(cfg, tc.tgPort); err != nil {
					t.Fatalf("SetTargetGroupPort: %v", err)
				}
			}
			want, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("the equivalent YAML does not parse: %v", err)
			}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("config = %+v\nwant   %+v (from the YAML)", cfg, want)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestFromEnvErrors checks that every contradiction and bad value names
// the variables a person must change.
func TestFromEnvErrors(t *testing.T) {
	alb := map[string]string{"ALB_DNS_NAME": albNm, "ALB_LISTENER": "443", "S3_BUCKET": "legacy-state", "NLB_TG_ARN": tgARN}
	host := map[string]string{"TARGET_FQDN": "db.corp.example", "ELB_TG_ARN": tgARN, "S3_BUCKET": "legacy-state"}
	goSet := map[string]string{"DomainEndpoint": osDNS, "AlbTargetGroupId": tgARN}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantVars []string // every variable the error must name
		wantMsg  string
	}{
		{"nothing set", map[string]string{}, nil, "no configuration"},
		{"config file and inline config", map[string]string{EnvConfig: "/x.yaml", EnvConfigYAML: "bindings: []"}, []string{EnvConfig, EnvConfigYAML}, "not both"},
		{"config file and ALB_DNS_NAME", map[string]string{EnvConfig: "/x.yaml", "ALB_DNS_NAME": albNm}, []string{EnvConfig, "ALB_DNS_NAME"}, "one way only"},
		{"inline config and S3_BUCKET", map[string]string{EnvConfigYAML: "x: 1", "S3_BUCKET": "b-b-b"}, []string{EnvConfigYAML, "S3_BUCKET"}, "remove the legacy variables"},
		{"ALB_DNS_NAME and TARGET_FQDN", with(alb, "TARGET_FQDN", "db.corp.example"), []string{"ALB_DNS_NAME", "TARGET_FQDN"}, "one way only"},
		{"Go set and ALB set", with(goSet, "NLB_TG_ARN", tgARN), []string{"DomainEndpoint", "NLB_TG_ARN"}, "one way only"},
		{"Go set with S3_BUCKET", with(goSet, "S3_BUCKET", "b-b-b"), []string{"DomainEndpoint", "S3_BUCKET"}, stateS3Hint},
		{"ALB set with TGSYNC_STATE_S3", with(alb, EnvStateS3, "s3://x-y-z/"), []string{EnvStateS3, "S3_BUCKET"}, "DomainEndpoint set only"},
		{"shared variables alone", map[string]string{"S3_BUCKET": "b-b-b", "MAX_LOOKUP_PER_INVOCATION": "3"}, []string{"S3_BUCKET", "MAX_LOOKUP_PER_INVOCATION"}, "what to resolve"},
		{"Spot variant", with(goSet, "NlbId", lbARN), []string{"NlbId"}, "spotDrain"},
		{"bad number of invocations", with(alb, "INVOCATIONS_BEFORE_DEREGISTRATION", "three"), []string{"INVOCATIONS_BEFORE_DEREGISTRATION"}, "whole number from 1"},
		{"zero invocations", with(host, "INVOCATIONS_BEFORE_DEREGISTRATION", "0"), []string{"INVOCATIONS_BEFORE_DEREGISTRATION"}, "from 1"},
		{"zero lookups", with(alb, "MAX_LOOKUP_PER_INVOCATION", "0"), []string{"MAX_LOOKUP_PER_INVOCATION"}, "from 1"},
		{"listener not a port", with(alb, "ALB_LISTENER", "65536"), []string{"ALB_LISTENER"}, "to 65535"},
		{"listener missing", with(alb, "ALB_LISTENER", ""), []string{"ALB_LISTENER"}, "is required"},
		{"target group missing", with(alb, "NLB_TG_ARN", ""), []string{"NLB_TG_ARN"}, "is required"},
		{"bucket missing", with(host, "S3_BUCKET", ""), []string{"S3_BUCKET"}, "is required"},
		{"bad target group", with(host, "ELB_TG_ARN", "arn:aws:ec2:us-east-1:111122223333:instance/i-1"), []string{"ELB_TG_ARN"}, "elasticloadbalancing"},
		{"bad bucket", with(alb, "S3_BUCKET", "Bad_Bucket"), []string{"S3_BUCKET"}, "bucket name"},
		{"bad flag", with(alb, "CW_METRIC_FLAG_IP_COUNT", "yes"), []string{"CW_METRIC_FLAG_IP_COUNT"}, "true or false"},
		{"bad SAME_VPC", with(alb, "SAME_VPC", "maybe"), []string{"SAME_VPC"}, "true or false"},
		{"bad DNS server", with(host, "DNS_SERVER", "10.0.0.2,resolver.corp"), []string{"DNS_SERVER"}, "item 2: must be an IP address"},
		{"bad bucket region", with(host, "BUCKET_REGION", "oregon"), []string{"BUCKET_REGION"}, "Region name"},
		{"bad REMOVE_UNTRACKED_TG_IP", with(host, "REMOVE_UNTRACKED_TG_IP", "sometimes"), []string{"REMOVE_UNTRACKED_TG_IP"}, "true or false"},
		{"endpoint as URL", with(goSet, "DomainEndpoint", "https://"+osDNS), []string{"DomainEndpoint"}, "without a scheme"},
		{"endpoint is an address", with(goSet, "DomainEndpoint", "10.1.2.3"), []string{"DomainEndpoint"}, "IP address"},
		{"bad AlbId", with(goSet, "AlbId", tgARN), []string{"AlbId"}, "load balancer ARN"},
		{"bad TGSYNC_STATE_S3", with(goSet, EnvStateS3, "bucket/prefix"), []string{EnvStateS3}, "s3://"},
		{"several problems at once", with(alb, "ALB_LISTENER", "x", "SAME_VPC", "x", "NLB_TG_ARN", ""), []string{"ALB_LISTENER", "SAME_VPC", "NLB_TG_ARN"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := FromEnv(envOf(tc.env))
			if err == nil {
				t.Fatalf("FromEnv accepted %v: %+v", tc.env, cfg)
			}
			var ee *EnvError
			if !errors.As(err, &ee) {
				t.Fatalf("error %q is a %T, want *EnvError", err, err)
			}
			got := ee.Variables()
			for _, v := range tc.wantVars {
				if !slices.Contains(got, v) || !strings.Contains(err.Error(), v) {
					t.Errorf("error does not name %s:\n%v", v, err)
				}
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error does not say %q:\n%v", tc.wantMsg, err)
			}
		})
	}
}

// stateS3Hint is what the Go set says about S3_BUCKET.
const stateS3Hint = "use " + EnvStateS3

func TestFromEnvConfigErrorsNameTheSource(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"file missing", map[string]string{EnvConfig: missing}, []string{EnvConfig, missing}},
		{"inline config invalid", map[string]string{EnvConfigYAML: "bindings:\n  - name: x\n    ports: [0]\n"}, []string{"TGSYNC_CONFIG_YAML:3: bindings[0].ports[0]"}},
		{"inline config not YAML", map[string]string{EnvConfigYAML: "bindings: [\n"}, []string{"TGSYNC_CONFIG_YAML"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := FromEnv(envOf(tc.env))
			if err == nil {
				t.Fatal("FromEnv accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestLegacyLookupCapIsTheConfigMaximum checks that check accepts exactly
// up to maxLookups, the cap FromEnv applies to MAX_LOOKUP_PER_INVOCATION.
func TestLegacyLookupCapIsTheConfigMaximum(t *testing.T) {
	env := map[string]string{"ALB_DNS_NAME": albNm, "ALB_LISTENER": "443", "S3_BUCKET": "legacy-state", "NLB_TG_ARN": tgARN}
	cfg, _, err := FromEnv(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DNS.Lookups = maxLookups
	if err := cfg.Validate(); err != nil {
		t.Errorf("lookups at the cap: %v", err)
	}
	cfg.DNS.Lookups = maxLookups + 1
	if err := cfg.Validate(); err == nil {
		t.Errorf("lookups %d validates: check must refuse more than maxLookups", maxLookups+1)
	}
}

func TestSetTargetGroupPort(t *testing.T) {
	env := map[string]string{"TARGET_FQDN": "db.corp.example", "ELB_TG_ARN": tgARN, "S3_BUCKET": "legacy-state"}
	tests := []struct {
		name    string
		port    int
		wantErr string
	}{
		{"valid", 8080, ""},
		{"out of range", 70000, "bindings[0].ports[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, info, err := FromEnv(envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			err = info.SetTargetGroupPort(cfg, tc.port)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("SetTargetGroupPort: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("SetTargetGroupPort(%d) = %v, want an error about %s", tc.port, err, tc.wantErr)
			case err == nil && !slices.Equal(cfg.Bindings[0].Ports, []int{tc.port}):
				t.Errorf("ports = %v", cfg.Bindings[0].Ports)
			}
		})
	}
	if err := (LegacyInfo{PortFromTargetGroup: "other"}).SetTargetGroupPort(&Config{}, 1); err == nil {
		t.Error("SetTargetGroupPort on a config without the binding succeeded")
	}
}
