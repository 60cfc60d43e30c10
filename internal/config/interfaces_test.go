package config

import (
	"reflect"
	"strings"
	"testing"
)

// withInterfaces is a valid config whose bindings use every interface
// kind; the cases below change one piece of it each. Line numbers matter.
const withInterfaces = `state:
  memory: true
bindings:
  - name: alb
    source:
      dns: internal-web-1234.us-east-1.elb.amazonaws.com
      loadBalancer: web
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web-nlb/0123456789abcdef
    ports: [443]
  - name: search
    source:
      openSearch: logs
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/os/0123456789abcdef
    ports: [443]
  - name: proxies
    source:
      networkInterfaces:
        filters:
          vpc-id: [vpc-0123456789abcdef0]
          tag:team: [search, "ops*"]
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/proxy/0123456789abcdef
    ports: [8080]
`

func TestInterfaceSources(t *testing.T) {
	cfg, err := Parse([]byte(withInterfaces))
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{DNS: &DNSSource{Name: "internal-web-1234.us-east-1.elb.amazonaws.com", Families: []string{"ipv4"}}, LoadBalancer: "web"},
		{OpenSearch: "logs"},
		{NetworkInterfaces: &NetworkInterfaces{Filters: map[string][]string{"vpc-id": {"vpc-0123456789abcdef0"}, "tag:team": {"search", "ops*"}}}},
	}
	for i, w := range want {
		if got := cfg.Bindings[i].Source; !reflect.DeepEqual(got, w) {
			t.Errorf("bindings[%d].source = %+v, want %+v", i, got, w)
		}
	}
	if k := cfg.Bindings[0].Source.Kind(); k != "dns+loadBalancer" {
		t.Errorf("kind = %q", k)
	}
	if !cfg.UsesInterfaces() {
		t.Error("UsesInterfaces = false")
	}
	if dnsOnly, _ := Parse([]byte(minimal)); dnsOnly.UsesInterfaces() {
		t.Error("a DNS-only config uses interfaces")
	}
}

func TestInterfaceSourceRules(t *testing.T) {
	const albARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188"
	for _, tc := range []struct {
		name  string
		edits []string
		want  []want
	}{
		{"load balancer by ARN", []string{"loadBalancer: web", "loadBalancer: " + albARN}, nil},
		{"two interface kinds", []string{"      loadBalancer: web\n", "      loadBalancer: web\n      openSearch: logs\n"},
			[]want{{"bindings[0].source", 5, "sets loadBalancer and openSearch"}}},
		{"load balancer DNS name", []string{"loadBalancer: web", "loadBalancer: internal-web-1234.us-east-1.elb.amazonaws.com"},
			[]want{{"bindings[0].source.loadBalancer", 7, "not its DNS name"}}},
		{"gateway load balancer", []string{"loadBalancer: web", "loadBalancer: " + strings.Replace(albARN, "/app/", "/gwy/", 1)},
			[]want{{"bindings[0].source.loadBalancer", 7, "Gateway Load Balancer"}}},
		{"load balancer in another Region", []string{"loadBalancer: web", "loadBalancer: " + strings.Replace(albARN, "us-east-1", "eu-west-1", 1)},
			[]want{{"bindings[0].source.loadBalancer", 7, "Region eu-west-1 but the target group in us-east-1"}}},
		{"load balancer empty", []string{"loadBalancer: web", `loadBalancer: ""`}, []want{{"bindings[0].source.loadBalancer", 7, "must not be empty"}}},
		{"domain endpoint", []string{"openSearch: logs", "openSearch: vpc-logs-abc.us-east-1.es.amazonaws.com"},
			[]want{{"bindings[1].source.openSearch", 12, "not its endpoint"}}},
		{"families on interfaces", []string{"      openSearch: logs\n", "      openSearch: logs\n      families: [ipv6]\n"},
			[]want{{"bindings[1].source.families", 13, "only to a dns source"}}},
		{"unknown filter", []string{"vpc-id: [vpc", "vpcid: [vpc"}, []want{{"bindings[2].source.networkInterfaces.filters.vpcid", 19, `did you mean "vpc-id"`}}},
		{"filter twice", []string{"          vpc-id: [vpc-0123456789abcdef0]\n", "          vpc-id: [vpc-0123456789abcdef0]\n          vpc-id: [vpc-1]\n"},
			[]want{{"bindings[2].source.networkInterfaces.filters.vpc-id", 20, "set twice; it was first set on line 19"}}},
		{"filter without values", []string{"[vpc-0123456789abcdef0]", "[]"}, []want{{"bindings[2].source.networkInterfaces.filters.vpc-id", 19, "at least one value"}}},
		{"filter value empty", []string{`"ops*"`, `""`}, []want{{"bindings[2].source.networkInterfaces.filters.tag:team[1]", 20, "must not be empty"}}},
		{"filter value not a list", []string{"[vpc-0123456789abcdef0]", "vpc-0123456789abcdef0"}, []want{{"bindings[2].source.networkInterfaces.filters.vpc-id", 19, "must be a list"}}},
		{"tag without key", []string{"tag:team:", "tag::"}, []want{{"bindings[2].source.networkInterfaces.filters.tag:", 20, "tag's key"}}},
		{"no filter", []string{"        filters:\n          vpc-id: [vpc-0123456789abcdef0]\n          tag:team: [search, \"ops*\"]\n", "        filters: {}\n"},
			[]want{{"bindings[2].source.networkInterfaces.filters", 18, "at least one filter"}}},
		{"filters not a mapping", []string{"        filters:\n          vpc-id: [vpc-0123456789abcdef0]\n          tag:team: [search, \"ops*\"]\n", "        filters: [vpc-id]\n"},
			[]want{{"bindings[2].source.networkInterfaces.filters", 18, "mapping of filter names"}}},
		{"no source kind", []string{"      openSearch: logs\n", "      families: [ipv4]\n"},
			[]want{{"bindings[1].source", 11, "must set a source kind: dns, loadBalancer, openSearch or networkInterfaces"}, {"bindings[1].source.families", 12, "only to a dns source"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := edit(t, withInterfaces, tc.edits...)
			if tc.want == nil {
				if _, err := Parse([]byte(data)); err != nil {
					t.Fatal(err)
				}
				return
			}
			assertProblems(t, data, tc.want)
		})
	}
}

// TestFilterErrorsDoNotEchoValues: a filter value is never repeated in a
// problem, as no value of the file is.
func TestFilterErrorsDoNotEchoValues(t *testing.T) {
	secret := "s3cr3t-value-of-a-filter"
	_, err := Parse([]byte(edit(t, withInterfaces, "vpc-id: [vpc-0123456789abcdef0]", "vpc-id: [{x: "+secret+"}]")))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err = %v", err)
	}
}
