package cloudformation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/testenv"
)

// Both templates and the function agree on one rule for ConfigYaml
// (config.ParseForStack): it has no state section, because the stack
// appends one (config.StackStateSection).

// configYAMLValue returns the expression a template sets
// TGSYNC_CONFIG_YAML to when a ConfigYaml is given.
func configYAMLValue(t *testing.T, path string, tpl map[string]any) any {
	t.Helper()
	switch path {
	case templatePath:
		props, _ := resource(tpl, "Function")
		env, _ := props["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		v, _ := vars["TGSYNC_CONFIG_YAML"].(map[string]any)
		branch, _ := v["Fn::If"].([]any)
		if len(branch) != 3 || branch[0] != "UseConfigYaml" {
			t.Fatalf("TGSYNC_CONFIG_YAML = %v, want Fn::If UseConfigYaml", v)
		}
		return branch[1]
	case daemonTemplatePath:
		props, _ := resource(tpl, "TaskDefinition")
		cds, _ := props["ContainerDefinitions"].([]any)
		cd, _ := cds[0].(map[string]any)
		envs, _ := cd["Environment"].([]any)
		for _, e := range envs {
			if m, _ := e.(map[string]any); m["Name"] == "TGSYNC_CONFIG_YAML" {
				return m["Value"]
			}
		}
	}
	t.Fatalf("%s sets no TGSYNC_CONFIG_YAML", path)
	return nil
}

// evalString evaluates the string functions a template builds the config
// with: Ref (from refs), Fn::Join and Fn::If (from conds).
func evalString(v any, refs map[string]string, conds map[string]bool) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		if len(x) != 1 {
			break
		}
		if r, ok := x["Ref"].(string); ok {
			s, ok := refs[r]
			if !ok {
				return "", fmt.Errorf("no value for Ref %s", r)
			}
			return s, nil
		}
		if a, ok := x["Fn::Join"].([]any); ok && len(a) == 2 {
			sep, _ := a[0].(string)
			parts, _ := a[1].([]any)
			var out []string
			for _, p := range parts {
				s, err := evalString(p, refs, conds)
				if err != nil {
					return "", err
				}
				out = append(out, s)
			}
			return strings.Join(out, sep), nil
		}
		if a, ok := x["Fn::If"].([]any); ok && len(a) == 3 {
			c, _ := a[0].(string)
			on, ok := conds[c]
			if !ok {
				return "", fmt.Errorf("no value for condition %s", c)
			}
			if on {
				return evalString(a[1], refs, conds)
			}
			return evalString(a[2], refs, conds)
		}
	}
	return "", fmt.Errorf("cannot evaluate %v", v)
}

// TestTemplatesAppendTheStackStateSection checks that each template
// appends to ConfigYaml exactly config.StackStateSection, the text
// ParseForStack checks a config with, for a bucket it creates and one it
// is given.
func TestTemplatesAppendTheStackStateSection(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		v := configYAMLValue(t, path, tpl)
		for _, create := range []bool{true, false} {
			refs := map[string]string{"ConfigYaml": "CONFIG", "StatePrefix": "team-a/tgsync/",
				"StateBucketResource": "created-bucket", "StateBucket": "given-bucket"}
			got, err := evalString(v, refs, map[string]bool{"CreateStateBucket": create})
			if err != nil {
				t.Fatal(err)
			}
			bucket := map[bool]string{true: "created-bucket", false: "given-bucket"}[create]
			if want := "CONFIG" + config.StackStateSection(bucket, "team-a/tgsync/"); got != want {
				t.Errorf("CreateStateBucket %v: TGSYNC_CONFIG_YAML = %q, want %q", create, got, want)
			}
		}
	})
}

// TestConfigYamlRefusesState checks the templates' AllowedPattern on
// ConfigYaml, which refuses a config with a top-level state key before
// anything is created, against ParseForStack, which the CLI applies.
// moto does not apply AllowedPattern, so Python's re, which reads this
// pattern as Java's does (lookahead, classes, alternation), evaluates it.
func TestConfigYamlRefusesState(t *testing.T) {
	testenv.NeedTool(t, "python3")
	const good = "bindings:\n  - name: web\n    source:\n      dns: web.internal.example\n" +
		"    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef\n    ports: [443]\n"
	tests := []struct {
		name  string
		value string
		allow bool
		// config says whether value is a whole config, for which the
		// pattern must say what ParseForStack says.
		config bool
	}{
		{"no state", good, true, true},
		{"empty (the Lambda stack's simple case)", "", true, false},
		{"state at the end", good + "state:\n  s3: s3://my-bucket/tgsync/\n", false, true},
		{"state at the start", "state:\n  s3: s3://my-bucket/tgsync/\n" + good, false, true},
		{"state as the shell passes it, without a final newline", good + "state: {s3: s3://my-bucket/tgsync/}", false, true},
		{"double-quoted key", good + "\"state\": {s3: s3://my-bucket/tgsync/}\n", false, true},
		{"single-quoted key, space before the colon", good + "'state' : {s3: s3://my-bucket/tgsync/}\n", false, true},
		{"CRLF line ends", strings.ReplaceAll(good+"state:\n  s3: s3://my-bucket/tgsync/\n", "\n", "\r\n"), false, true},
		{"a binding named state", strings.Replace(good, "name: web", "name: state", 1), true, true},
		{"state in a comment", "# state: s3://my-bucket/\n" + good, true, true},
		{"an indented state key", "  state: x\n", true, false},
		{"a key that starts with state", "stateful: 1\n", true, false},
	}
	values := make([]string, len(tests))
	for i, tc := range tests {
		values[i] = tc.value
	}
	forEachTemplate(t, func(t *testing.T, path string, tpl map[string]any) {
		p, _ := section(tpl, "Parameters")["ConfigYaml"].(map[string]any)
		if p["MaxLength"] != config.MaxStackConfig {
			t.Errorf("ConfigYaml MaxLength = %v, want %d (config.MaxStackConfig)", p["MaxLength"], config.MaxStackConfig)
		}
		pattern, _ := p["AllowedPattern"].(string)
		got, err := fullMatches(pattern, values)
		if err != nil {
			t.Fatal(err)
		}
		for i, tc := range tests {
			if got[i] != tc.allow {
				t.Errorf("%s: AllowedPattern allows %v, want %v: %q", tc.name, got[i], tc.allow, tc.value)
			}
			if !tc.config {
				continue
			}
			_, err := config.ParseForStack([]byte(tc.value))
			var ve *config.ValidationError
			refused := errors.As(err, &ve) && ve.Problems[0].Path == "state"
			if refused == got[i] {
				t.Errorf("%s: AllowedPattern allows %v, ParseForStack refuses state %v (%v)", tc.name, got[i], refused, err)
			}
		}
	})
}

// fullMatches reports, for each value, whether pattern matches all of it,
// as CloudFormation matches an AllowedPattern; without a pattern, every
// value is allowed.
func fullMatches(pattern string, values []string) ([]bool, error) {
	if pattern == "" {
		all := make([]bool, len(values))
		for i := range all {
			all[i] = true
		}
		return all, nil
	}
	in, err := json.Marshal(map[string]any{"pattern": pattern, "values": values})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	py := exec.CommandContext(ctx, "python3", "-c",
		"import json, re, sys; d = json.load(sys.stdin); p = re.compile(d['pattern']); "+
			"json.dump([p.fullmatch(v) is not None for v in d['values']], sys.stdout)")
	py.Stdin = strings.NewReader(string(in))
	out, err := py.Output()
	if err != nil {
		return nil, fmt.Errorf("python3: %w", err)
	}
	var got []bool
	return got, json.Unmarshal(out, &got)
}
