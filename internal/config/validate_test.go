package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// base is a valid config; the cases below change one piece of it each.
// Line numbers matter: the cases assert them.
const base = `dns:
  servers: ["10.0.0.2"]
  lookups: 4
  timeout: 2s
  families: [ipv4]
state:
  file: ./state.json
limits:
  describePerSecond: 5
  describeBurst: 20
  changesPerSecond: 2
  changesBurst: 10
bindings:
  - name: dash
    source:
      dns: vpc-logs-abc123.ap-northeast-1.es.amazonaws.com
      families: [ipv4]
    targetGroupArn: arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5e
    ports: [443]
    shared: false
    availabilityZone: ""
    deregister:
      afterMisses: 3
      afterDuration: 3m
      maxFraction: 0.5
    allowedCidrs: ["10.0.0.0/8"]
  - name: alb
    source:
      dns: internal-web-1234.us-east-1.elb.amazonaws.com
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web-nlb/0123456789abcdef
    ports: [80, 443]
    deregister:
      maxFraction: 0.25
spotDrain:
  targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/logstash/73e2d6bc24d8a068]
  stopCodes: [SpotInterruption]
  clusters: [arn:aws:ecs:us-east-1:111122223333:cluster/logs]
  group: service:logstash
  containerName: logstash
`

const (
	tgDash = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5e"
	tgALB  = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web-nlb/0123456789abcdef"
)

// edit replaces each old string, which must occur in s exactly once, so
// that a case cannot silently test the unchanged base.
func edit(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("edit: %q occurs %d times in the config", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// want is one expected problem: exact path and line, a piece of the
// message.
type want struct {
	path string
	line int
	msg  string
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T (%v), want *ValidationError", err, err)
	}
	return ve.Problems
}

func assertProblems(t *testing.T, data string, wants []want) {
	t.Helper()
	cfg, err := Parse([]byte(data))
	if err == nil {
		t.Fatalf("Parse succeeded (%d bindings), want problems %v", len(cfg.Bindings), wants)
	}
	got := problemsOf(t, err)
	if len(got) != len(wants) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(wants), err)
	}
	for i, w := range wants {
		g := got[i]
		if g.Path != w.path || g.Line != w.line || !strings.Contains(g.Message, w.msg) {
			t.Errorf("problem %d = %s, want line %d: %s: ...%s...", i, g, w.line, w.path, w.msg)
		}
	}
}

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("base config: %v", err)
	}
}

func TestValidationRules(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name  string
		edits []string
		want  []want
	}{
		// names
		{"name missing", []string{"- name: alb\n    source:", "- source:"}, []want{{"bindings[1].name", 27, "is required"}}},
		{"name empty", []string{"name: alb", `name: ""`}, []want{{"bindings[1].name", 27, "is required"}}},
		{"name bad characters", []string{"name: alb", "name: al b!"}, []want{{"bindings[1].name", 27, "1 to 64 letters"}}},
		{"name too long", []string{"name: alb", "name: " + long}, []want{{"bindings[1].name", 27, "1 to 64 letters"}}},
		{"name duplicate", []string{"name: alb", "name: dash"}, []want{{"bindings[1].name", 27, "bindings[0] already uses it"}}},
		// sources
		{"source missing", []string{"    source:\n      dns: internal-web-1234.us-east-1.elb.amazonaws.com\n", ""},
			[]want{{"bindings[1].source", 27, "must set a source kind: dns"}}},
		{"source without kind", []string{"dns: internal-web-1234.us-east-1.elb.amazonaws.com", "families: [ipv4]"},
			[]want{{"bindings[1].source", 28, "must set a source kind"}, {"bindings[1].source.families", 29, "only to a dns source"}}},
		{"dns name syntax", []string{"dns: internal-web-1234", "dns: -internal-web-1234"}, []want{{"bindings[1].source.dns", 29, "not a valid DNS name"}}},
		{"dns name label too long", []string{"dns: internal-web-1234", "dns: " + strings.Repeat("x", 64)}, []want{{"bindings[1].source.dns", 29, "not a valid DNS name"}}},
		{"dns name is an IP", []string{"dns: internal-web-1234.us-east-1.elb.amazonaws.com", "dns: 10.1.2.3"}, []want{{"bindings[1].source.dns", 29, "is an IP address"}}},
		{"dns name empty", []string{"dns: internal-web-1234.us-east-1.elb.amazonaws.com", `dns: ""`}, []want{{"bindings[1].source.dns", 29, "is required"}}},
		{"family unknown", []string{"      families: [ipv4]\n", "      families: [ipv4, ipv5]\n"}, []want{{"bindings[0].source.families[1]", 17, "must be ipv4 or ipv6"}}},
		{"family list empty", []string{"      families: [ipv4]\n", "      families: []\n"}, []want{{"bindings[0].source.families", 17, "must list ipv4, ipv6 or both"}}},
		// target group ARNs
		{"arn missing", []string{"    targetGroupArn: " + tgALB + "\n", ""}, []want{{"bindings[1].targetGroupArn", 27, "is required"}}},
		{"arn not an arn", []string{tgALB, "targetgroup/web-nlb"}, []want{{"bindings[1].targetGroupArn", 30, "must be an ARN"}}},
		{"arn partition", []string{tgALB, strings.Replace(tgALB, ":aws:", ":aws-iso:", 1)}, []want{{"bindings[1].targetGroupArn", 30, "partition must be aws, aws-cn or aws-us-gov"}}},
		{"arn region", []string{tgALB, strings.Replace(tgALB, "us-east-1", "useast1", 1)}, []want{{"bindings[1].targetGroupArn", 30, "Region must be a Region name"}}},
		{"arn region of other partition", []string{tgALB, strings.Replace(tgALB, ":aws:", ":aws-cn:", 1)}, []want{{"bindings[1].targetGroupArn", 30, "not in partition aws-cn"}}},
		{"arn account", []string{tgALB, strings.Replace(tgALB, "111122223333", "11112222333", 1)}, []want{{"bindings[1].targetGroupArn", 30, "12 digits"}}},
		{"arn service", []string{tgALB, strings.Replace(tgALB, "elasticloadbalancing", "ecs", 1)}, []want{{"bindings[1].targetGroupArn", 30, "must be an elasticloadbalancing target group ARN"}}},
		{"arn load balancer", []string{tgALB, strings.Replace(tgALB, "targetgroup/", "loadbalancer/", 1)}, []want{{"bindings[1].targetGroupArn", 30, "targetgroup/<name>/<id>"}}},
		{"arn group name", []string{tgALB, strings.Replace(tgALB, "web-nlb", "web-nlb-", 1)}, []want{{"bindings[1].targetGroupArn", 30, "target group name"}}},
		{"arn group id", []string{tgALB, strings.Replace(tgALB, "0123456789abcdef", "0123456789abcdeg", 1)}, []want{{"bindings[1].targetGroupArn", 30, "16 hex digits"}}},
		{"arn cn ok, gov region wrong", []string{tgALB, "arn:aws-us-gov:elasticloadbalancing:us-east-1:111122223333:targetgroup/a/0123456789abcdef"}, []want{{"bindings[1].targetGroupArn", 30, "not in partition aws-us-gov"}}},
		// ports
		{"port zero", []string{"ports: [80, 443]", "ports: [0, 443]"}, []want{{"bindings[1].ports[0]", 31, "1..65535, got 0"}}},
		{"port too big", []string{"ports: [80, 443]", "ports: [80, 65536]"}, []want{{"bindings[1].ports[1]", 31, "1..65535, got 65536"}}},
		{"ports empty", []string{"ports: [80, 443]", "ports: []"}, []want{{"bindings[1].ports", 31, "at least one port"}}},
		{"ports missing", []string{"    ports: [80, 443]\n", ""}, []want{{"bindings[1].ports", 27, "at least one port"}}},
		{"port twice", []string{"ports: [80, 443]", "ports: [80, 443, 80]"}, []want{{"bindings[1].ports[2]", 31, "listed twice"}}},
		{"port on its own line", []string{"ports: [80, 443]", "ports:\n      - 80\n      - -1"}, []want{{"bindings[1].ports[1]", 33, "got -1"}}},
		// deregister
		{"afterMisses zero", []string{"afterMisses: 3", "afterMisses: 0"}, []want{{"bindings[0].deregister.afterMisses", 23, "at least 1, got 0"}}},
		{"afterDuration negative", []string{"afterDuration: 3m", "afterDuration: -3m"}, []want{{"bindings[0].deregister.afterDuration", 24, "must not be negative"}}},
		{"afterDuration bare number", []string{"afterDuration: 3m", "afterDuration: 180"}, []want{{"bindings[0].deregister.afterDuration", 24, "write 3m or 180s"}}},
		{"afterDuration not a duration", []string{"afterDuration: 3m", "afterDuration: 3 minutes"}, []want{{"bindings[0].deregister.afterDuration", 24, "must be a duration"}}},
		{"maxFraction above one", []string{"maxFraction: 0.25", "maxFraction: 1.5"}, []want{{"bindings[1].deregister.maxFraction", 33, "must be in (0, 1], got 1.5"}}},
		{"maxFraction zero", []string{"maxFraction: 0.5", "maxFraction: 0"}, []want{{"bindings[0].deregister.maxFraction", 25, "must be in (0, 1], got 0"}}},
		{"maxFraction NaN", []string{"maxFraction: 0.5", "maxFraction: .nan"}, []want{{"bindings[0].deregister.maxFraction", 25, "must be in (0, 1]"}}},
		{"maxFraction percent", []string{"maxFraction: 0.5", "maxFraction: 50%"}, []want{{"bindings[0].deregister.maxFraction", 25, `must be a number, got a string`}}},
		// allowed ranges
		{"cidr host bits", []string{`["10.0.0.0/8"]`, `["10.1.0.0/8"]`}, []want{{"bindings[0].allowedCidrs[0]", 26, "write 10.0.0.0/8"}}},
		{"cidr bare address", []string{`["10.0.0.0/8"]`, `["10.0.0.0/8", "10.1.2.3"]`}, []want{{"bindings[0].allowedCidrs[1]", 26, "write 10.1.2.3/32"}}},
		{"cidr garbage", []string{`["10.0.0.0/8"]`, `["ten/8"]`}, []want{{"bindings[0].allowedCidrs[0]", 26, "must be a CIDR range"}}},
		{"cidrs all bad", []string{`["10.0.0.0/8"]`, `["10.0.0.0/33", "fc00::1/7"]`},
			[]want{{"bindings[0].allowedCidrs[0]", 26, "must be a CIDR range"}, {"bindings[0].allowedCidrs[1]", 26, "write fc00::/7"}}},
		{"cidr list empty", []string{`["10.0.0.0/8"]`, `[]`}, []want{{"bindings[0].allowedCidrs", 26, "at least one range"}}},
		// zones and sharing
		{"availabilityZone", []string{`availabilityZone: ""`, "availabilityZone: ap-northeast-1a"}, []want{{"bindings[0].availabilityZone", 21, `must be "" or "all"`}}},
		{"group shared by dedicated bindings", []string{tgALB, tgDash},
			[]want{{"bindings[0].shared", 20, "also used by bindings[1],"}, {"bindings[1].shared", 27, "also used by bindings[0],"}}},
		// dns section
		{"server not an IP", []string{`servers: ["10.0.0.2"]`, `servers: ["10.0.0.2", "dns.example"]`}, []want{{"dns.servers[1]", 2, "must be an IP address"}}},
		{"server port zero", []string{`servers: ["10.0.0.2"]`, `servers: ["10.0.0.2:0"]`}, []want{{"dns.servers[0]", 2, "must be an IP address"}}},
		{"server port too big", []string{`servers: ["10.0.0.2"]`, `servers: ["10.0.0.2:65536"]`}, []want{{"dns.servers[0]", 2, "must be an IP address"}}},
		{"lookups zero", []string{"lookups: 4", "lookups: 0"}, []want{{"dns.lookups", 3, "1..16, got 0"}}},
		{"lookups too many", []string{"lookups: 4", "lookups: 17"}, []want{{"dns.lookups", 3, "1..16, got 17"}}},
		{"timeout zero", []string{"timeout: 2s", "timeout: 0s"}, []want{{"dns.timeout", 4, "more than zero"}}},
		{"timeout bare number", []string{"timeout: 2s", "timeout: 2"}, []want{{"dns.timeout", 4, "write 3m or 180s"}}},
		{"dns families twice", []string{"  families: [ipv4]\nstate", "  families: [ipv4, ipv4]\nstate"}, []want{{"dns.families[1]", 5, "listed twice"}}},
		{"dns families empty", []string{"  families: [ipv4]\nstate", "  families: []\nstate"}, []want{{"dns.families", 5, "must list ipv4, ipv6 or both"}}},
		// state
		{"state file and s3", []string{"  file: ./state.json\n", "  file: ./state.json\n  s3: s3://tgsync-state/prod/\n"}, []want{{"state", 6, "only one of file, s3 and memory, got file and s3"}}},
		{"state file and memory", []string{"  file: ./state.json\n", "  file: ./state.json\n  memory: true\n"}, []want{{"state", 6, "got file and memory: true"}}},
		{"state file empty", []string{"file: ./state.json", `file: ""`}, []want{{"state.file", 7, "must not be empty"}}},
		{"state s3 not a URL", []string{"file: ./state.json", "s3: https://tgsync-state.s3.amazonaws.com/"}, []want{{"state.s3", 7, "s3://bucket/prefix/"}}},
		{"state s3 bucket uppercase", []string{"file: ./state.json", "s3: s3://TgSync/prefix/"}, []want{{"state.s3", 7, "lowercase"}}},
		{"state s3 bucket short", []string{"file: ./state.json", "s3: s3://ab/"}, []want{{"state.s3", 7, "3 to 63"}}},
		{"state s3 bucket missing", []string{"file: ./state.json", "s3: s3:///prefix/"}, []want{{"state.s3", 7, "bucket name is missing"}}},
		{"state s3 bucket IP", []string{"file: ./state.json", "s3: s3://192.168.1.1/"}, []want{{"state.s3", 7, "IP address"}}},
		{"state s3 bucket reserved", []string{"file: ./state.json", "s3: s3://xn--tgsync/"}, []want{{"state.s3", 7, "must not start with xn--"}}},
		// limits
		{"limit zero", []string{"describePerSecond: 5", "describePerSecond: 0"}, []want{{"limits.describePerSecond", 9, "positive"}}},
		{"limit negative", []string{"changesBurst: 10", "changesBurst: -1"}, []want{{"limits.changesBurst", 12, "positive"}}},
		{"limit infinite", []string{"changesPerSecond: 2", "changesPerSecond: .inf"}, []want{{"limits.changesPerSecond", 11, "positive"}}},
		{"burst fractional", []string{"describeBurst: 20", "describeBurst: 2.5"}, []want{{"limits.describeBurst", 10, "whole number"}}},
		// spot drain
		{"spot arns empty", []string{"targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/logstash/73e2d6bc24d8a068]", "targetGroupArns: []"},
			[]want{{"spotDrain.targetGroupArns", 35, "at least one target group ARN"}}},
		{"spot arn invalid", []string{"targetgroup/logstash/73e2d6bc24d8a068", "targetgroup/logstash/..."}, []want{{"spotDrain.targetGroupArns[0]", 35, "16 hex digits"}}},
		{"stop code empty string", []string{"stopCodes: [SpotInterruption]", `stopCodes: [SpotInterruption, ""]`}, []want{{"spotDrain.stopCodes[1]", 36, "must not be empty"}}},
		{"stop codes empty list", []string{"stopCodes: [SpotInterruption]", "stopCodes: []"}, []want{{"spotDrain.stopCodes", 36, "at least one stop code"}}},
		{"cluster not a cluster ARN", []string{"clusters: [arn:aws:ecs:us-east-1:111122223333:cluster/logs]", "clusters: [" + tgALB + "]"}, []want{{"spotDrain.clusters[0]", 37, "ECS cluster ARN"}}},
		{"cluster name", []string{"cluster/logs]", "cluster/lo gs]"}, []want{{"spotDrain.clusters[0]", 37, "cluster name"}}},
		{"spot drain on a dedicated binding's group", []string{"targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/logstash/73e2d6bc24d8a068]", "targetGroupArns: [" + tgALB + "]"},
			[]want{{"bindings[1].shared", 27, "also in spotDrain.targetGroupArns[0]"}}},
		// the config as a whole
		{"no bindings and no spot drain", []string{"spotDrain:", "unused:", "bindings:\n", "bindings: []\nold:\n"},
			[]want{{"bindings", 13, "at least one binding is required unless spotDrain is set"}, {"old", 14, "unknown key"}, {"unused", 35, "unknown key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblems(t, edit(t, base, tt.edits...), tt.want)
		})
	}
}

func TestSeveralProblemsAreAllReportedInLineOrder(t *testing.T) {
	data := edit(t, base,
		"maxFraction: 0.25", "maxFraction: 1.5",
		"lookups: 4", "lookups: 99",
		"name: alb", "name: dash",
		"ports: [443]", `ports: "443"`,
		"afterMisses: 3", "afterMiss: 3",
		"  file: ./state.json\n", "  file: ./state.json\n  s3: s3://tgsync-state/\n",
	)
	assertProblems(t, data, []want{
		{"dns.lookups", 3, "1..16, got 99"},
		{"state", 6, "got file and s3"},
		{"bindings[0].ports", 20, "must be a list, got a string"},
		{"bindings[0].deregister.afterMiss", 24, `did you mean "afterMisses"?`},
		{"bindings[1].name", 28, "duplicate name"},
		{"bindings[1].deregister.maxFraction", 34, "got 1.5"},
	})
}

func TestErrorRendering(t *testing.T) {
	_, err := Parse([]byte(edit(t, base, "maxFraction: 0.25", "maxFraction: 1.5", "lookups: 4", "lookups: 0")))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *ValidationError", err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"without file", ve, "line 3: dns.lookups: must be in 1..16, got 0\n" +
			"line 33: bindings[1].deregister.maxFraction: must be in (0, 1], got 1.5"},
		{"with file", ve.WithFile("tgsync.yaml"), "tgsync.yaml:3: dns.lookups: must be in 1..16, got 0\n" +
			"tgsync.yaml:33: bindings[1].deregister.maxFraction: must be in (0, 1], got 1.5"},
		{"no line, no path", &ValidationError{File: "a.yaml", Problems: []Problem{{Message: "m"}}}, "a.yaml: m"},
		{"no line", &ValidationError{Problems: []Problem{{Path: "state", Message: "m"}}}, "state: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	if ve.File != "" {
		t.Errorf("WithFile changed the original: File = %q", ve.File)
	}
}

// TestAllowedRangeWarnings: a range wider than, or outside, the private
// ranges is valid but warned about with its key path and line; ranges
// inside them are not.
func TestAllowedRangeWarnings(t *testing.T) {
	tests := []struct {
		cidr string
		how  string // "" for no warning
	}{
		{"10.0.0.0/8", ""},
		{"0.0.0.0/0", "is wider than"},
		{"10.1.0.0/16", ""},
		{"10.0.0.0/7", "is wider than"},
		{"172.31.0.0/16", ""},
		{"172.0.0.0/8", "is wider than"},
		{"192.168.10.0/24", ""},
		{"100.64.0.0/10", ""},
		{"100.0.0.0/8", "is wider than"},
		{"8.8.8.0/24", "is outside"},
		{"169.254.0.0/16", "is outside"},
		{"fd00::/8", ""},
		{"fc00::/7", ""},
		{"::/0", "is wider than"},
		{"2001:db8::/32", "is outside"},
		{"::ffff:10.0.0.0/104", "is outside"},
	}
	// Each range on a line of its own: item j is on line 8+j.
	data := minimal + "    allowedCidrs:\n"
	var want []Problem
	for j, tt := range tests {
		data += "      - " + tt.cidr + "\n"
		if tt.how != "" {
			want = append(want, Problem{Path: "bindings[0].allowedCidrs[" + strconv.Itoa(j) + "]", Line: 8 + j,
				Message: tt.cidr + " " + tt.how + " the private ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7)"})
		}
	}
	cfg, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("a public range makes the config invalid: %v", err)
	}
	if len(cfg.Warnings) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%v", len(cfg.Warnings), len(want), cfg.Warnings)
	}
	for i, w := range want {
		g := cfg.Warnings[i]
		if g.Path != w.Path || g.Line != w.Line || !strings.HasPrefix(g.Message, w.Message+": ") {
			t.Errorf("warning %d = %s\nwant line %d: %s: %s: ...", i, g, w.Line, w.Path, w.Message)
		}
	}
	if got, want := cfg.Warnings[0].In("tgsync.yaml"), "tgsync.yaml:9: bindings[0].allowedCidrs[1]: 0.0.0.0/0 is wider than"; !strings.HasPrefix(got, want) {
		t.Errorf("In = %q, want it to start with %q", got, want)
	}

	// No warning without allowedCidrs (the private ranges), nor for the
	// example.
	for name, data := range map[string]string{"default ranges": minimal, "example": string(exampleWithYourARNs())} {
		if cfg, err := Parse([]byte(data)); err != nil || len(cfg.Warnings) != 0 {
			t.Errorf("%s: warnings %v, error %v; want none", name, cfg.Warnings, err)
		}
	}
}
