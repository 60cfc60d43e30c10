package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestShortBindingName pins the rule: a binding named after a long stack
// keeps its state only while the rule gives the same name, so a change
// here renames the bindings of existing stacks.
func TestShortBindingName(t *testing.T) {
	stack := strings.Repeat("opensearch-dashboards-production-eu-west-1-", 3)[:128]
	tests := []struct {
		name, in, want string
	}{
		{"short", "tgsync-os", "tgsync-os"},
		{"64 characters", strings.Repeat("a", 64), strings.Repeat("a", 64)},
		// The hashes are printf %s NAME | sha256sum, cut to 8 digits.
		{"65 characters", strings.Repeat("a", 64) + "b", strings.Repeat("a", 55) + "-3e63da2d"},
		{"a 128-character stack name", stack, "opensearch-dashboards-production-eu-west-1-opensearch-d-8afc9940"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ShortBindingName(tc.in)
			if got != tc.want {
				t.Fatalf("ShortBindingName(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if msg := checkBindingName(got); msg != "" {
				t.Fatalf("%q is no binding name: %s", got, msg)
			}
		})
	}
	// Names that differ only after the cut get different names.
	other := stack[:127] + "2"
	if a, b := ShortBindingName(stack), ShortBindingName(other); a == b {
		t.Fatalf("%q and %q both became %q", stack, other, a)
	}
}

// TestFromEnvBindingName checks TGSYNC_BINDING_NAME, which the
// CloudFormation template sets to the stack name: it names the one binding
// of a config, shortened when longer than a binding name may be, and is
// refused wherever it would be ambiguous.
func TestFromEnvBindingName(t *testing.T) {
	const unnamed = "bindings:\n  - source: {dns: " + osDNS + "}\n    targetGroupArn: " + tgARN + "\n    ports: [443]\nstate: {s3: s3://cfg-bucket/tgsync/}\n"
	stack128 := strings.Repeat("opensearch-dashboards-production-eu-west-1-", 3)[:128]
	file := filepath.Join(t.TempDir(), "tgsync.yaml")
	if err := os.WriteFile(file, []byte(unnamed), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		want     string   // the binding's name
		note     string   // in info.Notes
		wantErr  []string // what the error says
		wantVars []string // for an *EnvError, the variables it names
	}{
		{name: "a stack name of 64 characters", env: map[string]string{EnvConfigYAML: unnamed, EnvBindingName: strings.Repeat("s", 64)}, want: strings.Repeat("s", 64)},
		{name: "a stack name of 65 characters", env: map[string]string{EnvConfigYAML: unnamed, EnvBindingName: strings.Repeat("s", 65)},
			want: ShortBindingName(strings.Repeat("s", 65)), note: "65 characters, more than the 64"},
		{name: "a stack name of 128 characters", env: map[string]string{EnvConfigYAML: unnamed, EnvBindingName: stack128},
			want: "opensearch-dashboards-production-eu-west-1-opensearch-d-8afc9940", note: "the binding is named opensearch-dashboards-production-eu-west-1-opensearch-d-8afc9940"},
		{name: "a config file", env: map[string]string{EnvConfig: file, EnvBindingName: "tgsync-os"}, want: "tgsync-os"},
		{name: "a binding with a name", env: map[string]string{EnvConfigYAML: strings.Replace(unnamed, "  - source:", "  - name: os\n    source:", 1), EnvBindingName: "tgsync-os"},
			wantErr: []string{"TGSYNC_CONFIG_YAML:2: bindings[0].name", `"os"`, "name it in one place"}},
		{name: "two bindings", env: map[string]string{EnvConfigYAML: strings.Replace(unnamed, "state:", "  - source: {dns: b.example.internal}\n    targetGroupArn: "+tgARN+"\n    ports: [80]\nstate:", 1), EnvBindingName: "tgsync-os"},
			wantErr: []string{"bindings", "names the config's one binding, but it has 2"}},
		{name: "characters a binding name cannot have", env: map[string]string{EnvConfigYAML: unnamed, EnvBindingName: "my stack!"},
			wantErr: []string{`"my stack!"`}, wantVars: []string{EnvBindingName}},
		{name: "with a legacy set", env: map[string]string{"DomainEndpoint": osDNS, "AlbTargetGroupId": tgARN, EnvBindingName: "tgsync-os"},
			wantErr: []string{"names the binding of a tgsync config"}, wantVars: []string{EnvBindingName, "DomainEndpoint", "AlbTargetGroupId"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, info, err := FromEnv(envOf(tc.env))
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("FromEnv accepted %v: %+v", tc.env, cfg)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not say %q:\n%v", w, err)
					}
				}
				var ee *EnvError
				if tc.wantVars != nil && (!errors.As(err, &ee) || !slices.Equal(ee.Variables(), slices.Sorted(slices.Values(tc.wantVars)))) {
					t.Errorf("error %v names variables %v, want %v", err, ee.Variables(), tc.wantVars)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if len(cfg.Bindings) != 1 || cfg.Bindings[0].Name != tc.want {
				t.Fatalf("bindings %+v, want one named %q", cfg.Bindings, tc.want)
			}
			if !slices.Contains(info.Variables, EnvBindingName) {
				t.Errorf("info.Variables %v do not list %s", info.Variables, EnvBindingName)
			}
			notes := strings.Join(info.Notes, "\n")
			if (tc.note == "") != (notes == "") || !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q, want one saying %q", notes, tc.note)
			}
		})
	}
}
