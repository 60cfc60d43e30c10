package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tgsync/tgsync/internal/config"
)

// tgARN is a target group ARN in region.
func tgARN(region, name string) string {
	return "arn:aws:elasticloadbalancing:" + region + ":123456789012:targetgroup/" + name + "/0123456789abcdef"
}

// TestResolveRegion: a target group in another Region than the one tgsync
// talks to is named by the key that holds its ARN, with what to do.
func TestResolveRegion(t *testing.T) {
	binding := func(name, region string) config.Binding {
		return config.Binding{Name: name, TargetGroupARN: tgARN(region, name)}
	}
	for _, tc := range []struct {
		name       string
		env        map[string]string
		region     string // the SDK's
		cfg        config.Config
		wantRegion string
		wantErr    string
	}{
		{"no Region: the groups'", nil, "", config.Config{Bindings: []config.Binding{binding("a", "eu-west-1"), binding("b", "eu-west-1")}}, "eu-west-1", ""},
		{"AWS_REGION differs", map[string]string{"AWS_REGION": "us-east-1"}, "us-east-1",
			config.Config{Bindings: []config.Binding{binding("a", "us-east-1"), binding("b", "us-east-1"), binding("c", "eu-west-1")}}, "",
			"bindings[2].targetGroupArn is a target group in eu-west-1, but tgsync talks to us-east-1 (AWS_REGION): put the ARN of a target group in us-east-1 there, " +
				"or move the binding to a config of its own and run it with AWS_REGION=eu-west-1"},
		{"the profile's Region differs", map[string]string{"AWS_PROFILE": "ops"}, "us-west-2",
			config.Config{SpotDrain: &config.SpotDrain{TargetGroupARNs: []string{tgARN("us-west-2", "a"), tgARN("eu-west-1", "b")}}}, "",
			"spotDrain.targetGroupArns[1] is a target group in eu-west-1, but tgsync talks to us-west-2 (the region of profile ops)"},
		{"the groups differ", nil, "",
			config.Config{Bindings: []config.Binding{binding("a", "us-east-1")}, SpotDrain: &config.SpotDrain{TargetGroupARNs: []string{tgARN("eu-west-1", "b")}}}, "",
			"spotDrain.targetGroupArns[0] is a target group in eu-west-1, but bindings[0].targetGroupArn is in us-east-1: one tgsync works in one Region: " +
				"put the bindings of each Region in a config of their own and run one tgsync per config"},
		{"no Region at all", nil, "", config.Config{}, "", "no AWS region: set AWS_REGION"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"} {
				t.Setenv(k, tc.env[k])
			}
			awsCfg := aws.Config{Region: tc.region}
			err := resolveRegion(&awsCfg, &tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v\nwant %q", err, tc.wantErr)
			case tc.wantErr == "" && awsCfg.Region != tc.wantRegion:
				t.Errorf("Region %q, want %q", awsCfg.Region, tc.wantRegion)
			}
		})
	}
	// The commands say it before any AWS call, as a config error.
	isolateAWS(t)
	path := writeFile(t, "tgsync.yaml", strings.Replace(validConfig, "us-east-1", "eu-west-1", 1))
	res := runMain(t, nil, "plan", "--config", path)
	if res.code != exitUsage || !strings.Contains(res.stderr, "bindings[0].targetGroupArn is a target group in eu-west-1, but tgsync talks to us-east-1 (AWS_REGION)") {
		t.Errorf("plan with a group in another Region: want exit 2 naming the key, got %s", res)
	}
}

// TestCLIEnvironment: the daemon's flags and the log flags fall back to
// TGSYNC_* variables: a flag wins over its variable, the variable over
// the default, and a bad value names the variable.
func TestCLIEnvironment(t *testing.T) {
	isolateAWS(t)
	cfg := writeFile(t, "tgsync.yaml", validConfig)
	bad := "256.0.0.1:1" // no such address: run stops at its listener
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"TGSYNC_INTERVAL and TGSYNC_MIN_INTERVAL", map[string]string{"TGSYNC_INTERVAL": "1s", "TGSYNC_MIN_INTERVAL": "2s"}, []string{"run"},
			"want 0 < --min-interval (2s) <= --interval (1s)"},
		{"flags win over them", map[string]string{"TGSYNC_INTERVAL": "1s", "TGSYNC_MIN_INTERVAL": "2s", "TGSYNC_LISTEN": bad},
			[]string{"run", "--interval", "5s", "--min-interval", "1s"}, "listen on " + bad},
		{"--listen wins over TGSYNC_LISTEN", map[string]string{"TGSYNC_LISTEN": bad}, []string{"run", "--listen", "256.0.0.2:1"}, "listen on 256.0.0.2:1"},
		{"a bad TGSYNC_INTERVAL", map[string]string{"TGSYNC_INTERVAL": "soon"}, []string{"run"}, `TGSYNC_INTERVAL="soon" (for --interval)`},
		{"a bad TGSYNC_LOG_FORMAT", map[string]string{"TGSYNC_LOG_FORMAT": "xml"}, []string{"plan"}, `--log-format "xml": want text or json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"TGSYNC_CONFIG": cfg}
			for k, v := range tc.env {
				env[k] = v
			}
			res := runMain(t, env, tc.args...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("want exit 2 and %q, got %s", tc.want, res)
			}
		})
	}
	// The log flags.
	failing, dnsAddr := failingDNSConfig(t)
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		json     bool
		refusals bool // whether the warn-level refusal is logged
	}{
		{"TGSYNC_LOG_FORMAT", map[string]string{"TGSYNC_LOG_FORMAT": "json"}, nil, true, true},
		{"--log-format wins", map[string]string{"TGSYNC_LOG_FORMAT": "json"}, []string{"--log-format", "text"}, false, true},
		{"TGSYNC_LOG_LEVEL", map[string]string{"TGSYNC_LOG_LEVEL": "error"}, nil, false, false},
		{"--log-level wins", map[string]string{"TGSYNC_LOG_LEVEL": "error"}, []string{"--log-level", "info"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"TGSYNC_CONFIG": failing, "TGSYNC_DNS_SERVERS": dnsAddr}
			for k, v := range tc.env {
				env[k] = v
			}
			res := runMain(t, env, append([]string{"once"}, tc.args...)...)
			if res.code != exitFailed {
				t.Fatalf("want exit 1 for the failing lookup, got %s", res)
			}
			if got := strings.HasPrefix(res.stderr, "{"); got != tc.json {
				t.Errorf("JSON log %v, want %v:\n%s", got, tc.json, res.stderr)
			}
			if got := strings.Contains(res.stderr, "refused"); got != tc.refusals {
				t.Errorf("refusal logged %v, want %v:\n%s", got, tc.refusals, res.stderr)
			}
		})
	}
}

// TestCLICompletion: completion scripts for bash, zsh and fish, and the
// completions they ask tgsync for: commands, flag values and the config's
// binding names.
func TestCLICompletion(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{"bash": "# bash completion V2 for tgsync", "zsh": "#compdef tgsync", "fish": "complete -c tgsync"} {
		res := runMain(t, nil, "completion", shell)
		if res.code != exitOK || !strings.Contains(res.stdout, want) {
			t.Errorf("completion %s: want exit 0 and %q, got exit %d, %d bytes", shell, want, res.code, len(res.stdout))
		}
	}
	cfg := writeFile(t, "tgsync.yaml", validConfig)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want []string
	}{
		{nil, []string{"__complete", "pl"}, []string{"plan"}},
		{nil, []string{"__complete", "plan", "-o", ""}, []string{"text", "json"}},
		{nil, []string{"__complete", "run", "--log-level", ""}, []string{"debug", "info", "warn", "error"}},
		{nil, []string{"__complete", "plan", "--config", cfg, "--binding", ""}, []string{"os"}},
		{map[string]string{"TGSYNC_CONFIG": cfg}, []string{"__complete", "once", "-b", ""}, []string{"os"}},
	} {
		res := runMain(t, tc.env, tc.args...)
		got := strings.Fields(res.stdout)
		for _, w := range tc.want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Errorf("%q: completions %q, want %q among them", tc.args, got, w)
			}
		}
	}
}

// TestCLISingleDashFlags: long flags with one dash, which the command
// line took before it followed the GNU style, still work.
func TestCLISingleDashFlags(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "tgsync.yaml", validConfig)
	for _, args := range [][]string{{"validate", "-config", cfg}, {"-config=" + cfg, "validate"}, {"validate", "--config", cfg, "-output", "text"}} {
		if res := runMain(t, nil, args...); res.code != exitOK || res.stdout != cfg+": valid: 1 binding(s)\n" {
			t.Errorf("%q: %s", args, res)
		}
	}
	if res := runMain(t, nil, "validate", "-c", cfg, "-o", "json"); res.code != exitOK || !strings.Contains(res.stdout, `"valid": true`) {
		t.Errorf("short flags: %s", res)
	}
	if res := runMain(t, nil, "validate", "--config", cfg, "--", "-config"); res.code != exitUsage || !strings.Contains(res.stderr, `unexpected argument "-config"`) {
		t.Errorf("an argument after -- was taken for a flag: %s", res)
	}
}

// TestCLIValidateJSON: validate -o json says whether the config is valid,
// with every problem and warning by line and key, for scripts.
func TestCLIValidateJSON(t *testing.T) {
	t.Parallel()
	valid := writeFile(t, "valid.yaml", validConfig+"    allowedCidrs: [0.0.0.0/0]\n")
	invalid := writeFile(t, "invalid.yaml", validConfig+"    deregister:\n      maxFraction: 1.5\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, tc := range []struct {
		path string
		code int
		want validateReport
	}{
		{valid, exitOK, validateReport{Config: valid, Valid: true, Bindings: 1, Problems: []problemJSON{},
			Warnings: []problemJSON{{Line: 9, Key: "bindings[0].allowedCidrs[0]"}}}},
		{invalid, exitUsage, validateReport{Config: invalid, Problems: []problemJSON{{Line: 10, Key: "bindings[0].deregister.maxFraction", Message: "must be in (0, 1], got 1.5"}},
			Warnings: []problemJSON{}}},
		{missing, exitUsage, validateReport{Config: missing, Problems: []problemJSON{{}}, Warnings: []problemJSON{}}},
	} {
		res := runMain(t, nil, "validate", "--config", tc.path, "-o", "json")
		var got validateReport
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || res.code != tc.code {
			t.Errorf("%s: want exit %d and JSON: %v\n%s", tc.path, tc.code, err, res)
			continue
		}
		// Messages are checked where given; the rest must match.
		for i := range got.Warnings {
			got.Warnings[i].Message = ""
		}
		if tc.path == missing && len(got.Problems) == 1 && strings.Contains(got.Problems[0].Message, "no such file") {
			got.Problems[0].Message = ""
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: validate -o json = %+v\nwant %+v", tc.path, got, tc.want)
		}
	}
}
