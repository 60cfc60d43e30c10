package elbv2

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/tgsync/tgsync/internal/mock"
)

// BenchmarkDescribeSteadyState measures a Describe once the group's
// metadata is cached, which is every run but a process's first. The
// api-calls/op metric must stay at 1 (one DescribeTargetHealth); the
// metadata lookup is reported apart, as calls per process.
func BenchmarkDescribeSteadyState(b *testing.B) {
	const members = 50
	b.Run("moto", func(b *testing.B) {
		w := newMotoWorld(b)
		arn := w.targetGroup(b, types.TargetTypeEnumIp, 80)
		a, c := w.adapter(Options{})
		benchDescribe(b, a, arn, members, func() int { return sum(c.Snapshot()) }, func() int { return c.Snapshot()["DescribeTargetGroups"] })
	})
	b.Run("fake", func(b *testing.B) {
		f := newFakeELB()
		f.addGroup(fakeARN, "ip", 80)
		a := fakeAdapter(f, Options{})
		total := func() int {
			f.mu.Lock()
			defer f.mu.Unlock()
			return sum(f.calls)
		}
		benchDescribe(b, a, fakeARN, members, total, func() int { return f.count("DescribeTargetGroups") })
	})
}

func benchDescribe(b *testing.B, a *Adapter, arn string, members int, total, metadataCalls func() int) {
	ctx := context.Background()
	if _, _, err := mock.RegisterTargets(ctx, a, arn, manyTargets(members, 80), false); err != nil {
		b.Fatal(err)
	}
	if _, err := a.Describe(ctx, arn); err != nil {
		b.Fatal(err)
	}
	before := total()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		obs, err := a.Describe(ctx, arn)
		if err != nil || len(obs) != members {
			b.Fatalf("Describe = %d targets, %v; want %d", len(obs), err, members)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total()-before)/float64(b.N), "api-calls/op")
	b.ReportMetric(float64(metadataCalls()), "metadata-calls/process")
}
