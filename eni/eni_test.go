package eni_test

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// motoWorld is one test's VPC in moto with the interfaces of a load
// balancer, an NLB and an OpenSearch domain, each uniquely named (tests
// share the server, and descriptions are account-wide).
type motoWorld struct {
	vpc                *testenv.VPC
	lister             *eni.Lister
	calls              *elbv2.Calls
	alb, nlb, domain   string
	albARN             string
	albIDs, domainIDs  []string
	taggedIDs, idleIDs []string
}

func newMotoWorld(t *testing.T) *motoWorld {
	t.Helper()
	m := testenv.StartMoto(t)
	cfg := m.AWSConfig()
	w := &motoWorld{vpc: testenv.NewVPC(t, cfg, "10.1.0.0/16"), calls: &elbv2.Calls{}}
	cfg.APIOptions = append(cfg.APIOptions, elbv2.CountCalls(w.calls.Record))
	w.lister = eni.NewLister(ec2.NewFromConfig(cfg))
	subnets := w.vpc.Subnets(t, "10.1.1.0/24", "10.1.2.0/24")
	w.alb, w.nlb, w.domain = testenv.UniqueName("alb"), testenv.UniqueName("nlb"), testenv.UniqueName("logs")
	w.albARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/" + w.alb + "/50dc6c495c0c9188"
	albDesc := "ELB app/" + w.alb + "/50dc6c495c0c9188"
	for i, s := range subnets {
		w.albIDs = append(w.albIDs, w.vpc.Interface(t, testenv.Interface{Subnet: s, Description: albDesc,
			IPs: []string{[]string{"10.1.1.10", "10.1.2.10"}[i]}, InUse: true}))
	}
	// Created but not attached yet: not in use, not an address to register.
	w.idleIDs = append(w.idleIDs, w.vpc.Interface(t, testenv.Interface{Subnet: subnets[0], Description: albDesc, IPs: []string{"10.1.1.11"}}))
	// A load balancer whose name starts with the other's.
	w.vpc.Interface(t, testenv.Interface{Subnet: subnets[0], Description: "ELB app/" + w.alb + "x/0123456789abcdef", IPs: []string{"10.1.1.12"}, InUse: true})
	w.vpc.Interface(t, testenv.Interface{Subnet: subnets[1], Description: "ELB net/" + w.nlb + "/fedcba9876543210",
		IPs: []string{"10.1.2.20", "10.1.2.21"}, InUse: true})
	for i, ip := range []string{"10.1.1.30", "10.1.2.30", "10.1.1.31"} {
		w.domainIDs = append(w.domainIDs, w.vpc.Interface(t, testenv.Interface{Subnet: subnets[i%2], Description: "ES " + w.domain, IPs: []string{ip}, InUse: true}))
	}
	w.vpc.Interface(t, testenv.Interface{Subnet: subnets[0], Description: "ES " + w.domain + "-other", IPs: []string{"10.1.1.32"}, InUse: true})
	w.taggedIDs = append(w.taggedIDs, w.vpc.Interface(t, testenv.Interface{Subnet: subnets[1], Description: "proxy",
		IPs: []string{"10.1.2.40"}, Tags: map[string]string{"team": "search"}, InUse: true}))
	w.calls.Take()
	return w
}

// TestSourcesOnMoto resolves each kind of source over the wire against
// moto, which answers DescribeNetworkInterfaces with its filters.
func TestSourcesOnMoto(t *testing.T) {
	w := newMotoWorld(t)
	albIPs := map[string]string{"10.1.1.10": w.albIDs[0], "10.1.2.10": w.albIDs[1]}
	for _, tc := range []struct {
		name   string
		source func() (*eni.Source, error)
		want   map[string]string // address to interface; nil wants ErrNoneInUse
	}{
		{"ALB by name: in use only, not its namesake's", func() (*eni.Source, error) { return eni.LoadBalancer(w.lister, w.alb) }, albIPs},
		{"ALB by ARN", func() (*eni.Source, error) { return eni.LoadBalancer(w.lister, w.albARN) }, albIPs},
		{"NLB by name: every private address", func() (*eni.Source, error) { return eni.LoadBalancer(w.lister, w.nlb) }, nil},
		{"OpenSearch domain", func() (*eni.Source, error) { return eni.OpenSearch(w.lister, w.domain) },
			map[string]string{"10.1.1.30": w.domainIDs[0], "10.1.2.30": w.domainIDs[1], "10.1.1.31": w.domainIDs[2]}},
		{"any filters", func() (*eni.Source, error) {
			return eni.Matching(w.lister, eni.Filters{"vpc-id": {w.vpc.ID}, "tag:team": {"search"}})
		}, map[string]string{"10.1.2.40": w.taggedIDs[0]}},
		{"a load balancer without interfaces", func() (*eni.Source, error) { return eni.LoadBalancer(w.lister, "gone") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := tc.source()
			if err != nil {
				t.Fatal(err)
			}
			a, err := src.Resolve(testenv.Context(t, 30*time.Second))
			if n := w.calls.Take()["DescribeNetworkInterfaces"]; n != 1 {
				t.Errorf("%d DescribeNetworkInterfaces calls, want 1", n)
			}
			if tc.name == "NLB by name: every private address" {
				if err != nil || !slices.Equal(a.Addrs, []netip.Addr{netip.MustParseAddr("10.1.2.20"), netip.MustParseAddr("10.1.2.21")}) {
					t.Fatalf("NLB = %v, %v", a.Addrs, err)
				}
				return
			}
			if tc.want == nil {
				if !errors.Is(err, eni.ErrNoneInUse) {
					t.Fatalf("err = %v, want ErrNoneInUse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, addr := range a.Addrs {
				got[addr.String()] = a.Interfaces[addr]
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("answer %v, want %v", got, tc.want)
			}
			if !slices.IsSortedFunc(a.Addrs, netip.Addr.Compare) {
				t.Errorf("addresses not sorted: %v", a.Addrs)
			}
		})
	}
}

// TestBindingsShareOneCall: two bindings of one load balancer cost one
// DescribeNetworkInterfaces per run; another filter set costs its own.
func TestBindingsShareOneCall(t *testing.T) {
	w := newMotoWorld(t)
	const arnA, arnB = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/a/1", "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/b/2"
	byName, _ := eni.LoadBalancer(w.lister, w.alb)
	again, _ := eni.LoadBalancer(w.lister, w.alb)
	domain, _ := eni.OpenSearch(w.lister, w.domain)
	p := tgsync.DefaultPolicy()
	p.Shared = true
	r := &tgsync.Reconciler{Groups: mock.NewMemGroups(arnA, arnB), Store: mock.NewMemStore(), Bindings: []tgsync.Binding{
		{Name: "a", Source: byName, TargetGroupARN: arnA, Ports: []uint16{443}, Policy: p},
		{Name: "b", Source: again, TargetGroupARN: arnB, Ports: []uint16{443}, Policy: p},
		{Name: "c", Source: domain, TargetGroupARN: arnB, Ports: []uint16{443}, Policy: p},
	}}
	for run := 1; run <= 2; run++ {
		res, err := r.Run(testenv.Context(t, 30*time.Second), tgsync.RunOptions{})
		if err != nil || len(res.Failed()) > 0 {
			t.Fatalf("run %d: %v %v", run, err, res.Failed())
		}
		if n := w.calls.Take()["DescribeNetworkInterfaces"]; n != 2 {
			t.Fatalf("run %d: %d DescribeNetworkInterfaces calls, want 2: one per distinct filter set", run, n)
		}
	}
}

// pagedAPI stands in for EC2's paging, which moto does not do (it
// ignores MaxResults and returns every interface): it serves the
// interfaces pageSize at a time, with a NextToken until the last page.
type pagedAPI struct {
	ifaces []ec2types.NetworkInterface
	asked  []int32
}

func (p *pagedAPI) DescribeNetworkInterfaces(_ context.Context, in *ec2.DescribeNetworkInterfacesInput, _ ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	n := int(aws.ToInt32(in.MaxResults))
	p.asked = append(p.asked, int32(n))
	start := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		start = len(tok)
	}
	end := min(start+n, len(p.ifaces))
	out := &ec2.DescribeNetworkInterfacesOutput{NetworkInterfaces: p.ifaces[start:end]}
	if end < len(p.ifaces) {
		out.NextToken = aws.String(strings.Repeat("x", end))
	}
	return out, nil
}

func TestListPages(t *testing.T) {
	api := &pagedAPI{}
	for i := range 12 {
		api.ifaces = append(api.ifaces, ec2types.NetworkInterface{NetworkInterfaceId: aws.String("eni-0000000" + string(rune('a'+i))),
			Status: ec2types.NetworkInterfaceStatusInUse, Description: aws.String("ES logs"),
			PrivateIpAddress: aws.String(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}).String())})
	}
	src, err := eni.OpenSearch(eni.NewLister(api).WithPageSize(5), "logs")
	if err != nil {
		t.Fatal(err)
	}
	a, err := src.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Addrs) != 12 || !slices.Equal(api.asked, []int32{5, 5, 5}) {
		t.Fatalf("%d addresses in pages of %v, want 12 in 3 pages of 5", len(a.Addrs), api.asked)
	}
	api.asked = nil
	if _, err := eni.NewLister(api).List(context.Background(), eni.Filters{"description": {"ES logs"}}); err != nil || !slices.Equal(api.asked, []int32{eni.PageSize}) {
		t.Fatalf("default pages: asked %v, %v", api.asked, err)
	}
}
