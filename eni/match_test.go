package eni_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tgsync/tgsync/eni"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"ELB app/web/*", "ELB app/web/50dc6c495c0c9188", true},
		{"ELB app/web/*", "ELB app/web2/50dc6c495c0c9188", false},
		{"ELB app/web/*", "ELB app/web/", true},
		{"ES logs", "ES logs", true},
		{"ES logs", "ES logs-2", false},
		{"ES logs", "es logs", false},
		{"ES ?ogs", "ES logs", true},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{`a\?`, "a?", true},
		{"*Ω*", "αΩβ", true},
		{"?", "Ω", true},
	} {
		if got := eni.Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestConcerns: an interface an event describes concerns a source when no
// filter the event can show rules it out.
func TestConcerns(t *testing.T) {
	lister := eni.NewLister(nil)
	lb := func(s string) *eni.Source { src, err := eni.LoadBalancer(lister, s); must(t, err); return src }
	os := func(s string) *eni.Source { src, err := eni.OpenSearch(lister, s); must(t, err); return src }
	filters := func(f eni.Filters) *eni.Source { src, err := eni.Matching(lister, f); must(t, err); return src }
	created := eni.Interface{ID: "eni-0f1e2d3c4b5a69788", Description: "ELB app/web/50dc6c495c0c9188", Status: "pending",
		VPCID: "vpc-1", SubnetID: "subnet-1", Groups: []string{"sg-1", "sg-2"}, RequesterID: "amazon-elb", RequesterManaged: true,
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.23"), netip.MustParseAddr("fd00::1")}, Tags: map[string]string{"team": "web"}}
	for _, tc := range []struct {
		name string
		src  *eni.Source
		want bool
	}{
		{"its load balancer by name", lb("web"), true},
		{"its load balancer by ARN", lb("arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188"), true},
		{"another load balancer's ARN with the same name", lb("arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/web/0000000000000000"), false},
		{"another load balancer", lb("web2"), false},
		{"an OpenSearch domain", os("web"), false},
		{"filters that match", filters(eni.Filters{"vpc-id": {"vpc-9", "vpc-1"}, "group-id": {"sg-2"}, "requester-managed": {"true"}}), true},
		{"a filter that does not", filters(eni.Filters{"vpc-id": {"vpc-1"}, "subnet-id": {"subnet-2"}}), false},
		{"a tag", filters(eni.Filters{"tag:team": {"w*"}}), true},
		{"a tag it lacks", filters(eni.Filters{"tag:owner": {"*"}}), false},
		{"an address", filters(eni.Filters{"addresses.private-ip-address": {"10.0.1.*"}, "ipv6-addresses.ipv6-address": {"fd00::1"}}), true},
		{"its status, unknown before it is attached", filters(eni.Filters{"description": {"ELB *"}, "status": {"in-use"}}), true},
		{"an attachment, unknown before it is attached", filters(eni.Filters{"attachment.instance-owner-id": {"amazon-elb"}}), true},
		{"an unknown filter does not save one that fails", filters(eni.Filters{"association.public-ip": {"1.2.3.4"}, "vpc-id": {"vpc-2"}}), false},
	} {
		if got := tc.src.Concerns(created); got != tc.want {
			t.Errorf("%s (%s): Concerns = %v, want %v", tc.name, tc.src, got, tc.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSourceNamesAndChecks(t *testing.T) {
	lister := eni.NewLister(nil)
	for _, tc := range []struct {
		name, in, want string // want is in the error; "" for none
		kind           string
	}{
		{"ALB name", "web-1", "", eni.KindLoadBalancer},
		{"NLB ARN", "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/net/web/50dc6c495c0c9188", "", eni.KindLoadBalancer},
		{"GWLB ARN", "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/gwy/fw/50dc6c495c0c9188", "Gateway Load Balancer", eni.KindLoadBalancer},
		{"classic ARN", "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/web", "Application or Network", eni.KindLoadBalancer},
		{"a DNS name", "internal-web-123.us-east-1.elb.amazonaws.com", "not its DNS name", eni.KindLoadBalancer},
		{"a bad name", "-web", "load balancer name", eni.KindLoadBalancer},
		{"domain", "logs", "", eni.KindOpenSearch},
		{"domain endpoint", "vpc-logs-abc.us-east-1.es.amazonaws.com", "not its endpoint", eni.KindOpenSearch},
		{"domain ARN", "arn:aws:es:us-east-1:111122223333:domain/logs", "after domain/", eni.KindOpenSearch},
		{"domain in capitals", "Logs", "lowercase", eni.KindOpenSearch},
	} {
		var err error
		var src *eni.Source
		if tc.kind == eni.KindLoadBalancer {
			src, err = eni.LoadBalancer(lister, tc.in)
		} else {
			src, err = eni.OpenSearch(lister, tc.in)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		case err == nil && src.Kind() != tc.kind:
			t.Errorf("%s: kind %s", tc.name, src.Kind())
		}
	}
	if _, err := eni.Matching(lister, nil); err == nil {
		t.Error("no filter selects every interface of the account; want an error")
	}
	if _, err := eni.Matching(lister, eni.Filters{"vpc-id": nil}); err == nil {
		t.Error("a filter without a value; want an error")
	}
	a, _ := eni.LoadBalancer(lister, "web")
	if got := a.String(); got != "interfaces of load balancer web" {
		t.Errorf("String() = %q", got)
	}
	f := eni.Filters{"vpc-id": {"vpc-2", "vpc-1"}, "description": {"x"}}
	g := eni.Filters{"description": {"x"}, "vpc-id": {"vpc-1", "vpc-2"}}
	if f.Key() != g.Key() || f.Key() == (eni.Filters{"description": {"x"}}).Key() {
		t.Errorf("keys %q and %q: equal filter sets must share a key, others not", f.Key(), g.Key())
	}
}
