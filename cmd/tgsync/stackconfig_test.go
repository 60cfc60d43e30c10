package main

import (
	"strings"
	"testing"
)

// TestCLIConfigSources checks where the commands find their config:
// --config, then TGSYNC_CONFIG, then the YAML of TGSYNC_CONFIG_YAML (the
// daemon stack's container has no file), then ./tgsync.yaml.
func TestCLIConfigSources(t *testing.T) {
	t.Parallel()
	valid := writeFile(t, "valid.yaml", validConfig)
	two := validConfig + strings.NewReplacer("name: os", "name: os2", "/os/", "/os2/").Replace(validConfig[strings.Index(validConfig, "  - name"):])
	cases := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"TGSYNC_CONFIG_YAML", map[string]string{"TGSYNC_CONFIG_YAML": two}, []string{"validate"}, 0,
			"TGSYNC_CONFIG_YAML: valid: 2 binding(s)\n", ""},
		{"--config wins over TGSYNC_CONFIG_YAML", map[string]string{"TGSYNC_CONFIG_YAML": two}, []string{"validate", "--config", valid}, 0,
			valid + ": valid: 1 binding(s)\n", ""},
		{"--config before the command wins too", map[string]string{"TGSYNC_CONFIG_YAML": two}, []string{"--config", valid, "validate"}, 0,
			valid + ": valid: 1 binding(s)\n", ""},
		{"TGSYNC_CONFIG and TGSYNC_CONFIG_YAML", map[string]string{"TGSYNC_CONFIG": valid, "TGSYNC_CONFIG_YAML": two}, []string{"validate"}, 2,
			"", "TGSYNC_CONFIG and TGSYNC_CONFIG_YAML are both set"},
		{"an invalid TGSYNC_CONFIG_YAML is named", map[string]string{"TGSYNC_CONFIG_YAML": "bindings: 3\n"}, []string{"validate"}, 2,
			"", "TGSYNC_CONFIG_YAML:1: bindings:"},
		{"plan reads it too", map[string]string{"TGSYNC_CONFIG_YAML": "bindings: 3\n"}, []string{"plan"}, 2,
			"", "TGSYNC_CONFIG_YAML:1: bindings:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runMain(t, tc.env, tc.args...)
			if res.code != tc.wantCode || res.stdout != tc.wantStdout || !strings.Contains(res.stderr, tc.wantStderr) {
				t.Errorf("want exit %d, stdout %q and stderr with %q; got %s", tc.wantCode, tc.wantStdout, tc.wantStderr, res)
			}
		})
	}
}

// TestCLIValidateForStack checks validate --for-stack: a config that sets
// state, which a stack refuses at deploy time and which failed every run
// before, is refused with its line; a good one prints the parameters the
// stack needs with it.
func TestCLIValidateForStack(t *testing.T) {
	t.Parallel()
	const spot = "spotDrain:\n  targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/spot/0123456789abcdef]\n"
	const (
		payLB    = "arn:aws:elasticloadbalancing:us-east-1:444455556666:loadbalancer/app/pay/0123456789abcdef"
		payGroup = "arn:aws:elasticloadbalancing:us-east-1:444455556666:targetgroup/pay/0123456789abcdef"
		payRole  = "arn:aws:iam::444455556666:role/tgsync-target"
	)
	const otherRegion = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/eu/0123456789abcdef"
	withState := writeFile(t, "state.yaml", validConfig+"state:\n  s3: s3://my-bucket/tgsync/\n")
	cases := []struct {
		name       string
		config     string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"valid", validConfig + spot, 0,
			"CFG: valid for a stack: 1 binding(s), 338 of 3500 bytes\n" +
				"ConfigTargetGroupArns=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/os/0123456789abcdef\n" +
				"SpotTargetGroupArns=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/spot/0123456789abcdef\n", ""},
		{"state", validConfig + "state:\n  s3: s3://my-bucket/tgsync/\n", 2, "",
			"CFG:9: state: leave the state section out of a stack's config"},
		{"two Regions", validConfig + "spotDrain: {targetGroupArns: [" + otherRegion + "]}\n", 2, "",
			"CFG: spotDrain.targetGroupArns[0]: is in eu-west-1, bindings[0].targetGroupArn in us-east-1"},
		// A group of another account through its role, read from its load
		// balancer's interfaces: the stack needs the role and the EC2 read.
		{"another account, interfaces", validConfig + "  - name: pay\n    source: {loadBalancer: " + payLB + "}\n" +
			"    targetGroupArn: " + payGroup + "\n    ports: [443]\n    roleArn: " + payRole + "\n", 0,
			"CFG: valid for a stack: 2 binding(s), 532 of 3500 bytes\n" +
				"ConfigTargetGroupArns=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/os/0123456789abcdef," + payGroup + "\n" +
				"AssumeRoleArns=" + payRole + "\nNetworkInterfaceSources=true\n", ""},
		{"too large", validConfig + strings.Repeat("# a comment that the shell passes on to the stack\n", 80), 2, "",
			"is 4220 bytes; a stack takes at most 3500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "tgsync.yaml", tc.config)
			res := runMain(t, nil, "validate", "--for-stack", "--config", path)
			out, errOut := strings.ReplaceAll(res.stdout, path, "CFG"), strings.ReplaceAll(res.stderr, path, "CFG")
			if res.code != tc.wantCode || out != tc.wantStdout || !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("want exit %d, stdout %q and stderr with %q; got %s", tc.wantCode, tc.wantStdout, tc.wantStderr, res)
			}
		})
	}
	// Plain validate takes the config with state: it is a good config
	// for once, run and plan.
	if res := runMain(t, nil, "validate", "--config", withState); res.code != exitOK {
		t.Errorf("validate without --for-stack: %s", res)
	}
}
