package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret stands for a password in a file that --config names by mistake.
// It is invalid wherever it appears: no name, ARN, range, bucket, stop
// code, number or boolean has a '/' and a '+'.
const secret = "Hunter2/s3cr3t+Q"

// TestErrorsNeverEchoValues: whatever file --config names, an error quotes
// at most a key (clipped), never a value or a line, and still gives the
// key path and line. Each case puts the secret in another place.
func TestErrorsNeverEchoValues(t *testing.T) {
	// tg is a valid ARN to put the secret into.
	const tg = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef"
	tests := []struct {
		name string
		data string
		want []want
	}{
		// files that are no tgsync config at all
		{".env file", "DB_PASSWORD=" + secret + "\nAPI_KEY=" + secret + "\n",
			[]want{{"", 1, "must be a mapping of keys, got a string"}}},
		{"shell file", "# settings\nexport DB_PASSWORD=" + secret + "\n",
			[]want{{"", 2, "must be a mapping of keys, got a string"}}},
		{"JSON file", `{"db": {"password": "` + secret + `"}, "dns": "` + secret + `"}`,
			[]want{{"db", 1, `unknown key "db"`}, {"dns", 1, "must be a mapping of keys, got a string"}, {"bindings", 1, "at least one binding"}}},
		{"INI file", "[database]\npassword = " + secret + "\n",
			[]want{{"", 2, "invalid YAML"}}},
		{"properties file", "db.password: " + secret + "\n" + minimal,
			[]want{{"db.password", 1, `unknown key "db.password"`}}},
		// YAML syntax errors on the secret's line
		{"unterminated double quote", minimal + `    token: "` + secret + "\n",
			[]want{{"", 7, "invalid YAML"}}},
		{"unterminated single quote", minimal + "    token: '" + secret + "\n",
			[]want{{"", 7, "invalid YAML"}}},
		{"bad escape", minimal + `    token: "\q` + secret + `"` + "\n",
			[]want{{"", 7, "invalid YAML: found unknown escape character"}}},
		{"two values on a line", minimal + "    token: " + secret + ": x\n",
			[]want{{"", 7, "invalid YAML: mapping values are not allowed"}}},
		{"alias named like the secret", minimal + "    shared: *Hunter2s3cr3tQ\n",
			[]want{{"", 7, "invalid YAML: an alias"}}},
		{"tab after the secret", "token:\t" + secret + "\n\tx: y\n",
			[]want{{"", 2, "invalid YAML"}}},
		// values of known keys of the wrong type
		{"string for a number", "dns:\n  lookups: " + secret + "\n" + minimal,
			[]want{{"dns.lookups", 2, "must be a whole number, got a string"}}},
		{"string for a duration", "dns:\n  timeout: " + secret + "\n" + minimal,
			[]want{{"dns.timeout", 2, "must be a duration"}}},
		{"string for a mapping", "state: " + secret + "\n" + minimal,
			[]want{{"state", 1, "must be a mapping of keys, got a string"}}},
		{"string for a list", edit(t, minimal, "ports: [443]", "ports: "+secret),
			[]want{{"bindings[0].ports", 6, "must be a list, got a string"}}},
		{"string for a boolean", minimal + "    shared: " + secret + "\n",
			[]want{{"bindings[0].shared", 7, "must be true or false, got a string"}}},
		{"string with a custom tag", minimal + "    availabilityZone: !" + secret + " x\n",
			[]want{{"bindings[0].availabilityZone", 7, "custom tag"}}},
		{"binding is a string", "bindings:\n  - " + secret + "\n",
			[]want{{"bindings[0]", 2, "must be a mapping of keys, got a string"}}},
		{"duplicate key", edit(t, minimal, "    ports: [443]\n", "    ports: [443]\n    name: "+secret+"\n"),
			[]want{{"bindings[0].name", 7, "set twice; it was first set on line 2"}}},
		// values of the right type that do not validate
		{"binding name", edit(t, minimal, "name: web", "name: "+secret),
			[]want{{"bindings[0].name", 2, "1 to 64 letters"}}},
		{"dns name", edit(t, minimal, "dns: web.internal.example", "dns: "+secret),
			[]want{{"bindings[0].source.dns", 4, "not a valid DNS name"}}},
		{"not an ARN", edit(t, minimal, "targetGroupArn: "+tg, "targetGroupArn: "+secret),
			[]want{{"bindings[0].targetGroupArn", 5, "must be an ARN"}}},
		{"ARN partition", edit(t, minimal, "arn:aws:", "arn:"+secret+":"),
			[]want{{"bindings[0].targetGroupArn", 5, "partition"}}},
		{"ARN Region", edit(t, minimal, "us-east-1", secret),
			[]want{{"bindings[0].targetGroupArn", 5, "Region"}}},
		{"ARN account", edit(t, minimal, "111122223333", secret),
			[]want{{"bindings[0].targetGroupArn", 5, "12 digits"}}},
		{"ARN service", edit(t, minimal, "elasticloadbalancing", secret),
			[]want{{"bindings[0].targetGroupArn", 5, "elasticloadbalancing"}}},
		{"ARN resource", edit(t, minimal, "targetgroup/web/0123456789abcdef", secret),
			[]want{{"bindings[0].targetGroupArn", 5, "targetgroup/<name>/<id>"}}},
		{"target group name", edit(t, minimal, "targetgroup/web/", "targetgroup/"+strings.ReplaceAll(secret, "/", "_")+"/"),
			[]want{{"bindings[0].targetGroupArn", 5, "target group name"}}},
		{"target group id", edit(t, minimal, "/0123456789abcdef", "/"+strings.ReplaceAll(secret, "/", "_")),
			[]want{{"bindings[0].targetGroupArn", 5, "16 hex digits"}}},
		{"availability zone", minimal + "    availabilityZone: " + secret + "\n",
			[]want{{"bindings[0].availabilityZone", 7, `must be "" or "all"`}}},
		{"allowed range", minimal + "    allowedCidrs: [" + secret + "]\n",
			[]want{{"bindings[0].allowedCidrs[0]", 7, "must be a CIDR range"}}},
		{"families", edit(t, minimal, "dns: web.internal.example\n", "dns: web.internal.example\n      families: ["+secret+"]\n"),
			[]want{{"bindings[0].source.families[0]", 5, "must be ipv4 or ipv6"}}},
		{"dns families", "dns:\n  families: [" + secret + "]\n" + minimal,
			[]want{{"dns.families[0]", 2, "must be ipv4 or ipv6"}}},
		{"dns server", "dns:\n  servers: [" + secret + "]\n" + minimal,
			[]want{{"dns.servers[0]", 2, "must be an IP address"}}},
		{"state s3 URL", "state:\n  s3: " + secret + "\n" + minimal,
			[]want{{"state.s3", 2, "s3://bucket/prefix/"}}},
		{"state s3 bucket", "state:\n  s3: s3://" + strings.ReplaceAll(secret, "/", "") + "/p/\n" + minimal,
			[]want{{"state.s3", 2, "bucket name must use lowercase"}}},
		{"state s3 prefix", "state:\n  s3: s3://bucket/" + secret + "?x\n" + minimal,
			[]want{{"state.s3", 2, "without '?' or '#'"}}},
		{"spot drain", "spotDrain:\n  targetGroupArns: [" + secret + "]\n  stopCodes: [" + secret + "]\n  clusters: [arn:aws:ecs:us-east-1:111122223333:cluster/" + secret + "]\n",
			[]want{{"spotDrain.targetGroupArns[0]", 2, "must be an ARN"}, {"spotDrain.stopCodes[0]", 3, "stop code"}, {"spotDrain.clusters[0]", 4, "cluster name"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error echoes the secret:\n%v", err)
			}
			for _, part := range []string{"Hunter2", "s3cr3t"} {
				if err != nil && strings.Contains(err.Error(), part) {
					t.Errorf("error echoes part of the secret (%s):\n%v", part, err)
				}
			}
			assertProblems(t, tt.data, tt.want)
		})
	}
}

// TestLoadOfAnUnrelatedFile: Load names the file and the line, not what
// the line holds.
func TestLoadOfAnUnrelatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("DB_USER=app\nDB_PASSWORD="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load accepted a .env file")
	}
	if want := path + ":1: must be a mapping of keys, got a string"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

// TestYAMLMessagesLoseQuotedValues covers the parser's messages that quote
// what the file holds, and keeps its fixed ones.
func TestYAMLMessagesLoseQuotedValues(t *testing.T) {
	tests := []struct{ in, want string }{
		{"did not find expected ',' or ']'", "did not find expected ',' or ']'"},
		{"mapping values are not allowed in this context", "mapping values are not allowed in this context"},
		{"unknown anchor '" + secret + "' referenced", "an alias (*name) refers to an anchor (&name) that is not defined before it"},
		{"anchor '" + secret + "' value contains itself", "an anchor's value contains an alias of itself"},
		{"cannot unmarshal !!str `" + secret + "` into int", "cannot unmarshal !!str … into int"},
		{`invalid map key: "` + secret + `"`, "invalid map key: …"},
		{panicked + "runtime error near " + secret, "the YAML parser failed on this file"},
	}
	for _, tt := range tests {
		if got := yamlMessage(tt.in); got != tt.want {
			t.Errorf("yamlMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFromEnvNeverEchoesValues: the environment path names the variable
// to fix and never repeats its value.
func TestFromEnvNeverEchoesValues(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(envFile, []byte("DB_PASSWORD="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alb := map[string]string{"ALB_DNS_NAME": albNm, "ALB_LISTENER": "443", "S3_BUCKET": "legacy-state", "NLB_TG_ARN": tgARN}
	host := map[string]string{"TARGET_FQDN": "db.corp.example", "ELB_TG_ARN": tgARN, "S3_BUCKET": "legacy-state"}
	goSet := map[string]string{"DomainEndpoint": osDNS, "AlbTargetGroupId": tgARN}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for bk, bv := range base {
			if bk != k {
				out[bk] = bv
			}
		}
		return out
	}
	tests := []struct {
		name, variable string
		env            map[string]string
	}{
		{"TGSYNC_CONFIG names a .env file", EnvConfig, map[string]string{EnvConfig: envFile}},
		{"TGSYNC_CONFIG_YAML holds a .env file", EnvConfigYAML, map[string]string{EnvConfigYAML: "DB_PASSWORD=" + secret}},
		{"listener", "ALB_LISTENER", with(alb, "ALB_LISTENER", secret)},
		{"lookups", "MAX_LOOKUP_PER_INVOCATION", with(alb, "MAX_LOOKUP_PER_INVOCATION", secret)},
		{"invocations", "INVOCATIONS_BEFORE_DEREGISTRATION", with(alb, "INVOCATIONS_BEFORE_DEREGISTRATION", secret)},
		{"same VPC", "SAME_VPC", with(alb, "SAME_VPC", secret)},
		{"metric flag", "CW_METRIC_FLAG_IP_COUNT", with(alb, "CW_METRIC_FLAG_IP_COUNT", secret)},
		{"bucket", "S3_BUCKET", with(alb, "S3_BUCKET", secret)},
		{"target group", "NLB_TG_ARN", with(alb, "NLB_TG_ARN", secret)},
		{"ALB name as URL", "ALB_DNS_NAME", with(alb, "ALB_DNS_NAME", "https://"+secret)},
		{"host name", "TARGET_FQDN", with(host, "TARGET_FQDN", secret)},
		{"DNS server", "DNS_SERVER", with(host, "DNS_SERVER", "10.0.0.2,"+secret)},
		{"bucket Region", "BUCKET_REGION", with(host, "BUCKET_REGION", secret)},
		{"remove untracked", "REMOVE_UNTRACKED_TG_IP", with(host, "REMOVE_UNTRACKED_TG_IP", secret)},
		{"report metric", "REPORT_IP_COUNT_CW_METRIC", with(host, "REPORT_IP_COUNT_CW_METRIC", secret)},
		{"domain endpoint", "DomainEndpoint", with(goSet, "DomainEndpoint", secret)},
		{"load balancer", "AlbId", with(goSet, "AlbId", secret)},
		{"state in S3", EnvStateS3, with(goSet, EnvStateS3, secret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := FromEnv(envOf(tt.env))
			if err == nil {
				t.Fatal("FromEnv accepted it")
			}
			if !strings.Contains(err.Error(), tt.variable) {
				t.Errorf("error does not name %s:\n%v", tt.variable, err)
			}
			for _, part := range []string{"Hunter2", "s3cr3t"} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("error echoes the value:\n%v", err)
				}
			}
		})
	}
}
