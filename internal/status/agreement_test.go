package status_test

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
)

// TestAgreementAndInterfaces: a binding with a DNS name and interfaces
// shows which interface each address came from (from the state) and how
// DNS and the interfaces agreed in the last run, with a line on the page;
// a source that failed while the other answered is the run's source error.
func TestAgreementAndInterfaces(t *testing.T) {
	st := statustest.State()
	bs := st.Bindings["opensearch-dashboards"]
	a := *bs.Answer
	a.Interfaces = map[netip.Addr]string{netip.MustParseAddr("10.0.1.21"): "eni-0123456789abcdef0"}
	bs.Answer = &a
	run := &tgsync.RunResult{Started: statustest.At("03:09:00"), Duration: time.Second, State: st, Bindings: []tgsync.BindingResult{
		{Binding: "opensearch-dashboards", Source: statustest.OpenSearchSource, TargetGroupARN: statustest.OpenSearchARN,
			Answer: tgsync.Answer{Addrs: mock.Addrs("10.0.1.21", "10.0.2.22"),
				Agreement: &tgsync.Agreement{DNSOnly: mock.Addrs("10.0.9.9"), Interfaces: 3, SeenByDNS: 2}}},
		{Binding: "fargate-logstash", Source: statustest.FargateSource, TargetGroupARN: statustest.FargateARN,
			Answer: tgsync.Answer{Addrs: mock.Addrs("10.0.5.1"), Partial: errors.New("interfaces of logs failed: throttled")}},
	}}
	s := Build(Input{Bindings: statustest.Specs(), Run: run, Now: statustest.Now})
	os := findBinding(t, s, "opensearch-dashboards")
	if got := os.Answer.Interfaces["10.0.1.21"]; got != "eni-0123456789abcdef0" {
		t.Errorf("interfaces = %v", os.Answer.Interfaces)
	}
	g := os.Answer.Agreement
	if g == nil || g.InterfaceAddresses != 3 || g.SeenByDNS != 2 || !slices.Equal(g.DNSOnly, []string{"10.0.9.9"}) || g.Share != 2.0/3 {
		t.Fatalf("agreement = %+v", g)
	}
	if r := findBinding(t, s, "fargate-logstash").LastRun; r == nil || !strings.Contains(r.SourceError, "throttled") {
		t.Errorf("last run = %+v, want the failed source", r)
	}
	page, _ := RenderHTML(s, PageOptions{})
	for _, want := range []string{"DNS showed 2 of 3 network interface addresses (66.7%)", "<b>in DNS, on no interface:</b> <code>10.0.9.9</code>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Without a run (Lambda's page), there is no agreement to show.
	if a := findBinding(t, Build(Input{Bindings: statustest.Specs(), State: st, Now: statustest.Now}), "opensearch-dashboards").Answer; a.Agreement != nil {
		t.Errorf("agreement without a run: %+v", a.Agreement)
	}
}
