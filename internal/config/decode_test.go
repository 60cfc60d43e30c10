package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tgsync/tgsync"
)

// minimal is the smallest valid config: one binding, everything else
// default.
const minimal = `bindings:
  - name: web
    source:
      dns: web.internal.example
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef
    ports: [443]
`

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []want
	}{
		{"case differs", edit(t, minimal, "targetGroupArn:", "targetGroupARN:"),
			[]want{{"bindings[0].targetGroupARN", 5, `unknown key "targetGroupARN"; did you mean "targetGroupArn"?`}}},
		{"one letter off", edit(t, minimal, "ports:", "port:"),
			[]want{{"bindings[0].port", 6, `did you mean "ports"?`}}},
		{"case only", edit(t, minimal, "ports:", "Ports:"),
			[]want{{"bindings[0].Ports", 6, `did you mean "ports"?`}}},
		{"top level", edit(t, minimal, "bindings:", "binding:"),
			[]want{{"binding", 1, `did you mean "bindings"?`}}},
		{"nested", minimal + "    deregister:\n      afterMises: 2\n",
			[]want{{"bindings[0].deregister.afterMises", 8, `did you mean "afterMisses"?`}}},
		{"no close key lists the known ones", minimal + "    weight: 3\n",
			[]want{{"bindings[0].weight", 7, "known keys here: name, source, targetGroupArn, ports, shared, availabilityZone, deregister, allowedCidrs"}}},
		{"key of another section", minimal + "    lookups: 3\n",
			[]want{{"bindings[0].lookups", 7, `unknown key "lookups"`}}},
		{"in state", minimal + "state:\n  path: ./x.json\n",
			[]want{{"state.path", 8, `unknown key "path"`}}},
		{"in spotDrain", minimal + "spotDrain:\n  targetGroupARNs: []\n",
			[]want{{"spotDrain.targetGroupARNs", 8, `did you mean "targetGroupArns"?`}}},
		{"long key is clipped, in the path too", minimal + "    " + strings.Repeat("k", 500) + ": 1\n",
			[]want{{"bindings[0]." + strings.Repeat("k", 40) + "…", 7, `unknown key "` + strings.Repeat("k", 40) + `…"`}}},
		{"two long keys alike are both reported", minimal + "    " + strings.Repeat("k", 50) + "a: 1\n    " + strings.Repeat("k", 50) + "b: 1\n",
			[]want{{"bindings[0]." + strings.Repeat("k", 40) + "…", 7, "unknown key"}, {"bindings[0]." + strings.Repeat("k", 40) + "…", 8, "unknown key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertProblems(t, tt.data, tt.want) })
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []want
	}{
		{"string for ports", edit(t, minimal, "[443]", `"443"`),
			[]want{{"bindings[0].ports", 6, `must be a list, got a string`}}},
		{"number for ports", edit(t, minimal, "[443]", `443`),
			[]want{{"bindings[0].ports", 6, "must be a list, got a number"}}},
		{"string in ports", edit(t, minimal, "[443]", `[https]`),
			[]want{{"bindings[0].ports[0]", 6, `must be a whole number, got a string`}}},
		{"map for list", edit(t, minimal, "[443]", "{https: 443}"),
			[]want{{"bindings[0].ports", 6, "must be a list, got a mapping"}}},
		{"map for bindings", "bindings:\n  web: {}\n",
			[]want{{"bindings", 1, "must be a list, got a mapping"}}},
		{"list for mapping", minimal + "    deregister: [3, 3m]\n",
			[]want{{"bindings[0].deregister", 7, "must be a mapping of keys, got a list"}}},
		{"list for scalar", edit(t, minimal, "name: web", "name: [web]"),
			[]want{{"bindings[0].name", 2, "must be a single value, got a list"}}},
		{"string for bool", minimal + "    shared: yes\n",
			[]want{{"bindings[0].shared", 7, `must be true or false, got a string`}}},
		{"bool for string", edit(t, minimal, "name: web", "name: true"),
			[]want{{"bindings[0].name", 2, "must be a string, got a boolean; quote it"}}},
		{"int too big", "dns:\n  lookups: 99999999999999999999999\n" + minimal,
			[]want{{"dns.lookups", 2, "must be a whole number, got a number"}}},
		{"int too big for int", "dns:\n  lookups: 9999999999999999999\n" + minimal,
			[]want{{"dns.lookups", 2, "must be a whole number, got one too large to use"}}},
		{"float for int", "dns:\n  lookups: 4.5\n" + minimal,
			[]want{{"dns.lookups", 2, "must be a whole number, got a number"}}},
		{"duration without a unit", "dns:\n  timeout: 180\n" + minimal,
			[]want{{"dns.timeout", 2, "must be a duration with a unit, got a bare number: write 3m or 180s"}}},
		{"duration that does not parse", "dns:\n  timeout: 3 minutes\n" + minimal,
			[]want{{"dns.timeout", 2, "must be a duration such as 3m, 90s or 1h30m, got a string that is not one"}}},
		{"mapping for duration", "dns:\n  timeout: {seconds: 2}\n" + minimal,
			[]want{{"dns.timeout", 2, "must be a duration such as 3m or 180s, got a mapping"}}},
		{"null list item", edit(t, minimal, "[443]", "[443, ~]"),
			[]want{{"bindings[0].ports[1]", 6, "is empty"}}},
		{"null binding", "bindings:\n  -\n",
			[]want{{"bindings[0]", 2, "is empty"}}},
		{"scalar binding", "bindings:\n  - web\n",
			[]want{{"bindings[0]", 2, `must be a mapping of keys, got a string`}}},
		{"custom tag", edit(t, minimal, "dns: web.internal.example", "dns: !Ref WebName"),
			[]want{{"bindings[0].source.dns", 4, "custom tag"}}},
		{"document is a list", "- name: web\n",
			[]want{{"", 1, "must be a mapping of keys, got a list"}}},
		{"document is a scalar", "hello\n",
			[]want{{"", 1, `must be a mapping of keys, got a string`}}},
		{"mapping key is a list", "? [a, b]\n: 1\n" + minimal,
			[]want{{"", 1, "keys must be plain names, got a list"}}},
		{"duplicate key", edit(t, minimal, "    ports: [443]\n", "    ports: [443]\n    ports: [80]\n"),
			[]want{{"bindings[0].ports", 7, "set twice; it was first set on line 6"}}},
		{"merge into itself", minimal + "    deregister: &d\n      <<: *d\n      afterMisses: 0\n",
			[]want{{"bindings[0].deregister", 8, "<< merges a mapping into itself"}, {"bindings[0].deregister.afterMisses", 9, "at least 1, got 0"}}},
		{"merge of a scalar", "x: &x 3\n" + minimal + "    <<: *x\n",
			[]want{{"x", 1, "unknown key"}, {"bindings[0]", 8, "<< can merge only mappings"}}},
		{"merge of the enclosing binding", edit(t, minimal, "  - name: web", "  - &b\n    name: web") + "    deregister: {<<: *b}\n",
			[]want{{"bindings[0].deregister", 8, "<< merges a mapping into itself"}}},
		{"boolean written without a value", minimal + "    shared:\n",
			[]want{{"bindings[0].shared", 7, "must be true or false, got nothing"}}},
		{"list written without a value", edit(t, minimal, "ports: [443]", "ports:"),
			[]want{{"bindings[0].ports", 6, "must be a list, got nothing"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertProblems(t, tt.data, tt.want) })
	}
}

func TestWholeFileProblems(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []want
	}{
		{"empty", "", []want{{"", 0, "config is empty"}}},
		{"only comments", "# nothing yet\n", []want{{"", 0, "config is empty"}}},
		{"only a document start", "---\n", []want{{"", 0, "config is empty"}}},
		{"null document", "~\n", []want{{"", 0, "config is empty"}}},
		{"unclosed flow list", edit(t, minimal, "[443]", "[443"), []want{{"", 6, "invalid YAML: did not find expected ',' or ']'"}}},
		{"unclosed flow list before more keys", edit(t, minimal, "ports: [443]", "ports: [443,\n      80\n    shared: true"), []want{{"", 7, "invalid YAML"}}},
		{"multi-line flow list is fine, later error found", edit(t, minimal, "ports: [443]", "ports: [443,\n      80]\n    shared: [true"), []want{{"", 8, "invalid YAML"}}},
		{"two values on a line", edit(t, minimal, "name: web", "name: web: api"), []want{{"", 2, "mapping values are not allowed"}}},
		{"unterminated quote", edit(t, minimal, "name: web", `name: "web`), []want{{"", 2, "invalid YAML"}}},
		{"bad indentation", minimal + "   shared: true\n", []want{{"", 7, "invalid YAML"}}},
		{"tab indentation", "bindings:\n\t- name: web\n", []want{{"", 2, "invalid YAML"}}},
		{"CRLF line ends", strings.ReplaceAll(edit(t, minimal, "[443]", "[443"), "\n", "\r\n"), []want{{"", 6, "invalid YAML"}}},
		{"CR line ends", strings.ReplaceAll(edit(t, minimal, "[443]", "[443"), "\n", "\r"), []want{{"", 6, "invalid YAML"}}},
		{"bad indentation deep in a long file", bigConfig(300) + "   shared: true\n", []want{{"", 2402, "invalid YAML: did not find expected '-' indicator"}}},
		{"unclosed list deep in a long file", bigConfig(300) + "    ports: [443\n", []want{{"", 2402, "invalid YAML: did not find expected ',' or ']'"}}},
		{"UTF-16", "\xff\xfeb\x00:\x00", []want{{"", 0, "config is UTF-16; save it as UTF-8"}}},
		{"invalid UTF-8", minimal + "    shared: \xc3\x28\n", []want{{"", 7, "UTF-8 octet"}}},
		{"tab indentation later", minimal + "\tshared: true\n", []want{{"", 7, "invalid YAML"}}},
		{"unknown alias", minimal + "    shared: *nope\n", []want{{"", 7, "an alias (*name) refers to an anchor (&name) that is not defined"}}},
		{"second document", minimal + "---\nbindings: []\n", []want{{"", 7, "a second YAML document"}}},
		{"too large", minimal + "#" + strings.Repeat("x", maxSize) + "\n", []want{{"", 0, "more than the 1048576 allowed"}}},
		{"bindings but none", "bindings: []\n", []want{{"bindings", 1, "at least one binding is required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertProblems(t, tt.data, tt.want) })
	}
}

func TestAliasesAndMerges(t *testing.T) {
	data := `defaults: &grace
  afterMisses: 5
  afterDuration: 10m
bindings:
  - name: web
    source: {dns: web.internal.example}
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef
    ports: &ports [443]
    shared: true
    deregister:
      <<: *grace
      afterMisses: 2
  - name: api
    source: {dns: api.internal.example}
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef
    ports: *ports
    shared: true
    deregister: *grace
`
	// The anchor holder is not a config key; everything else is fine.
	assertProblems(t, data, []want{{"defaults", 1, `unknown key "defaults"`}})

	cfg, err := Parse([]byte(strings.Replace(data, "defaults: &grace\n", "spotDrain: &grace\n", 1)))
	if err == nil {
		t.Fatalf("anchoring deregister keys under spotDrain parsed: %+v", cfg.SpotDrain)
	}

	// Anchors inside the bindings list work without a foreign key.
	data = `bindings:
  - name: web
    source: {dns: web.internal.example}
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef
    ports: &ports [443, 8443]
    shared: true
    deregister: &grace
      afterMisses: 5
      afterDuration: 10m
  - name: api
    source: {dns: api.internal.example}
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef
    ports: *ports
    shared: true
    deregister:
      <<: *grace
      afterMisses: 2
`
	cfg, err = Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	api := cfg.Bindings[1]
	if got := api.PortsUint16(); len(got) != 2 || got[0] != 443 || got[1] != 8443 {
		t.Errorf("aliased ports = %v, want [443 8443]", got)
	}
	if api.Deregister.AfterMisses != 2 || api.Deregister.AfterDuration.String() != "10m0s" {
		t.Errorf("merged deregister = %+v, want afterMisses 2 from the key and 10m from the merge", api.Deregister)
	}
	if cfg.Bindings[0].Deregister.AfterMisses != 5 {
		t.Errorf("anchored deregister afterMisses = %d, want 5", cfg.Bindings[0].Deregister.AfterMisses)
	}
}

// TestMergesFollowYAML: a merge (<<) fills in only the keys the mapping
// does not write itself, even as null, and what is wrong with a merged
// mapping says nothing about the keys written next to the merge.
func TestMergesFollowYAML(t *testing.T) {
	cfg, err := Parse([]byte(minimal + "    deregister:\n      <<: {afterMisses: 10}\n      afterMisses:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, def := cfg.Bindings[0].Deregister.AfterMisses, tgsync.DefaultPolicy().AfterMisses; got != def {
		t.Errorf("afterMisses written empty next to a merge of 10 = %d, want the default %d", got, def)
	}
	assertProblems(t, minimal+"    <<: {deregistr: {}}\n    deregister: 3\n", []want{
		{"bindings[0].deregistr", 7, `did you mean "deregister"?`},
		{"bindings[0].deregister", 8, "must be a mapping of keys, got a number"},
	})
}

func TestAliasBombIsRefused(t *testing.T) {
	// A few kilobytes that alias one binding with a thousand ports a
	// thousand times: a million values to walk.
	var b strings.Builder
	b.WriteString("bindings:\n  - &b\n    name: web\n    ports: [")
	for i := 1; i <= 1000; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString("]\n")
	for range 999 {
		b.WriteString("  - *b\n")
	}
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "more than 100000 values after expanding aliases") {
		t.Fatalf("got %.300v, want the alias expansion refused", err)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"name", "source", "targetGroupArn", "ports", "shared", "s3"}
	tests := []struct{ key, want string }{
		{"targetGroupARN", "targetGroupArn"},
		{"TARGETGROUPARN", "targetGroupArn"},
		{"targetgrouparn", "targetGroupArn"},
		{"prots", "ports"},
		{"share", "shared"},
		{"nam", "name"},
		{"S3", "s3"},
		{"x", ""},
		{"weight", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
