package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestParseForStack checks the contract between a stack and its function:
// a config that sets state, or that does not read once the stack's state
// section is appended, is refused with its line; every other valid config
// reads with the stack's state.
func TestParseForStack(t *testing.T) {
	tests := []struct {
		name string
		data string
		// want is the problem's path, line and a part of its message; a
		// zero want means the config is accepted.
		want want
	}{
		{"no state", minimal, want{}},
		{"no state, spot drain only", "spotDrain:\n  targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/spot/0123456789abcdef]\n", want{}},
		{"state in S3, as docs/deploy.md used to allow",
			minimal + "state:\n  s3: s3://my-bucket/tgsync/\n",
			want{"state", 7, "leave the state section out of a stack's config"}},
		{"state first, in a file",
			"state:\n  file: ./tgsync-state.json\n" + minimal,
			want{"state", 1, "appends the section itself"}},
		{"state as a quoted key", minimal + "\"state\": {s3: s3://my-bucket/p/}\n", want{"state", 7, "leave the state section out"}},
		{"top level in flow style",
			"{bindings: [{name: web, source: {dns: web.internal.example}, targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef', ports: [443]}]}\n",
			want{"", 0, "write the top level in block style"}},
		{"ends with a document end marker", minimal + "...\n", want{"", 0, "do not read as one document"}},
		{"invalid before any stack rule", minimal + "dns: {lookups: 99}\n", want{"dns.lookups", 7, "must be in 1..16"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseForStack([]byte(tc.data))
			if tc.want == (want{}) {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if cfg.State.S3 == nil || cfg.State.S3.Bucket != placeholderBucket {
					t.Errorf("state = %+v, want the stack's bucket", cfg.State)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			p := ve.Problems[0]
			if p.Path != tc.want.path || p.Line != tc.want.line || !strings.Contains(p.Message, tc.want.msg) {
				t.Errorf("problem = %q at line %d: %s\nwant %q at line %d containing %q", p.Path, p.Line, p.Message, tc.want.path, tc.want.line, tc.want.msg)
			}
		})
	}
}

// TestStackStateSectionReads checks that the section the stacks append
// gives the state the stack names.
func TestStackStateSectionReads(t *testing.T) {
	cfg, err := Parse([]byte(minimal + StackStateSection("my-bucket", "team-a/tgsync/")))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.State.S3; got == nil || *got != (S3Location{Bucket: "my-bucket", Prefix: "team-a/tgsync/"}) {
		t.Errorf("state = %+v, want s3://my-bucket/team-a/tgsync/", cfg.State)
	}
}

func TestCompactForStack(t *testing.T) {
	tests := []struct {
		name string
		data string
		// want is the compacted text.
		want string
	}{
		{"comments go",
			"# tgsync for the dashboards\nbindings:   # one\n  - name: web  # the name\n    source:\n      dns: web.internal.example\n" +
				"    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef\n    ports: [443]\n# the end\n",
			minimal},
		{"a flow-style top level becomes block style",
			"{dns: {lookups: 2}, bindings: [{name: web, source: {dns: web.internal.example}, targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef', ports: [443]}]}\n",
			"dns: {lookups: 2}\nbindings: [{name: web, source: {dns: web.internal.example}, targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef', ports: [443]}]\n"},
		{"anchors stay", "dns: &d {lookups: 2}\n" + minimal, "dns: &d {lookups: 2}\n" + minimal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CompactForStack([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("compacted to\n%s\nwant\n%s", got, tc.want)
			}
			before, err := Parse([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			after, err := ParseForStack(got)
			if err != nil {
				t.Fatalf("the compacted config is no stack config: %v", err)
			}
			after.State = before.State
			if !reflect.DeepEqual(before, after) {
				t.Errorf("compacting changed the config:\n%+v\nto\n%+v", before, after)
			}
		})
	}
	if _, err := CompactForStack([]byte("bindings: 3\n")); err == nil {
		t.Error("an invalid config was compacted")
	}
}

func TestCheckStackSize(t *testing.T) {
	for _, tc := range []struct {
		n  int
		ok bool
	}{{0, true}, {MaxStackConfig, true}, {MaxStackConfig + 1, false}} {
		err := CheckStackSize([]byte(strings.Repeat("x", tc.n)))
		if (err == nil) != tc.ok {
			t.Errorf("%d bytes: err = %v, want ok %v", tc.n, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "at most 3500") {
			t.Errorf("%d bytes: %v does not name the limit", tc.n, err)
		}
	}
}

func TestStackPlace(t *testing.T) {
	const (
		euWest1  = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/a/0123456789abcdef"
		euWest1b = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/b/0123456789abcdef"
		usEast1  = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/c/0123456789abcdef"
		other    = "arn:aws:elasticloadbalancing:eu-west-1:444455556666:targetgroup/d/0123456789abcdef"
		// otherUSEast1 is a group of the other account in another Region.
		otherUSEast1 = "arn:aws:elasticloadbalancing:us-east-1:444455556666:targetgroup/e/0123456789abcdef"
		otherRole    = "    roleArn: arn:aws:iam::444455556666:role/tgsync-target\n"
	)
	binding := func(name, arn string) string {
		return "  - name: " + name + "\n    source: {dns: " + name + ".internal.example}\n    targetGroupArn: " + arn + "\n    ports: [443]\n"
	}
	tests := []struct {
		name    string
		data    string
		want    Place
		badPath string
	}{
		{"one Region", "bindings:\n" + binding("a", euWest1) + binding("b", euWest1b), Place{"aws", "eu-west-1", "111122223333"}, ""},
		{"spot drain elsewhere", "bindings:\n" + binding("a", euWest1) + "spotDrain: {targetGroupArns: [" + usEast1 + "]}\n", Place{}, "spotDrain.targetGroupArns[0]"},
		{"two Regions", "bindings:\n" + binding("a", euWest1) + binding("c", usEast1), Place{}, "bindings[1].targetGroupArn"},
		{"two accounts", "bindings:\n" + binding("a", euWest1) + binding("d", other), Place{}, "bindings[1].targetGroupArn"},
		// A group reached through a role of its account is the role's
		// business: the stack's own account is that of the others.
		{"another account through its role", "bindings:\n" + binding("a", euWest1) + binding("d", other) + otherRole,
			Place{"aws", "eu-west-1", "111122223333"}, ""},
		{"the role's group first", "bindings:\n" + binding("d", other) + otherRole + binding("a", euWest1),
			Place{"aws", "eu-west-1", "111122223333"}, ""},
		{"every group through a role", "bindings:\n" + binding("d", other) + otherRole, Place{"aws", "eu-west-1", ""}, ""},
		{"a role's group in another Region", "bindings:\n" + binding("a", euWest1) + binding("e", otherUSEast1) + otherRole,
			Place{}, "bindings[1].targetGroupArn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.StackPlace()
			if tc.badPath == "" {
				if err != nil || got != tc.want {
					t.Errorf("StackPlace = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Problems[0].Path != tc.badPath {
				t.Fatalf("err = %v, want a problem at %s", err, tc.badPath)
			}
			if _, err := ParseForStack([]byte(tc.data)); err == nil {
				t.Error("ParseForStack accepted the config")
			}
		})
	}
}

// TestStackRoles: AssumeRoleArns is every distinct roleArn of the bindings
// and the Spot drain, sorted; a config without roles has none.
func TestStackRoles(t *testing.T) {
	const (
		own   = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/a/0123456789abcdef"
		d     = "arn:aws:elasticloadbalancing:eu-west-1:444455556666:targetgroup/d/0123456789abcdef"
		e     = "arn:aws:elasticloadbalancing:eu-west-1:444455556666:targetgroup/e/0123456789abcdef"
		f     = "arn:aws:elasticloadbalancing:eu-west-1:777788889999:targetgroup/f/0123456789abcdef"
		roleD = "arn:aws:iam::444455556666:role/tgsync-target"
		roleF = "arn:aws:iam::777788889999:role/path/tgsync"
	)
	binding := func(name, arn, role string) string {
		s := "  - name: " + name + "\n    source: {dns: " + name + ".internal.example}\n    targetGroupArn: " + arn + "\n    ports: [443]\n"
		if role != "" {
			s += "    roleArn: " + role + "\n"
		}
		return s
	}
	for _, tc := range []struct {
		name string
		data string
		want []string
	}{
		{"no roles", "bindings:\n" + binding("a", own, ""), nil},
		{"one role, two bindings", "bindings:\n" + binding("d", d, roleD) + binding("e", e, roleD) + binding("a", own, ""), []string{roleD}},
		{"the Spot drain's", "bindings:\n" + binding("d", d, roleD) + "spotDrain: {targetGroupArns: [" + f + "], roleArn: " + roleF + "}\n",
			[]string{roleD, roleF}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseForStack([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.StackRoles(); !slices.Equal(got, tc.want) {
				t.Errorf("StackRoles = %q, want %q", got, tc.want)
			}
		})
	}
}
