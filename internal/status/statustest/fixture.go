// Package statustest holds the status fixture that the tests of
// internal/status and internal/web share: a night in the life of three
// bindings, written as the stored state and the DescribeTargetHealth
// answers a Lambda would read. An OpenSearch domain whose old nodes are
// leaving (one kept back by the removal budget, one still counting down,
// one draining), an internal ALB on two ports sharing its NLB group with a
// target it does not own and answering a public address it refuses, and a
// Fargate service whose DNS fails.
package statustest

import (
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
	"github.com/tgsync/tgsync/internal/status"
)

// Now is when the fixture's status is built.
var Now = time.Date(2026, 11, 21, 3, 10, 0, 0, time.UTC)

// The bindings' target groups and sources, and the reasons and errors the
// page must show in full.
const (
	OpenSearchARN      = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5c"
	ALBARN             = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/alb-static/73e2d6bc24d8a067"
	FargateARN         = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/logstash/0f1e2d3c4b5a6978"
	OpenSearchSource   = "vpc-logs-abc123.ap-northeast-1.es.amazonaws.com"
	ALBSource          = "internal-app-1234567890.us-east-1.elb.amazonaws.com"
	FargateSource      = "logstash.service.internal"
	ReasonMaxFraction  = "missed by 4 consecutive answers for " + OpenSearchSource + " over 5m0s, but this run already removes 1 of 5 registered targets (maxFraction 0.5); next run"
	ReasonNotAllowed   = "203.0.113.7 from " + ALBSource + " is outside the allowed ranges [10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 fc00::/7]; not registering it"
	ReasonSourceFailed = "source " + FargateSource + " failed: SERVFAIL from 10.2.0.2:53; removing nothing and counting no misses"
	FargateError       = "binding fargate-logstash: source " + FargateSource + ": SERVFAIL from 10.2.0.2:53"
	DrainTask          = "arn:aws:ecs:us-east-1:111122223333:task/logstash/9f8e7d6c5b4a"
	DrainReason        = "task " + DrainTask + " is stopping with stopCode SpotInterruption (lastStatus RUNNING, event version 7); deregistering it before it stops"
)

// At is a time of the fixture's night, hh:mm:ss in UTC.
func At(hhmm string) time.Time {
	t, err := time.Parse("15:04:05", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 11, 21, t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// RefusingKey is how the reconciler remembers an ongoing refusal; the test
// of Build against a real reconciler run checks that it still is.
func RefusingKey(action tgsync.Action, target, rule string) string {
	f := tgsync.Refusal{Action: action, Rule: rule}
	if target != "" {
		f.Target = mock.Target(target)
	}
	return f.Key()
}

// Specs are the three bindings.
func Specs() []status.BindingSpec {
	shared := tgsync.DefaultPolicy()
	shared.Shared = true
	return []status.BindingSpec{
		{Name: "opensearch-dashboards", Source: OpenSearchSource, TargetGroupARN: OpenSearchARN, Ports: []uint16{443}, Policy: tgsync.DefaultPolicy()},
		{Name: "internal-alb-static-ip", Source: ALBSource, TargetGroupARN: ALBARN, Ports: []uint16{80, 443}, Policy: shared},
		{Name: "fargate-logstash", Source: FargateSource, TargetGroupARN: FargateARN, Ports: []uint16{5044}, Policy: tgsync.DefaultPolicy()},
	}
}

// State is the stored state the Lambda reads.
func State() *tgsync.State {
	st := tgsync.NewState()
	st.Bindings["opensearch-dashboards"] = &tgsync.BindingState{
		Answer: &tgsync.SourceAnswer{Addrs: mock.Addrs("10.0.1.21", "10.0.2.22", "10.0.3.23"), TTL: tgsync.Duration(60 * time.Second), At: At("03:04:00")},
		Misses: map[tgsync.Target]tgsync.Miss{
			mock.Target("10.0.1.11:443"): {Count: 4, Since: At("03:05:00")},
			mock.Target("10.0.2.12:443"): {Count: 2, Since: At("03:08:00")},
		},
		Refusing: []string{RefusingKey(tgsync.ActionDeregister, "10.0.1.11:443", tgsync.RuleMaxFraction)},
		History: []tgsync.Event{
			{Time: At("03:00:00"), Action: tgsync.ActionRegister, Target: "10.0.1.11:443", Reason: "in the answer for " + OpenSearchSource + " and not in the target group"},
			{Time: At("03:00:00"), Action: tgsync.ActionRegister, Target: "10.0.2.12:443", Reason: "in the answer for " + OpenSearchSource + " and not in the target group"},
			{Time: At("03:00:00"), Action: tgsync.ActionRegister, Target: "10.0.3.13:443", Reason: "in the answer for " + OpenSearchSource + " and not in the target group"},
			{Time: At("03:02:00"), Action: tgsync.ActionRegister, Target: "10.0.1.21:443", Reason: "in the answer for " + OpenSearchSource + " and not in the target group"},
			{Time: At("03:02:00"), Action: tgsync.ActionRegister, Target: "10.0.2.22:443", Reason: "in the answer for " + OpenSearchSource + " and not in the target group"},
			{Time: At("03:05:00"), Action: tgsync.ActionDeregister, Refused: true, Rule: tgsync.RuleSourceFailed,
				Reason: "source " + OpenSearchSource + " failed: SERVFAIL from 10.0.0.2:53; removing nothing and counting no misses"},
			{Time: At("03:06:00"), Action: tgsync.ActionRegister, Target: "10.0.3.23:443", Reason: "in the answer for " + OpenSearchSource + " but draining; registering it again"},
			{Time: At("03:09:00"), Action: tgsync.ActionDeregister, Target: "10.0.3.13:443", Reason: "missed by 4 consecutive answers for " + OpenSearchSource + " over 4m0s"},
			{Time: At("03:09:00"), Action: tgsync.ActionDeregister, Target: "10.0.1.11:443", Refused: true, Rule: tgsync.RuleMaxFraction, Reason: ReasonMaxFraction},
		},
		Trend: tgsync.Trend{
			{At: At("00:10:00"), Desired: 3, Registered: 3, Healthy: 3, Answer: true},
			{At: At("03:02:00"), Desired: 5, Registered: 5, Healthy: 3, Answer: true},
			{At: At("03:03:00"), Desired: 5, Registered: 5, Healthy: 5},
			{At: At("03:04:00"), Desired: 3, Registered: 5, Healthy: 5, Answer: true},
			{At: At("03:09:00"), Desired: 3, Registered: 5, Healthy: 2},
		},
	}
	st.Bindings["internal-alb-static-ip"] = &tgsync.BindingState{
		Answer: &tgsync.SourceAnswer{Addrs: mock.Addrs("10.1.1.5", "10.1.2.6", "203.0.113.7"), TTL: tgsync.Duration(60 * time.Second), At: At("03:07:30")},
		Owned: map[tgsync.Target]time.Time{
			mock.Target("10.1.1.5:80"): At("02:00:00"), mock.Target("10.1.1.5:443"): At("02:00:00"), mock.Target("10.1.2.6:80"): At("03:07:30"),
		},
		Refusing: []string{
			RefusingKey(tgsync.ActionRegister, "203.0.113.7:443", tgsync.RuleNotAllowed),
			RefusingKey(tgsync.ActionRegister, "203.0.113.7:80", tgsync.RuleNotAllowed),
		},
		History: []tgsync.Event{
			{Time: At("03:07:30"), Action: tgsync.ActionRegister, Target: "10.1.2.6:80", Reason: "in the answer for " + ALBSource + " and not in the target group"},
			{Time: At("03:07:30"), Action: tgsync.ActionRegister, Target: "203.0.113.7:80", Refused: true, Rule: tgsync.RuleNotAllowed, Reason: ReasonNotAllowed},
			{Time: At("03:07:30"), Action: tgsync.ActionRegister, Target: "203.0.113.7:443", Refused: true, Rule: tgsync.RuleNotAllowed,
				Reason: "203.0.113.7 from " + ALBSource + " is outside the allowed ranges; <script>alert(1)</script> not registering it"},
		},
		Trend: tgsync.Trend{
			{At: At("02:00:00"), Desired: 2, Registered: 3, Healthy: 3, Answer: true},
			{At: At("03:07:30"), Desired: 4, Registered: 4, Healthy: 3, Answer: true},
		},
		LastError: "binding internal-alb-static-ip: register 10.1.2.6:443: ValidationError: The IP address 10.1.2.6 is outside the VPC <b>range</b>",
	}
	st.Bindings["fargate-logstash"] = &tgsync.BindingState{
		Answer:    &tgsync.SourceAnswer{Addrs: mock.Addrs("10.2.0.10", "10.2.0.11"), TTL: tgsync.Duration(10 * time.Second), At: At("02:40:00")},
		LastError: FargateError,
		Refusing:  []string{RefusingKey(tgsync.ActionDeregister, "", tgsync.RuleSourceFailed)},
		History: []tgsync.Event{
			{Time: At("03:08:00"), Action: tgsync.ActionDeregister, Refused: true, Rule: tgsync.RuleSourceFailed, Reason: ReasonSourceFailed},
		},
		Trend: tgsync.Trend{
			{At: At("02:40:00"), Desired: 2, Registered: 2, Healthy: 2, Answer: true},
			{At: At("03:01:00"), Desired: 2, Registered: 2, Healthy: 1},
		},
	}
	st.DrainLog = []tgsync.DrainEntry{{At: At("02:55:00"), Task: DrainTask, Version: 7, TargetGroupARN: FargateARN,
		Deregistered: []string{"10.2.0.9:5044"}, Reason: DrainReason}}
	return st
}

// Observed is one DescribeTargetHealth per group.
func Observed() map[string][]tgsync.ObservedTarget {
	return map[string][]tgsync.ObservedTarget{
		OpenSearchARN: {
			{Target: mock.Target("10.0.1.11:443"), AvailabilityZone: "ap-northeast-1a", State: tgsync.HealthUnhealthy, Reason: "Target.Timeout", Description: "Request timed out"},
			{Target: mock.Target("10.0.2.12:443"), AvailabilityZone: "ap-northeast-1c", State: tgsync.HealthUnhealthy, Reason: "Target.ResponseCodeMismatch", Description: "Health checks failed with these codes: [502]"},
			{Target: mock.Target("10.0.3.13:443"), AvailabilityZone: "ap-northeast-1d", State: tgsync.HealthDraining, Reason: "Target.DeregistrationInProgress", Description: "Target deregistration is in progress"},
			{Target: mock.Target("10.0.1.21:443"), AvailabilityZone: "ap-northeast-1a", State: tgsync.HealthHealthy},
			{Target: mock.Target("10.0.2.22:443"), AvailabilityZone: "ap-northeast-1c", State: tgsync.HealthHealthy},
			{Target: mock.Target("10.0.3.23:443"), AvailabilityZone: "ap-northeast-1d", State: tgsync.HealthInitial, Reason: "Elb.InitialHealthChecking", Description: "Initial health checks in progress"},
		},
		ALBARN: {
			{Target: mock.Target("10.1.1.5:80"), AvailabilityZone: "us-east-1a", State: tgsync.HealthHealthy},
			{Target: mock.Target("10.1.1.5:443"), AvailabilityZone: "us-east-1a", State: tgsync.HealthHealthy},
			{Target: mock.Target("10.1.2.6:80"), AvailabilityZone: "us-east-1b", State: tgsync.HealthInitial, Reason: "Elb.RegistrationInProgress", Description: "Target registration is in progress"},
			{Target: mock.Target("10.1.9.9:80"), AvailabilityZone: "us-east-1b", State: tgsync.HealthHealthy},
		},
		FargateARN: {
			{Target: mock.Target("10.2.0.10:5044"), AvailabilityZone: "us-east-1a", State: tgsync.HealthHealthy},
			{Target: mock.Target("10.2.0.11:5044"), AvailabilityZone: "us-east-1c", State: tgsync.HealthUnused, Reason: "Target.NotInUse", Description: "Target group is not configured to receive traffic from the load balancer"},
		},
	}
}

// Status is the status a Lambda would build for the fixture.
func Status() status.Status {
	return status.Build(status.Input{Bindings: Specs(), State: State(), Observed: Observed(), ObservedAt: At("03:09:58"), Now: Now})
}
