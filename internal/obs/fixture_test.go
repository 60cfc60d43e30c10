package obs

import (
	"errors"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// Two runs of three bindings, as the reconciler reports them: in the first
// the OpenSearch binding registers a new node, deregisters an old one and
// is refused a second removal; the internal ALB answers a public address
// that is refused; the Fargate service's DNS fails. In the second the
// OpenSearch DNS fails too.
var (
	t0 = time.Date(2026, 11, 21, 3, 9, 0, 0, time.UTC)

	srcOS   = "vpc-logs-abc123.ap-northeast-1.es.amazonaws.com"
	srcALB  = "internal-app-1234567890.us-east-1.elb.amazonaws.com"
	srcFarg = "logstash.service.internal"
	arnOS   = "arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5c"
	arnALB  = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/alb-static/73e2d6bc24d8a067"
	arnFarg = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/logstash/0f1e2d3c4b5a6978"
)

func sourceFailed(name, src, arn string, d time.Duration) tgsync.BindingResult {
	err := errors.New("SERVFAIL from 10.2.0.2:53")
	return tgsync.BindingResult{Binding: name, Source: src, TargetGroupARN: arn, SourceErr: err,
		Err:      errors.New("binding " + name + ": source " + src + ": " + err.Error()),
		Plan:     tgsync.Decision{Refused: []tgsync.Refusal{{Action: tgsync.ActionDeregister, Rule: tgsync.RuleSourceFailed, Reason: "source failed"}}},
		Duration: d}
}

func run1() tgsync.RunResult {
	return tgsync.RunResult{
		Started: t0, Duration: 1500 * time.Millisecond, StateWritten: true,
		Bindings: []tgsync.BindingResult{
			{
				Binding: "opensearch-dashboards", Source: srcOS, TargetGroupARN: arnOS,
				Answer: tgsync.Answer{Addrs: mock.Addrs("10.0.1.21", "10.0.2.22", "10.0.3.23"), TTL: time.Minute, Queries: 4},
				Observed: []tgsync.ObservedTarget{
					{Target: mock.Target("10.0.1.11:443"), State: tgsync.HealthUnhealthy, Reason: "Target.Timeout"},
					{Target: mock.Target("10.0.2.12:443"), State: tgsync.HealthUnhealthy, Reason: "Target.Timeout"},
					{Target: mock.Target("10.0.3.13:443"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.0.1.21:443"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.0.2.22:443"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.0.4.99:443"), State: tgsync.HealthDraining, Reason: "Target.DeregistrationInProgress"},
				},
				Plan: tgsync.Decision{
					Desired: []tgsync.Target{mock.Target("10.0.1.21:443"), mock.Target("10.0.2.22:443"), mock.Target("10.0.3.23:443")},
					Changes: tgsync.Changes{
						Register:   []tgsync.Change{{Action: tgsync.ActionRegister, Target: mock.Target("10.0.3.23:443")}},
						Deregister: []tgsync.Change{{Action: tgsync.ActionDeregister, Target: mock.Target("10.0.3.13:443")}},
					},
					Refused: []tgsync.Refusal{{Action: tgsync.ActionDeregister, Target: mock.Target("10.0.1.11:443"), Rule: tgsync.RuleMaxFraction, Reason: "budget"}},
					Pending: []tgsync.Pending{{Target: mock.Target("10.0.2.12:443"), Misses: 2, MissesLeft: 1, TimeLeft: time.Minute}},
				},
				Registered:   []tgsync.Change{{Action: tgsync.ActionRegister, Target: mock.Target("10.0.3.23:443")}},
				Deregistered: []tgsync.Change{{Action: tgsync.ActionDeregister, Target: mock.Target("10.0.3.13:443")}},
				Duration:     1200 * time.Millisecond,
			},
			{
				Binding: "internal-alb-static-ip", Source: srcALB, TargetGroupARN: arnALB,
				Answer: tgsync.Answer{Addrs: mock.Addrs("10.1.1.5", "10.1.2.6", "203.0.113.7"), TTL: time.Minute, Queries: 4},
				Observed: []tgsync.ObservedTarget{
					{Target: mock.Target("10.1.1.5:80"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.1.1.5:443"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.1.9.9:80"), State: tgsync.HealthHealthy},
				},
				Plan: tgsync.Decision{
					Desired: []tgsync.Target{mock.Target("10.1.1.5:80"), mock.Target("10.1.1.5:443"), mock.Target("10.1.2.6:80"), mock.Target("10.1.2.6:443")},
					Changes: tgsync.Changes{Register: []tgsync.Change{{Action: tgsync.ActionRegister, Target: mock.Target("10.1.2.6:80")},
						{Action: tgsync.ActionRegister, Target: mock.Target("10.1.2.6:443")}}},
					Refused: []tgsync.Refusal{
						{Action: tgsync.ActionRegister, Target: mock.Target("203.0.113.7:80"), Rule: tgsync.RuleNotAllowed, Reason: "outside"},
						{Action: tgsync.ActionRegister, Target: mock.Target("203.0.113.7:443"), Rule: tgsync.RuleNotAllowed, Reason: "outside"},
					},
				},
				Registered: []tgsync.Change{{Action: tgsync.ActionRegister, Target: mock.Target("10.1.2.6:80")},
					{Action: tgsync.ActionRegister, Target: mock.Target("10.1.2.6:443")}},
				Duration: 250 * time.Millisecond,
			},
			sourceFailed("fargate-logstash", srcFarg, arnFarg, 40*time.Millisecond),
		},
	}
}

func run1Calls() map[string]int {
	return map[string]int{"DescribeTargetHealth": 2, "RegisterTargets": 2, "DeregisterTargets": 1}
}

func run2() tgsync.RunResult {
	return tgsync.RunResult{
		Started: t0.Add(time.Minute), Duration: 700 * time.Millisecond,
		Bindings: []tgsync.BindingResult{
			sourceFailed("opensearch-dashboards", srcOS, arnOS, 600*time.Millisecond),
			{
				Binding: "internal-alb-static-ip", Source: srcALB, TargetGroupARN: arnALB,
				Answer: tgsync.Answer{Addrs: mock.Addrs("10.1.1.5", "10.1.2.6"), TTL: time.Minute},
				Observed: []tgsync.ObservedTarget{
					{Target: mock.Target("10.1.1.5:80"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.1.1.5:443"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.1.2.6:80"), State: tgsync.HealthHealthy},
					{Target: mock.Target("10.1.2.6:443"), State: tgsync.HealthInitial},
					{Target: mock.Target("10.1.9.9:80"), State: tgsync.HealthHealthy},
				},
				Plan:     tgsync.Decision{Desired: []tgsync.Target{mock.Target("10.1.1.5:80"), mock.Target("10.1.1.5:443"), mock.Target("10.1.2.6:80"), mock.Target("10.1.2.6:443")}},
				Duration: 90 * time.Millisecond,
			},
			sourceFailed("fargate-logstash", srcFarg, arnFarg, 40*time.Millisecond),
		},
	}
}
