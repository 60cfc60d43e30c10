package cloudformation

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// templatePath is the template the tests read and deploy.
const templatePath = "tgsync.yaml"

// spotPatternPath is the EventBridge pattern the Spot rule must equal.
const spotPatternPath = "../eventbridge/spot-interruption-pattern.json"

// interfacePatternPath is the EventBridge pattern the interface rule must
// equal.
const interfacePatternPath = "../eventbridge/network-interface-pattern.json"

// loadTemplate reads a CloudFormation YAML template into plain Go values
// (map[string]any, []any, string, int, float64, bool, nil), with the
// short-form tags turned into their long forms, as CloudFormation reads
// them: !Ref x is {"Ref": x}, !GetAtt a.b is {"Fn::GetAtt": [a, b]},
// !Condition c is {"Condition": c}, and any other !Name v is
// {"Fn::Name": v}.
func loadTemplate(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseTemplate(data)
}

func parseTemplate(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("parse template: want one YAML document")
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parse template: the document is not a mapping")
	}
	return m, nil
}

// convert turns a node into plain values, expanding CloudFormation tags.
func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return convert(n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: empty document", n.Line)
		}
		return convert(n.Content[0])
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		return convertTag(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q is set twice", k.Line, k.Value)
			}
			v, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected node kind %v", n.Line, n.Kind)
}

// convertTag expands one short-form intrinsic function.
func convertTag(n *yaml.Node) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	// The tag applies to the node; convert its content untagged.
	inner := *n
	inner.Tag = ""
	if n.Kind == yaml.ScalarNode {
		inner.Tag = "!!str"
	}
	v, err := convert(&inner)
	if err != nil {
		return nil, err
	}
	switch name {
	case "Ref":
		return map[string]any{"Ref": v}, nil
	case "Condition":
		return map[string]any{"Condition": v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	}
	switch name {
	case "Base64", "Cidr", "FindInMap", "GetAZs", "If", "ImportValue", "Join", "Select", "Split", "Sub",
		"Transform", "Equals", "Not", "And", "Or", "Contains", "EachMemberEquals", "EachMemberIn",
		"RefAll", "ValueOf", "ValueOfAll", "Length", "ToJsonString":
		return map[string]any{"Fn::" + name: v}, nil
	}
	return nil, fmt.Errorf("line %d: unknown tag !%s", n.Line, name)
}

// section returns a top-level section of the template.
func section(tpl map[string]any, name string) map[string]any {
	m, _ := tpl[name].(map[string]any)
	return m
}

// resource returns a resource's Properties, and its Type.
func resource(tpl map[string]any, logicalID string) (props map[string]any, typ string) {
	r, _ := section(tpl, "Resources")[logicalID].(map[string]any)
	props, _ = r["Properties"].(map[string]any)
	typ, _ = r["Type"].(string)
	return props, typ
}

// resourcesOfType returns the logical IDs of every resource of a type,
// sorted.
func resourcesOfType(tpl map[string]any, typ string) []string {
	var ids []string
	for id, r := range section(tpl, "Resources") {
		if m, ok := r.(map[string]any); ok && m["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// subVar matches ${Name} and ${Name.Attr} in an Fn::Sub string, but not
// the literal ${!Name}.
var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9_:]+)(\.[A-Za-z0-9_.]+)?\}`)

// usage is what a part of the template refers to.
type usage struct {
	refs       map[string]int // parameters, resources, pseudo parameters
	conditions map[string]int
}

// collectUsage walks v and counts every reference: Ref, the variables of
// Fn::Sub that its own variable map does not define, Fn::GetAtt, the
// condition of Fn::If, and {"Condition": name} inside conditions.
func collectUsage(v any, u *usage) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					if s, ok := arg.(string); ok {
						u.refs[s]++
						return
					}
				case "Condition":
					if s, ok := arg.(string); ok {
						u.conditions[s]++
						return
					}
				case "Fn::GetAtt":
					if a, ok := arg.([]any); ok && len(a) > 0 {
						if s, ok := a[0].(string); ok {
							u.refs[s]++
						}
						return
					}
				case "Fn::If":
					if a, ok := arg.([]any); ok && len(a) == 3 {
						if s, ok := a[0].(string); ok {
							u.conditions[s]++
						}
						collectUsage(a[1], u)
						collectUsage(a[2], u)
						return
					}
				case "Fn::Sub":
					var str string
					var vars map[string]any
					switch a := arg.(type) {
					case string:
						str = a
					case []any:
						if len(a) == 2 {
							str, _ = a[0].(string)
							vars, _ = a[1].(map[string]any)
						}
					}
					for _, m := range subVar.FindAllStringSubmatch(str, -1) {
						if _, local := vars[m[1]]; !local {
							u.refs[m[1]]++
						}
					}
					for _, val := range vars {
						collectUsage(val, u)
					}
					return
				}
			}
		}
		for _, val := range x {
			collectUsage(val, u)
		}
	case []any:
		for _, val := range x {
			collectUsage(val, u)
		}
	}
}

// statement is one IAM policy statement with the template path it came
// from. A statement inside Fn::If appears once per branch that holds one.
type statement struct {
	where string
	m     map[string]any
}

// policyStatements returns every statement of every policy document in the
// template: role inline policies, AWS::IAM::Policy and
// AWS::IAM::ManagedPolicy documents, and bucket policies.
func policyStatements(tpl map[string]any) []statement {
	var out []statement
	for id, r := range section(tpl, "Resources") {
		rm, _ := r.(map[string]any)
		props, _ := rm["Properties"].(map[string]any)
		var docs []struct {
			where string
			doc   any
		}
		add := func(where string, doc any) {
			docs = append(docs, struct {
				where string
				doc   any
			}{where, doc})
		}
		switch rm["Type"] {
		case "AWS::IAM::Role":
			pols, _ := props["Policies"].([]any)
			for i, p := range pols {
				for _, pm := range branches(p) {
					add(fmt.Sprintf("%s.Policies[%d]", id, i), pm["PolicyDocument"])
				}
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy":
			add(id, props["PolicyDocument"])
		}
		for _, d := range docs {
			dm, _ := d.doc.(map[string]any)
			stmts, _ := dm["Statement"].([]any)
			for i, s := range stmts {
				for _, sm := range branches(s) {
					out = append(out, statement{where: fmt.Sprintf("%s.Statement[%d]", d.where, i), m: sm})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

// branches returns the mappings v can stand for: v itself, or both
// branches of an Fn::If, leaving out AWS::NoValue.
func branches(v any) []map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if a, ok := m["Fn::If"].([]any); ok && len(m) == 1 && len(a) == 3 {
		return append(branches(a[1]), branches(a[2])...)
	}
	if ref, ok := m["Ref"]; ok && len(m) == 1 && ref == "AWS::NoValue" {
		return nil
	}
	return []map[string]any{m}
}

// stringList returns a string or list of strings as a list; anything else
// (an intrinsic function) as one entry rendered with %v.
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, stringList(e)...)
		}
		return out
	case nil:
		return nil
	}
	return []string{fmt.Sprint(v)}
}

func mustTemplate(t *testing.T) map[string]any {
	t.Helper()
	tpl, err := loadTemplate(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestParseTemplateShortForms(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       any
		err        string
	}{
		{name: "Ref", yaml: "v: !Ref Foo", want: map[string]any{"Ref": "Foo"}},
		{name: "GetAtt dotted", yaml: "v: !GetAtt Role.Arn", want: map[string]any{"Fn::GetAtt": []any{"Role", "Arn"}}},
		{name: "GetAtt list", yaml: "v: !GetAtt [Role, Arn]", want: map[string]any{"Fn::GetAtt": []any{"Role", "Arn"}}},
		{name: "Sub string", yaml: "v: !Sub 'a-${AWS::Region}'", want: map[string]any{"Fn::Sub": "a-${AWS::Region}"}},
		{name: "Sub with variables", yaml: "v: !Sub ['${X}', {X: !Ref Y}]",
			want: map[string]any{"Fn::Sub": []any{"${X}", map[string]any{"X": map[string]any{"Ref": "Y"}}}}},
		{name: "nested If with NoValue", yaml: "v: !If [C, !Join [',', !Ref L], !Ref AWS::NoValue]",
			want: map[string]any{"Fn::If": []any{"C", map[string]any{"Fn::Join": []any{",", map[string]any{"Ref": "L"}}}, map[string]any{"Ref": "AWS::NoValue"}}}},
		{name: "Condition", yaml: "v: !Condition InVpc", want: map[string]any{"Condition": "InVpc"}},
		{name: "tagged number stays a string", yaml: "v: !Ref 0", want: map[string]any{"Ref": "0"}},
		{name: "plain scalars keep their types", yaml: "v: [1, true, '1', x]", want: []any{1, true, "1", "x"}},
		{name: "unknown tag", yaml: "v: !Nope x", err: "unknown tag !Nope"},
		{name: "GetAtt without attribute", yaml: "v: !GetAtt Role", err: "want Resource.Attribute"},
		{name: "duplicate key", yaml: "v: 1\nv: 2", err: `key "v" is set twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTemplate([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got["v"], tt.want) {
				t.Errorf("got %#v\nwant %#v", got["v"], tt.want)
			}
		})
	}
}
