package web

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// The fixture is a night in the life of three bindings, written as the
// stored state and the DescribeTargetHealth answers a Lambda would read:
// an OpenSearch domain whose old nodes are leaving (one kept back by the
// removal budget, one still counting down, one draining), an internal ALB
// on two ports sharing its NLB group with a target it does not own and
// answering a public address it refuses, and a Fargate service whose DNS
// fails.
var (
	fixNow = time.Date(2026, 11, 21, 3, 10, 0, 0, time.UTC)

	arnOS     = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5c"
	arnALB    = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/alb-static/73e2d6bc24d8a067"
	arnFarg   = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/logstash/0f1e2d3c4b5a6978"
	srcOS     = "vpc-logs-abc123.ap-northeast-1.es.amazonaws.com"
	srcALB    = "internal-app-1234567890.us-east-1.elb.amazonaws.com"
	srcFarg   = "logstash.service.internal"
	reasonMax = "missed by 4 consecutive answers for " + srcOS + " over 5m0s, but this run already removes 1 of 5 registered targets (maxFraction 0.5); next run"
	reasonPub = "203.0.113.7 from " + srcALB + " is outside the allowed ranges [10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 fc00::/7]; not registering it"
	reasonSF  = "source " + srcFarg + " failed: SERVFAIL from 10.2.0.2:53; removing nothing and counting no misses"
	errFarg   = "binding fargate-logstash: source " + srcFarg + ": SERVFAIL from 10.2.0.2:53"
)

func at(hhmm string) time.Time {
	t, err := time.Parse("15:04:05", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 11, 21, t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

func tgt(s string) tgsync.Target {
	t, err := tgsync.ParseTarget(s)
	if err != nil {
		panic(err)
	}
	return t
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// refusingKey is how the reconciler remembers an ongoing refusal; the test
// of Build against a real reconciler run checks that it still is.
func refusingKey(action tgsync.Action, target, rule string) string {
	f := tgsync.Refusal{Action: action, Rule: rule}
	if target != "" {
		f.Target = tgt(target)
	}
	return f.Key()
}

func fixSpecs() []BindingSpec {
	shared := tgsync.DefaultPolicy()
	shared.Shared = true
	return []BindingSpec{
		{Name: "opensearch-dashboards", Source: srcOS, TargetGroupARN: arnOS, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()},
		{Name: "internal-alb-static-ip", Source: srcALB, TargetGroupARN: arnALB, Ports: []uint16{80, 443}, Policy: shared},
		{Name: "fargate-logstash", Source: srcFarg, TargetGroupARN: arnFarg, Ports: []uint16{5044}, Policy: tgsync.DefaultPolicy()},
	}
}

func fixState() *tgsync.State {
	st := tgsync.NewState()
	st.Bindings["opensearch-dashboards"] = &tgsync.BindingState{
		Answer: &tgsync.SourceAnswer{Addrs: addrs("10.0.1.21", "10.0.2.22", "10.0.3.23"), TTL: tgsync.Duration(60 * time.Second), At: at("03:04:00")},
		Misses: map[tgsync.Target]tgsync.Miss{
			tgt("10.0.1.11:443"): {Count: 4, Since: at("03:05:00")},
			tgt("10.0.2.12:443"): {Count: 2, Since: at("03:08:00")},
		},
		Refusing: []string{refusingKey(tgsync.ActionDeregister, "10.0.1.11:443", tgsync.RuleMaxFraction)},
		History: []tgsync.Event{
			{Time: at("03:00:00"), Action: tgsync.ActionRegister, Target: "10.0.1.11:443", Reason: "in the answer for " + srcOS + " and not in the target group"},
			{Time: at("03:00:00"), Action: tgsync.ActionRegister, Target: "10.0.2.12:443", Reason: "in the answer for " + srcOS + " and not in the target group"},
			{Time: at("03:00:00"), Action: tgsync.ActionRegister, Target: "10.0.3.13:443", Reason: "in the answer for " + srcOS + " and not in the target group"},
			{Time: at("03:02:00"), Action: tgsync.ActionRegister, Target: "10.0.1.21:443", Reason: "in the answer for " + srcOS + " and not in the target group"},
			{Time: at("03:02:00"), Action: tgsync.ActionRegister, Target: "10.0.2.22:443", Reason: "in the answer for " + srcOS + " and not in the target group"},
			{Time: at("03:05:00"), Action: tgsync.ActionDeregister, Refused: true, Rule: tgsync.RuleSourceFailed,
				Reason: "source " + srcOS + " failed: SERVFAIL from 10.0.0.2:53; removing nothing and counting no misses"},
			{Time: at("03:06:00"), Action: tgsync.ActionRegister, Target: "10.0.3.23:443", Reason: "in the answer for " + srcOS + " but draining; registering it again"},
			{Time: at("03:09:00"), Action: tgsync.ActionDeregister, Target: "10.0.3.13:443", Reason: "missed by 4 consecutive answers for " + srcOS + " over 4m0s"},
			{Time: at("03:09:00"), Action: tgsync.ActionDeregister, Target: "10.0.1.11:443", Refused: true, Rule: tgsync.RuleMaxFraction, Reason: reasonMax},
		},
	}
	st.Bindings["internal-alb-static-ip"] = &tgsync.BindingState{
		Answer: &tgsync.SourceAnswer{Addrs: addrs("10.1.1.5", "10.1.2.6", "203.0.113.7"), TTL: tgsync.Duration(60 * time.Second), At: at("03:07:30")},
		Owned: map[tgsync.Target]time.Time{
			tgt("10.1.1.5:80"): at("02:00:00"), tgt("10.1.1.5:443"): at("02:00:00"), tgt("10.1.2.6:80"): at("03:07:30"),
		},
		Refusing: []string{
			refusingKey(tgsync.ActionRegister, "203.0.113.7:443", tgsync.RuleNotAllowed),
			refusingKey(tgsync.ActionRegister, "203.0.113.7:80", tgsync.RuleNotAllowed),
		},
		History: []tgsync.Event{
			{Time: at("03:07:30"), Action: tgsync.ActionRegister, Target: "10.1.2.6:80", Reason: "in the answer for " + srcALB + " and not in the target group"},
			{Time: at("03:07:30"), Action: tgsync.ActionRegister, Target: "203.0.113.7:80", Refused: true, Rule: tgsync.RuleNotAllowed, Reason: reasonPub},
			{Time: at("03:07:30"), Action: tgsync.ActionRegister, Target: "203.0.113.7:443", Refused: true, Rule: tgsync.RuleNotAllowed,
				Reason: "203.0.113.7 from " + srcALB + " is outside the allowed ranges; <script>alert(1)</script> not registering it"},
		},
		LastError: "binding internal-alb-static-ip: register 10.1.2.6:443: ValidationError: The IP address 10.1.2.6 is outside the VPC <b>range</b>",
	}
	st.Bindings["fargate-logstash"] = &tgsync.BindingState{
		Answer:    &tgsync.SourceAnswer{Addrs: addrs("10.2.0.10", "10.2.0.11"), TTL: tgsync.Duration(10 * time.Second), At: at("02:40:00")},
		LastError: errFarg,
		Refusing:  []string{refusingKey(tgsync.ActionDeregister, "", tgsync.RuleSourceFailed)},
		History: []tgsync.Event{
			{Time: at("03:08:00"), Action: tgsync.ActionDeregister, Refused: true, Rule: tgsync.RuleSourceFailed, Reason: reasonSF},
		},
	}
	return st
}

// fixObserved is one DescribeTargetHealth per group.
func fixObserved() map[string][]tgsync.ObservedTarget {
	return map[string][]tgsync.ObservedTarget{
		arnOS: {
			{Target: tgt("10.0.1.11:443"), AvailabilityZone: "ap-northeast-1a", State: tgsync.HealthUnhealthy, Reason: "Target.Timeout", Description: "Request timed out"},
			{Target: tgt("10.0.2.12:443"), AvailabilityZone: "ap-northeast-1c", State: tgsync.HealthUnhealthy, Reason: "Target.ResponseCodeMismatch", Description: "Health checks failed with these codes: [502]"},
			{Target: tgt("10.0.3.13:443"), AvailabilityZone: "ap-northeast-1d", State: tgsync.HealthDraining, Reason: "Target.DeregistrationInProgress", Description: "Target deregistration is in progress"},
			{Target: tgt("10.0.1.21:443"), AvailabilityZone: "ap-northeast-1a", State: tgsync.HealthHealthy},
			{Target: tgt("10.0.2.22:443"), AvailabilityZone: "ap-northeast-1c", State: tgsync.HealthHealthy},
			{Target: tgt("10.0.3.23:443"), AvailabilityZone: "ap-northeast-1d", State: tgsync.HealthInitial, Reason: "Elb.InitialHealthChecking", Description: "Initial health checks in progress"},
		},
		arnALB: {
			{Target: tgt("10.1.1.5:80"), AvailabilityZone: "us-east-1a", State: tgsync.HealthHealthy},
			{Target: tgt("10.1.1.5:443"), AvailabilityZone: "us-east-1a", State: tgsync.HealthHealthy},
			{Target: tgt("10.1.2.6:80"), AvailabilityZone: "us-east-1b", State: tgsync.HealthInitial, Reason: "Elb.RegistrationInProgress", Description: "Target registration is in progress"},
			{Target: tgt("10.1.9.9:80"), AvailabilityZone: "us-east-1b", State: tgsync.HealthHealthy},
		},
		arnFarg: {
			{Target: tgt("10.2.0.10:5044"), AvailabilityZone: "us-east-1a", State: tgsync.HealthHealthy},
			{Target: tgt("10.2.0.11:5044"), AvailabilityZone: "us-east-1c", State: tgsync.HealthUnused, Reason: "Target.NotInUse", Description: "Target group is not configured to receive traffic from the load balancer"},
		},
	}
}

// fixStatus is the status a Lambda would build for the fixture.
func fixStatus(t testing.TB) Status {
	t.Helper()
	return Build(Input{Bindings: fixSpecs(), State: fixState(), Observed: fixObserved(), ObservedAt: at("03:09:58"), Now: fixNow})
}
