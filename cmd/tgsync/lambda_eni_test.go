package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/testenv"
	"github.com/tgsync/tgsync/store/memstore"
)

const (
	createSample = "../../eni/testdata/create-elb.json"
	deleteSample = "../../eni/testdata/delete.json"
)

// eniWorld is the Lambda function in the test process on real parts: two
// bindings whose sources read network interfaces in moto, over the real
// SDK, one of them beside a DNS name on a real DNS server, and a memory
// state store, on a clock the test moves.
type eniWorld struct {
	f       *lambdaFunc
	cfg     aws.Config
	dnsAddr string
	dnsName string
	vpc     *testenv.VPC
	subnet  string
	calls   *elbv2.Calls
	arn     map[string]string
	alb     string // the load balancer's name and description
	albDesc string
	domain  string
	now     time.Time
	waits   []time.Duration
	// onWait runs at each pause of the wait for a created interface.
	onWait func(i int)
	// onCall runs at each AWS call sent, with its operation.
	onCall func(op string)
}

func newENIWorld(t testing.TB) *eniWorld {
	t.Helper()
	m := testenv.StartMoto(t)
	cfg := m.AWSConfig()
	w := &eniWorld{vpc: testenv.NewVPC(t, cfg, "10.2.0.0/16"), calls: &elbv2.Calls{}, arn: map[string]string{},
		alb: testenv.UniqueName("web"), domain: testenv.UniqueName("logs"), now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	w.albDesc = "ELB app/" + w.alb + "/50dc6c495c0c9188"
	w.subnet = w.vpc.Subnets(t, "10.2.1.0/24")[0]
	cfg.APIOptions = append(cfg.APIOptions, elbv2.CountCalls(func(service, op string) {
		w.calls.Record(service, op)
		if w.onCall != nil {
			w.onCall(op)
		}
	}))
	w.cfg = cfg
	server := testenv.DNS(t)
	w.dnsAddr, w.dnsName = server.Addr(), w.alb+".lambda.internal"
	server.SetA(w.dnsName, 60, netip.MustParseAddr("10.2.1.10"))
	// Each source needs an interface in use to answer.
	w.create(t, w.albDesc, "10.2.1.10", true)
	w.create(t, "ES "+w.domain, "10.2.1.30", true)
	for _, b := range []string{"alb", "search"} {
		w.arn[b] = w.vpc.IPTargetGroup(t, types.ProtocolEnumHttps, lambdaTestPort)
	}
	w.f = w.newFunc(t, memstore.New())
	return w
}

// newFunc builds the function on new clients, as a cold start does, with
// the state in store.
func (w *eniWorld) newFunc(t testing.TB, store tgsync.Store) *lambdaFunc {
	t.Helper()
	lister := eni.NewLister(ec2.NewFromConfig(w.cfg))
	groups := elbv2.New(elasticloadbalancingv2.NewFromConfig(w.cfg), elbv2.Options{DescribeRate: 1000, ChangeRate: 1000})
	resolver, err := dns.New(dns.Config{Servers: []string{w.dnsAddr}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	albSrc, err := eni.LoadBalancer(lister, w.alb)
	if err != nil {
		t.Fatal(err)
	}
	osSrc, err := eni.OpenSearch(lister, w.domain)
	if err != nil {
		t.Fatal(err)
	}
	var bindings []tgsync.Binding
	for _, b := range []struct {
		name string
		src  tgsync.Source
	}{{"alb", tgsync.Union(resolver.Source(w.dnsName, dns.Families{dns.IPv4}), albSrc)}, {"search", osSrc}} {
		bindings = append(bindings, tgsync.Binding{Name: b.name, Source: b.src, TargetGroupARN: w.arn[b.name],
			Ports: []uint16{lambdaTestPort}, Policy: tgsync.DefaultPolicy()})
	}
	return &lambdaFunc{
		reconciler: &tgsync.Reconciler{Bindings: bindings, Groups: groups, Store: store, Now: func() time.Time { return w.now }},
		log:        obs.NewLogger(&syncBuffer{}, obs.FormatJSON, -8),
		calls:      w.calls,
		interfaces: map[string]*eni.Source{"alb": albSrc, "search": osSrc},
		lister:     lister,
		settle: settleOptions{budget: 20 * time.Second, first: time.Second, most: 4 * time.Second,
			wait: func(_ context.Context, d time.Duration) error {
				w.waits = append(w.waits, d)
				if w.onWait != nil {
					w.onWait(len(w.waits))
				}
				return nil
			}},
	}
}

// create makes an interface as the service does, attached (in use) or not.
func (w *eniWorld) create(t testing.TB, description, ip string, inUse bool) string {
	t.Helper()
	return w.vpc.Interface(t, testenv.Interface{Subnet: w.subnet, Description: description, IPs: []string{ip}, InUse: inUse})
}

// event is the CloudTrail event of a call on interface id: a creation
// describes it with its description and address, as the call's response
// does.
func (w *eniWorld) event(t testing.TB, sample, id, description, ip string) []byte {
	t.Helper()
	return changeEvent(t, sample, func(_, d map[string]any) {
		if req, ok := d["requestParameters"].(map[string]any); ok && sample == deleteSample {
			req["networkInterfaceId"] = id
			return
		}
		ni := d["responseElements"].(map[string]any)["networkInterface"].(map[string]any)
		ni["networkInterfaceId"], ni["description"], ni["privateIpAddress"] = id, description, ip
		ni["vpcId"], ni["subnetId"] = w.vpc.ID, w.subnet
		ni["privateIpAddressesSet"] = map[string]any{"item": []any{map[string]any{"privateIpAddress": ip, "primary": true}}}
	})
}

func (w *eniWorld) invoke(t testing.TB, payload []byte) (interfaceOutcome, string) {
	t.Helper()
	// A minute: the wait for a created interface keeps to its budget, not
	// to half the time left.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := w.f.Invoke(ctx, payload)
	if err != nil {
		return interfaceOutcome{}, err.Error()
	}
	var o interfaceOutcome
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return o, ""
}

func (w *eniWorld) members(t testing.TB, binding string) []string {
	t.Helper()
	return testenv.Members(t, w.vpc.ELB, w.arn[binding])
}

// ELB and EC2 calls since the last look.
func (w *eniWorld) takeCalls() map[string]int {
	return w.calls.Take()
}

// TestInterfaceEvents drives the CloudTrail events of interfaces through
// the handler against moto: a creation registers at once in the binding it
// belongs to, only there; a repeated or late event changes nothing twice;
// an event of another interface costs no AWS call; a deletion, matched by
// the state, counts a miss and removes nothing before the grace.
func TestInterfaceEvents(t *testing.T) {
	w := newENIWorld(t)
	// The first scheduled run registers what is there.
	if _, err := w.f.Invoke(context.Background(), []byte(scheduledEvent)); err != nil {
		t.Fatal(err)
	}
	if got := w.members(t, "alb"); !slices.Equal(got, []string{"10.2.1.10:443"}) {
		t.Fatalf("alb = %v", got)
	}
	w.takeCalls()
	w.now = w.now.Add(20 * time.Second)

	// ELB adds a node: its interface is attached by the time the event
	// arrives.
	id := w.create(t, w.albDesc, "10.2.1.11", true)
	created := w.event(t, createSample, id, w.albDesc, "10.2.1.11")
	o, errMsg := w.invoke(t, created)
	if errMsg != "" || !slices.Equal(o.Bindings, []string{"alb"}) || o.Waited != "" {
		t.Fatalf("create: %+v %s", o, errMsg)
	}
	if got := w.members(t, "alb"); !slices.Equal(got, []string{"10.2.1.10:443", "10.2.1.11:443"}) {
		t.Fatalf("alb after the event = %v, want the new node at once", got)
	}
	calls := w.takeCalls()
	if calls["RegisterTargets"] != 1 || calls["DescribeNetworkInterfaces"] != 1 {
		t.Fatalf("calls = %v, want 1 DescribeNetworkInterfaces and 1 RegisterTargets", calls)
	}

	// The same event again: nothing changes.
	w.now = w.now.Add(5 * time.Second)
	if o, errMsg = w.invoke(t, created); errMsg != "" || len(o.Bindings) != 1 {
		t.Fatalf("repeat: %+v %s", o, errMsg)
	}
	if calls := w.takeCalls(); calls["RegisterTargets"] != 0 || calls["DeregisterTargets"] != 0 {
		t.Fatalf("a repeated event changed the group: %v", calls)
	}

	// Another load balancer's interface, and a deletion nobody knows: no
	// AWS call at all (the state is in memory here; with S3, the deletion
	// costs one GET).
	for _, ev := range [][]byte{
		w.event(t, createSample, "eni-0aaaaaaaaaaaaaaaa", "ELB app/"+w.alb+"x/0123456789abcdef", "10.2.1.99"),
		w.event(t, deleteSample, "eni-0bbbbbbbbbbbbbbbb", "", ""),
	} {
		if o, errMsg = w.invoke(t, ev); errMsg != "" || len(o.Bindings) != 0 || o.Ignored == "" {
			t.Fatalf("unrelated event: %+v %s", o, errMsg)
		}
	}
	if calls := w.takeCalls(); len(calls) != 0 {
		t.Fatalf("events of other interfaces made calls: %v", calls)
	}

	// ELB removes the node: the deletion, which names only the interface,
	// finds the binding in the state; the target waits out its grace.
	w.vpc.DeleteInterface(t, id)
	deleted := w.event(t, deleteSample, id, "", "")
	w.now = w.now.Add(20 * time.Second)
	if o, errMsg = w.invoke(t, deleted); errMsg != "" || !slices.Equal(o.Bindings, []string{"alb"}) {
		t.Fatalf("delete: %+v %s", o, errMsg)
	}
	st, _, _ := w.f.reconciler.Store.Load(context.Background())
	miss := st.Bindings["alb"].Misses[tgsync.Target{IP: netip.MustParseAddr("10.2.1.11"), Port: lambdaTestPort}]
	if miss.Count != 1 || !slices.Contains(w.members(t, "alb"), "10.2.1.11:443") {
		t.Fatalf("after the deletion: miss %+v, members %v; want one miss and the target kept", miss, w.members(t, "alb"))
	}
	// The deletion again, within the same observation window: no second
	// miss.
	w.now = w.now.Add(3 * time.Second)
	w.invoke(t, deleted)
	st, _, _ = w.f.reconciler.Store.Load(context.Background())
	if m := st.Bindings["alb"].Misses[tgsync.Target{IP: netip.MustParseAddr("10.2.1.11"), Port: lambdaTestPort}]; m.Count != 1 {
		t.Fatalf("a repeated deletion counted miss %d", m.Count)
	}
	if calls := w.takeCalls(); calls["DeregisterTargets"] != 0 {
		t.Fatalf("a deletion event removed a target before its grace: %v", calls)
	}
	if got := w.members(t, "search"); !slices.Equal(got, []string{"10.2.1.30:443"}) {
		t.Fatalf("search = %v: another binding's group changed", got)
	}

	// Out of order: a node came and went, and its deletion arrives before
	// its creation. The deletion finds no binding; the creation finds the
	// interface gone, and registers nothing.
	gone := w.create(t, w.albDesc, "10.2.1.12", true)
	w.vpc.DeleteInterface(t, gone)
	w.now = w.now.Add(20 * time.Second)
	if o, errMsg = w.invoke(t, w.event(t, deleteSample, gone, "", "")); errMsg != "" || len(o.Bindings) != 0 {
		t.Fatalf("early deletion: %+v %s", o, errMsg)
	}
	if o, errMsg = w.invoke(t, w.event(t, createSample, gone, w.albDesc, "10.2.1.12")); errMsg != "" || o.Settled != settledGone {
		t.Fatalf("late creation: %+v %s, want it settled as gone", o, errMsg)
	}
	if slices.Contains(w.members(t, "alb"), "10.2.1.12:443") {
		t.Fatal("a late creation registered an interface that is gone")
	}
}

// TestInterfaceEventSettles: an interface the event announces before it
// is attached is registered once it is in use; one deleted first, or one
// never attached, is not, and the wait ends.
func TestInterfaceEventSettles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		at      func(w *eniWorld, t *testing.T, id string) func(i int)
		settled string
		waits   []time.Duration
		member  bool
	}{
		{"attached during the wait", func(w *eniWorld, t *testing.T, id string) func(int) {
			return func(i int) {
				if i == 2 {
					w.vpc.Attach(t, id, w.subnet)
				}
			}
		}, settledInUse, []time.Duration{time.Second, 2 * time.Second}, true},
		{"deleted before it was attached", func(w *eniWorld, t *testing.T, id string) func(int) {
			return func(i int) { w.vpc.DeleteInterface(t, id) }
		}, settledGone, []time.Duration{time.Second}, false},
		{"never attached", nil, settledTimeout, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newENIWorld(t)
			id := w.create(t, "ES "+w.domain, "10.2.1.31", false)
			if tc.at != nil {
				w.onWait = tc.at(w, t, id)
			}
			o, errMsg := w.invoke(t, w.event(t, createSample, id, "ES "+w.domain, "10.2.1.31"))
			if errMsg != "" || o.Settled != tc.settled {
				t.Fatalf("outcome %+v %s, want settled %q", o, errMsg, tc.settled)
			}
			if !slices.Equal(w.waits, tc.waits) {
				t.Errorf("waits %v, want %v", w.waits, tc.waits)
			}
			if got := slices.Contains(w.members(t, "search"), "10.2.1.31:443"); got != tc.member {
				t.Errorf("registered = %v, want %v", got, tc.member)
			}
		})
	}
}

func TestInterfaceEventsRefused(t *testing.T) {
	w := newENIWorld(t)
	for _, tc := range []struct {
		name    string
		payload []byte
		noIfs   bool
		want    string
	}{
		{"malformed interface ID", w.event(t, deleteSample, "i-0123", "", ""), false, "not an interface ID"},
		{"no binding reads interfaces", w.event(t, deleteSample, "eni-0bbbbbbbbbbbbbbbb", "", ""), true, "no binding reads network interfaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := *w.f
			if tc.noIfs {
				f.interfaces = nil
			}
			_, err := f.Invoke(context.Background(), tc.payload)
			var ie messages.InvokeResponse_Error
			if !errors.As(err, &ie) || ie.Type != errBadEvent || !strings.Contains(ie.Message, tc.want) {
				t.Fatalf("err = %v, want %s with %q", err, errBadEvent, tc.want)
			}
		})
	}
	if o, errMsg := w.invoke(t, changeEvent(t, "../../eni/testdata/create-dry-run.json", func(_, _ map[string]any) {})); errMsg != "" || !strings.Contains(o.Ignored, "failed") {
		t.Fatalf("a failed call: %+v %s", o, errMsg)
	}
}
