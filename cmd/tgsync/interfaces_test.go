package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tgsync/tgsync/internal/config"
)

// TestBindingSourcesFromConfig: each source kind of the config becomes the
// source it names; dns beside interfaces is their union; a config without
// interfaces makes no EC2 client.
func TestBindingSourcesFromConfig(t *testing.T) {
	const tg = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/%s/0123456789abcdef"
	cfg, err := config.Parse([]byte(`state: {memory: true}
dns: {servers: ["127.0.0.1:53"]}
bindings:
  - name: both
    source: {dns: web.internal.example, loadBalancer: web}
    targetGroupArn: ` + strings.ReplaceAll(tg, "%s", "a") + `
    ports: [443]
  - name: domain
    source: {openSearch: logs}
    targetGroupArn: ` + strings.ReplaceAll(tg, "%s", "b") + `
    ports: [443]
  - name: filters
    source: {networkInterfaces: {filters: {vpc-id: [vpc-1]}}}
    targetGroupArn: ` + strings.ReplaceAll(tg, "%s", "c") + `
    ports: [443]
  - name: name
    source: {dns: name.internal.example}
    targetGroupArn: ` + strings.ReplaceAll(tg, "%s", "d") + `
    ports: [443]
`))
	if err != nil {
		t.Fatal(err)
	}
	lister, ifs, err := interfaceSources(cfg, aws.Config{Region: "us-east-1"})
	if err != nil || lister == nil || len(ifs) != 3 {
		t.Fatalf("interface sources: %v %v %v", lister, ifs, err)
	}
	bindings, err := domainBindings(cfg, func(string) string { return "" }, ifs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"both":    "web.internal.example + interfaces of load balancer web",
		"domain":  "interfaces of OpenSearch domain logs",
		"filters": "interfaces with vpc-id=vpc-1",
		"name":    "name.internal.example",
	}
	for _, b := range bindings {
		if got := b.Source.String(); got != want[b.Name] {
			t.Errorf("%s: source %q, want %q", b.Name, got, want[b.Name])
		}
	}
	// A resolver is made only for DNS sources: a bad server list fails a
	// config with one, not one of interfaces alone.
	badServers := func(k string) string {
		if k == "TGSYNC_DNS_SERVERS" {
			return "not-a-server"
		}
		return ""
	}
	if _, err := domainBindings(cfg, badServers, ifs); err == nil {
		t.Error("a bad TGSYNC_DNS_SERVERS with DNS sources: no error")
	}
	ifsOnly := *cfg
	ifsOnly.Bindings = cfg.Bindings[1:3]
	if _, err := domainBindings(&ifsOnly, badServers, ifs); err != nil {
		t.Errorf("bindings of interfaces alone made a resolver: %v", err)
	}
	cfg.Bindings = cfg.Bindings[3:]
	if lister, ifs, err := interfaceSources(cfg, aws.Config{}); lister != nil || ifs != nil || err != nil {
		t.Fatalf("a DNS-only config: %v %v %v, want no EC2 client", lister, ifs, err)
	}
}
