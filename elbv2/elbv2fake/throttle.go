package elbv2fake

import "time"

// Bucket is a token bucket: Size calls at once, refilled at PerSecond.
type Bucket struct {
	Size      int
	PerSecond float64
}

// RateLimits are the API token buckets of one account and Region.
type RateLimits struct {
	// Describe limits DescribeTargetHealth and DescribeTargetGroups.
	Describe Bucket
	// Change limits RegisterTargets and DeregisterTargets together.
	Change Bucket
}

// AWSRateLimits returns the ELB API throttling AWS documents: describe
// calls bucket 40, refill 10/s; RegisterTargets/DeregisterTargets bucket
// 20, refill 4/s. AWS shares the buckets with everything else in the
// account; a World is one account.
func AWSRateLimits() RateLimits {
	return RateLimits{
		Describe: Bucket{Size: 40, PerSecond: 10},
		Change:   Bucket{Size: 20, PerSecond: 4},
	}
}

type bucket struct {
	Bucket
	tokens float64
	at     time.Time
}

func newBuckets(l RateLimits, now time.Time) map[string]*bucket {
	d := &bucket{Bucket: l.Describe, tokens: float64(l.Describe.Size), at: now}
	c := &bucket{Bucket: l.Change, tokens: float64(l.Change.Size), at: now}
	return map[string]*bucket{ActionDescribe: d, ActionDescribeGroups: d, ActionRegister: c, ActionDeregister: c}
}

// take spends a token of the action's bucket, refilled on the world's
// clock, and reports whether there was one.
func (w *World) take(action string) bool {
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.limits == nil {
		return true
	}
	b := w.buckets[action]
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(float64(b.Size), b.tokens+elapsed.Seconds()*b.PerSecond)
	}
	b.at = now // a clock set backwards refills nothing
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
