//go:build !tgsync_lambda

package obs

import "testing"

func TestMetricsAgreement(t *testing.T) {
	m := NewMetrics()
	m.Observe(agreeing(), nil, nil)
	fams := scrape(t, m)
	for name, want := range map[string]float64{"tgsync_dns_only_addresses": 1, "tgsync_interface_addresses_seen_by_dns_ratio": 0.5} {
		if got, ok := sample(fams, name, "binding=internal-alb-static-ip"); !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", name, got, ok, want)
		}
		if _, ok := sample(fams, name, "binding=opensearch-dashboards"); ok {
			t.Errorf("%s for a binding without interfaces", name)
		}
	}
	// A run in which a source failed leaves the last figures.
	m.Observe(run2(), nil, nil)
	if got, _ := sample(scrape(t, m), "tgsync_interface_addresses_seen_by_dns_ratio", "binding=internal-alb-static-ip"); got != 0.5 {
		t.Errorf("ratio after a run without agreement = %v, want it kept", got)
	}
}
