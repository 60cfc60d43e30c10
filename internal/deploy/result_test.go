package deploy

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestChangeSetTextAndJSON: the parameter changes are computed once, and
// the text and the JSON both show them from the same values: ConfigYaml
// by its size and as a diff, an empty value as "" in the text.
func TestChangeSetTextAndJSON(t *testing.T) {
	const cfgOld, cfgNew = "bindings:\n  - name: a\n", "bindings:\n  - name: a\n  - name: b\n"
	tests := []struct {
		name       string
		prev, want map[string]string
		create     bool
		text       string
		json       string
	}{
		{"create: every value but the empty ones, the config by its size",
			nil, map[string]string{"ConfigYaml": cfgOld, "DomainName": "", "Architecture": "arm64"}, true,
			"Deploying stack s (create):\n  parameter Architecture = arm64\n  parameter ConfigYaml = (the config, 22 bytes)\n",
			`{"type":"create","parameters":[{"key":"Architecture","new":"arm64"},{"key":"ConfigYaml","new":"(the config, 22 bytes)"}]}`},
		{"update: only what changes, the config as a diff",
			map[string]string{"ConfigYaml": cfgOld, "Architecture": "arm64", "SubnetIds": "subnet-1"},
			map[string]string{"ConfigYaml": cfgNew, "Architecture": "arm64", "SubnetIds": "", "Metrics": "essential"}, false,
			"Deploying stack s (update):\n  parameter ConfigYaml: the config changes\n        bindings:\n          - name: a\n      +   - name: b\n" +
				"  parameter Metrics: \"\" -> essential\n  parameter SubnetIds: subnet-1 -> \"\"\n",
			`{"type":"update","parameters":[{"key":"ConfigYaml","old":"(the config, 22 bytes)","new":"(the config, 34 bytes)",` +
				`"diff":["  bindings:","    - name: a","+   - name: b"]},{"key":"Metrics","old":"","new":"essential"},{"key":"SubnetIds","old":"subnet-1","new":""}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ := map[bool]string{true: ActionCreate, false: ActionUpdate}[tc.create]
			r := &Result{Stack: "s", ChangeSet: &ChangeSet{Type: typ, Parameters: parameterChanges(tc.prev, tc.want, tc.create)}}
			var text strings.Builder
			writeChangeSet(&text, r)
			if text.String() != tc.text {
				t.Errorf("text:\n%s\nwant:\n%s", text.String(), tc.text)
			}
			js, err := json.Marshal(r.ChangeSet)
			if err != nil {
				t.Fatal(err)
			}
			if string(js) != tc.json {
				t.Errorf("JSON:\n%s\nwant:\n%s", js, tc.json)
			}
		})
	}
}
