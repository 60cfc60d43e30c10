package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/testenv"
)

// e2ePort is the one port the end-to-end bindings use: moto keeps one
// target per IP, where AWS would keep one per ip:port.
const e2ePort = 443

// e2eWorld is what one end-to-end test runs the binary against: its own
// VPC and ip target group in the shared moto server, its own DNS server
// and its own directory for config and state.
type e2eWorld struct {
	moto    *testenv.Moto
	elb     *elasticloadbalancingv2.Client
	arn     string
	dns     *dnstest.Server
	name    string // the DNS name the binding follows
	binding string
	dir     string
	state   string
	env     []string
}

func newE2EWorld(t *testing.T) *e2eWorld {
	t.Helper()
	m := testenv.StartMoto(t)
	cfg := m.AWSConfig()
	vpc := testenv.NewVPC(t, cfg, "10.0.0.0/16")
	w := &e2eWorld{moto: m, elb: vpc.ELB, arn: vpc.IPTargetGroup(t, types.ProtocolEnumHttps, e2ePort), dir: t.TempDir()}
	w.dns = testenv.DNS(t)
	w.binding = testenv.UniqueName("opensearch")
	w.name = w.binding + ".e2e.internal"
	w.state = filepath.Join(w.dir, "state.json")
	w.env = testenv.ChildEnv(t, m.Env()...)
	return w
}

// configOpts are what a test varies in the config it writes.
type configOpts struct {
	afterMisses int
	dnsTimeout  time.Duration
	arn         string // default: the world's target group
}

// writeConfig writes a config for one binding on e2ePort and returns its
// path. Its grace counts misses alone (afterDuration 0) and removals do not
// wait for new targets' first health check (moto makes them healthy at
// once), so that each run of the test is one step of the schedule.
func (w *e2eWorld) writeConfig(t *testing.T, file string, o configOpts) string {
	t.Helper()
	if o.afterMisses == 0 {
		o.afterMisses = 2
	}
	if o.dnsTimeout == 0 {
		o.dnsTimeout = 300 * time.Millisecond
	}
	if o.arn == "" {
		o.arn = w.arn
	}
	yaml := fmt.Sprintf(`dns:
  servers: [%q]
  timeout: %s
state:
  file: %q
bindings:
  - name: %s
    source:
      dns: %s
    targetGroupArn: %s
    ports: [%d]
    deregister:
      afterMisses: %d
      afterDuration: 0s
      waitForHealthy: 0s
`, w.dns.Addr(), o.dnsTimeout, w.state, w.binding, w.name, o.arn, e2ePort, o.afterMisses)
	path := filepath.Join(w.dir, file)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// answer makes the DNS name answer ips, with no fault.
func (w *e2eWorld) answer(ips ...string) {
	addrs := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		addrs[i] = netip.MustParseAddr(ip)
	}
	w.dns.SetFault(w.name, dnstest.FaultNone)
	w.dns.SetA(w.name, 60, addrs...)
}

// group describes the target group with the SDK and returns its members'
// IPs, sorted, after checking that every one is on e2ePort.
func (w *e2eWorld) group(t *testing.T) []string {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	out, err := w.elb.DescribeTargetHealth(ctx, &elasticloadbalancingv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(w.arn)})
	if err != nil {
		t.Fatalf("describe target health: %v", err)
	}
	var ips []string
	for _, d := range out.TargetHealthDescriptions {
		if p := aws.ToInt32(d.Target.Port); p != e2ePort {
			t.Errorf("target %s on port %d, want %d", aws.ToString(d.Target.Id), p, e2ePort)
		}
		ips = append(ips, aws.ToString(d.Target.Id))
	}
	slices.Sort(ips)
	return ips
}

// misses reads the state file and returns the miss counts of the binding
// by IP.
func (w *e2eWorld) misses(t *testing.T) map[string]int {
	t.Helper()
	data, err := os.ReadFile(w.state)
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	st, err := tgsync.DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	if b := st.Bindings[w.binding]; b != nil {
		for target, m := range b.Misses {
			out[target.IP.String()] = m.Count
		}
	}
	return out
}

// run runs the binary on config with the world's environment.
func (w *e2eWorld) run(t *testing.T, config string, args ...string) result {
	t.Helper()
	return runTgsync(t, w.env, append([]string{"--config", config}, args...)...)
}

func sorted(ips []string) []string {
	out := slices.Clone(ips)
	slices.Sort(out)
	return out
}
