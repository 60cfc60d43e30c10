package elbv2

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// The ELB API's token buckets, per account and Region, as AWS documents
// them for Elastic Load Balancing: describe actions share one bucket,
// RegisterTargets and DeregisterTargets another. Everything in the account
// that calls the API draws from the same buckets.
const (
	AWSDescribeBucket = 40
	AWSDescribeRefill = 10 // per second
	AWSChangeBucket   = 20
	AWSChangeRefill   = 4 // per second
)

// DefaultShare is the fraction of AWS's buckets tgsync takes by default:
// its own bucket is half the size of AWS's and refills at half the rate,
// so that whatever tgsync does, half of each bucket stays for the rest of
// the account (consoles, deployments, controllers).
const DefaultShare = 0.5

// Limits are the client-side buckets of a Budget.
type Limits struct {
	// DescribeRate and DescribeBurst limit DescribeTargetHealth and
	// DescribeTargetGroups calls.
	DescribeRate  rate.Limit
	DescribeBurst int
	// ChangeRate and ChangeBurst limit RegisterTargets and
	// DeregisterTargets calls.
	ChangeRate  rate.Limit
	ChangeBurst int
}

// DefaultLimits are DefaultShare of AWS's buckets: describes 5/s after a
// burst of 20, changes 2/s after a burst of 10.
func DefaultLimits() Limits {
	return Limits{
		DescribeRate:  AWSDescribeRefill * DefaultShare,
		DescribeBurst: int(AWSDescribeBucket * DefaultShare),
		ChangeRate:    AWSChangeRefill * DefaultShare,
		ChangeBurst:   int(AWSChangeBucket * DefaultShare),
	}
}

// withDefaults fills in what is zero or negative from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.DescribeRate <= 0 {
		l.DescribeRate = d.DescribeRate
	}
	if l.DescribeBurst <= 0 {
		l.DescribeBurst = d.DescribeBurst
	}
	if l.ChangeRate <= 0 {
		l.ChangeRate = d.ChangeRate
	}
	if l.ChangeBurst <= 0 {
		l.ChangeBurst = d.ChangeBurst
	}
	return l
}

// Budget is tgsync's share of one account and Region's ELB API buckets in
// one process: every adapter that calls that account and Region waits on
// the same Budget, so that bindings, the Spot drain and the status page
// together stay inside it however many target groups or roles there are.
// It is safe for concurrent use.
type Budget struct {
	describe, change *rate.Limiter

	mu     sync.Mutex
	limits Limits
	shares int
}

// NewBudget returns a Budget with the limits; zero fields take
// DefaultLimits' values.
func NewBudget(l Limits) *Budget {
	l = l.withDefaults()
	return &Budget{
		describe: rate.NewLimiter(l.DescribeRate, l.DescribeBurst),
		change:   rate.NewLimiter(l.ChangeRate, l.ChangeBurst),
		limits:   l, shares: 1,
	}
}

// Share gives this process 1/n of the budget's rates and bursts (a burst
// at least 1), for n processes that run at the same moments against the
// same account: the shards of one deployment, whose schedules fire
// together. Share(1) restores the whole budget.
func (b *Budget) Share(n int) {
	n = max(n, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if n == b.shares {
		return
	}
	b.shares = n
	l := b.limits
	b.describe.SetLimit(l.DescribeRate / rate.Limit(n))
	b.describe.SetBurst(max(1, l.DescribeBurst/n))
	b.change.SetLimit(l.ChangeRate / rate.Limit(n))
	b.change.SetBurst(max(1, l.ChangeBurst/n))
}

// Current returns the limits in force, after Share.
func (b *Budget) Current() Limits {
	return Limits{DescribeRate: b.describe.Limit(), DescribeBurst: b.describe.Burst(),
		ChangeRate: b.change.Limit(), ChangeBurst: b.change.Burst()}
}

func (b *Budget) waitDescribe(ctx context.Context) error { return b.describe.Wait(ctx) }
func (b *Budget) waitChange(ctx context.Context) error   { return b.change.Wait(ctx) }
