package config

import (
	"strings"
	"testing"
)

const (
	roleB = "arn:aws:iam::111122223333:role/tgsync-target"
	// roleOther is a role in another account than every group of base.
	roleOther = "arn:aws:iam::444455556666:role/tgsync-target"
)

// withRole gives base's second binding (alb, lines 27 to 33) a role after
// its ports, on lines 32 and 33.
func withRole(t *testing.T, role, external string) string {
	t.Helper()
	add := ""
	if role != "" {
		add += "    roleArn: " + role + "\n"
	}
	if external != "" {
		add += "    externalId: " + external + "\n"
	}
	return edit(t, base, "    ports: [80, 443]\n", "    ports: [80, 443]\n"+add)
}

func TestRoles(t *testing.T) {
	cfg, err := Parse([]byte(withRole(t, roleB, "tgsync-prod")))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Bindings[1].Role; got != (Role{ARN: roleB, ExternalID: "tgsync-prod"}) {
		t.Errorf("role %+v", got)
	}
	if got := cfg.Bindings[0].Role; got != (Role{}) {
		t.Errorf("a binding without a role got %+v", got)
	}
	withPath := edit(t, base, "    ports: [80, 443]\n", "    ports: [80, 443]\n    roleArn: arn:aws-cn:iam::111122223333:role/ops/tgsync/target\n")
	if _, err := Parse([]byte(withPath)); err != nil {
		t.Errorf("a role with a path: %v", err)
	}
	spot := edit(t, base, "  containerName: logstash\n", "  containerName: logstash\n  roleArn: "+roleB+"\n")
	if cfg, err := Parse([]byte(spot)); err != nil || cfg.SpotDrain.Role.ARN != roleB {
		t.Errorf("spotDrain.roleArn: %v", err)
	}
}

func TestRoleRules(t *testing.T) {
	shared := func(t *testing.T, role string) string {
		s := edit(t, base, "shared: false", "shared: true", tgALB, tgDash,
			"    ports: [80, 443]\n", "    ports: [80, 443]\n    shared: true\n")
		if role != "" {
			s = edit(t, s, "    shared: true\n    deregister:\n      maxFraction", "    shared: true\n    roleArn: "+role+"\n    deregister:\n      maxFraction")
		}
		return s
	}
	tests := []struct {
		name string
		data func(t *testing.T) string
		want []want
	}{
		{"externalId without roleArn", func(t *testing.T) string { return withRole(t, "", "tgsync-prod") },
			[]want{{"bindings[1].externalId", 32, "needs roleArn"}}},
		{"not a role ARN", func(t *testing.T) string { return withRole(t, "arn:aws:iam::111122223333:user/tgsync", "") },
			[]want{{"bindings[1].roleArn", 32, "must be an IAM role ARN"}}},
		{"a role name alone", func(t *testing.T) string { return withRole(t, "tgsync-target", "") },
			[]want{{"bindings[1].roleArn", 32, "must be an IAM role ARN"}}},
		{"externalId too short", func(t *testing.T) string { return withRole(t, roleB, "x") },
			[]want{{"bindings[1].externalId", 33, "2 to 1224"}}},
		{"externalId with a space", func(t *testing.T) string { return withRole(t, roleB, `"tgsync prod"`) },
			[]want{{"bindings[1].externalId", 33, "2 to 1224"}}},
		{"a role of another account", func(t *testing.T) string { return withRole(t, roleOther, "") },
			[]want{{"bindings[1].roleArn", 32, "a role reaches only target groups of its own account"}}},
		{"one group, two ways", func(t *testing.T) string { return shared(t, roleB) },
			[]want{{"bindings[1].roleArn", 33, "must be the role (and external ID) of bindings[0]"}}},
		{"spotDrain role of another account", func(t *testing.T) string {
			return edit(t, base, "  containerName: logstash\n", "  containerName: logstash\n  roleArn: "+roleOther+"\n")
		}, []want{{"spotDrain.roleArn", 40, "its own account"}}},
		{"spotDrain group reached by a binding without the role", func(t *testing.T) string {
			s := edit(t, base, "  containerName: logstash\n", "  containerName: logstash\n  roleArn: "+roleB+"\n")
			return edit(t, s, "targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/logstash/73e2d6bc24d8a068]",
				"targetGroupArns: ["+tgALB+"]", "    ports: [80, 443]\n", "    ports: [80, 443]\n    shared: true\n")
		}, []want{{"spotDrain.roleArn", 41, "of bindings[1]"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			assertProblems(t, data, tc.want)
			_, err := Parse([]byte(data))
			for _, v := range []string{"tgsync-target", "tgsync-prod", "444455556666"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error repeats a value from the file (%q): %v", v, err)
				}
			}
		})
	}
	if _, err := Parse([]byte(shared(t, ""))); err != nil {
		t.Errorf("two shared bindings without roles: %v", err)
	}
}
