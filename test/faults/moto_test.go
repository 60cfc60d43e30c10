package faults

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awselb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/internal/testenv"
)

// motoBackend is target groups on moto, reached through the real elbv2
// adapter and aws-sdk-go-v2. Moto's targets are healthy at once, leave at
// once (no draining) and one IP holds one port, so plays on it use one
// port.
type motoBackend struct {
	*elbv2.Adapter
	vpc *testenv.VPC
}

func newMotoBackend(t testing.TB) *motoBackend {
	t.Helper()
	cfg := testenv.StartMoto(t).AWSConfig()
	return &motoBackend{
		Adapter: elbv2.NewFromConfig(cfg, elbv2.Unlimited()),
		vpc:     testenv.NewVPC(t, cfg, "10.0.0.0/16"),
	}
}

func (m *motoBackend) kind() string { return "moto" }

func (m *motoBackend) create(t testing.TB, _ string) string {
	t.Helper()
	return m.vpc.IPTargetGroup(t, types.ProtocolEnumHttps, 443)
}

func (m *motoBackend) remove(t testing.TB, arn string) {
	t.Helper()
	if _, err := m.vpc.ELB.DeleteTargetGroup(testenv.Context(t, 30*time.Second), &awselb.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)}); err != nil {
		t.Fatalf("delete target group: %v", err)
	}
}

func (m *motoBackend) seed(t testing.TB, arn string, ts ...tgsync.Target) {
	t.Helper()
	for _, tg := range ts {
		testenv.Register(t, m.vpc.ELB, arn, int32(tg.Port), tg.IP.String())
	}
}

func (m *motoBackend) view(t testing.TB, arn string) []tgsync.ObservedTarget {
	t.Helper()
	out, err := m.vpc.ELB.DescribeTargetHealth(testenv.Context(t, 30*time.Second), &awselb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	var nf *types.TargetGroupNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	var obs []tgsync.ObservedTarget
	for _, d := range out.TargetHealthDescriptions {
		ip, err := netip.ParseAddr(aws.ToString(d.Target.Id))
		if err != nil {
			t.Fatalf("moto target %q: %v", aws.ToString(d.Target.Id), err)
		}
		o := tgsync.ObservedTarget{Target: tgsync.Target{IP: ip, Port: uint16(aws.ToInt32(d.Target.Port))}}
		if d.TargetHealth != nil {
			o.State = tgsync.HealthState(d.TargetHealth.State)
		}
		obs = append(obs, o)
	}
	return obs
}

// changes compares the group before and after a run: moto keeps no
// history, and nothing but the reconciler changes the group in a step.
func (m *motoBackend) changes(_ string, _ time.Time, before, after []tgsync.ObservedTarget) (reg, dereg []tgsync.Target) {
	in := func(obs []tgsync.ObservedTarget) map[tgsync.Target]bool {
		s := map[tgsync.Target]bool{}
		for _, o := range obs {
			if !o.State.Draining() {
				s[o.Target] = true
			}
		}
		return s
	}
	b, a := in(before), in(after)
	for t := range a {
		if !b[t] {
			reg = append(reg, t)
		}
	}
	for t := range b {
		if !a[t] {
			dereg = append(dereg, t)
		}
	}
	return reg, dereg
}

// TestTargetGroupNotFound deletes one binding's target group while another
// binding on the same reconciler moves, as a stack update that replaced
// the group would: the lost binding fails every run with
// TargetGroupNotFound and changes nothing; the other goes on (one
// binding's failure never stops the others). The fault clears when the
// binding is pointed at the new group, which it fills in one run.
func TestTargetGroupNotFound(t *testing.T) {
	for _, world := range []string{"moto", "in-memory"} {
		t.Run(world, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			s := setup{bindings: 2}
			if world == "moto" {
				s.moto, s.ports, s.runTimeout = true, []uint16{443}, 10*time.Second
			}
			e := newEnv(t, s)
			e.move(nodesBefore)
			e.settled()
			lost, other := e.bindings[0], e.bindings[1]
			e.elb.remove(t, lost.arn)
			const runs = 3
			f := fault{name: "TargetGroupNotFound"}
			for i := 1; i <= runs; i++ {
				if i == 1 {
					e.move(nodesAfter)
				}
				o := e.step(&f)
				var nf *types.TargetGroupNotFoundException
				if err := o.err(lost.name); !errors.As(err, &nf) && !apiCode("TargetGroupNotFound")(err) {
					t.Errorf("fault run %d: %s failed with %v, want TargetGroupNotFound", i, lost.name, err)
				}
				for _, r := range o.of(other.name) {
					if r.Err != nil {
						t.Errorf("fault run %d: %s failed too: %v", i, other.name, r.Err)
					}
				}
			}
			e.retarget(lost, e.elb.create(t, "faults-new"))
			converged, bound := e.recover(0)
			state := e.checkState()
			record(t, e, row{area: "ELB", fault: "TargetGroupNotFound (group replaced), beside a working binding", world: world,
				move: moveDuring.String(), runs: runs, converge: converged, bound: bound, state: state, took: time.Since(began)})
		})
	}
}
