// Package elbv2 adapts the Elastic Load Balancing v2 API to
// tgsync.TargetGroups: it describes, registers and deregisters ip targets
// in batches, applies the Availability Zone rule for addresses outside the
// target group's VPC, stays under the account's API rate with client-side
// limiters, and turns AWS errors into messages that say what to fix.
package elbv2

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"golang.org/x/time/rate"

	"github.com/tgsync/tgsync"
)

// API is the part of the ELBv2 SDK client the adapter calls. It is declared
// here, at the consumer, so that tests can stand in a fake for what moto
// cannot show (elbv2/elbv2fake).
type API interface {
	DescribeTargetHealth(ctx context.Context, in *elasticloadbalancingv2.DescribeTargetHealthInput, optFns ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DescribeTargetHealthOutput, error)
	RegisterTargets(ctx context.Context, in *elasticloadbalancingv2.RegisterTargetsInput, optFns ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.RegisterTargetsOutput, error)
	DeregisterTargets(ctx context.Context, in *elasticloadbalancingv2.DeregisterTargetsInput, optFns ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DeregisterTargetsOutput, error)
	DescribeTargetGroups(ctx context.Context, in *elasticloadbalancingv2.DescribeTargetGroupsInput, optFns ...func(*elasticloadbalancingv2.Options)) (*elasticloadbalancingv2.DescribeTargetGroupsOutput, error)
}

var _ API = (*elasticloadbalancingv2.Client)(nil)

var _ tgsync.TargetGroups = (*Adapter)(nil)

// MaxBatchSize is the most targets one RegisterTargets or DeregisterTargets
// call carries.
const MaxBatchSize = 200

// DefaultMaxAttempts is the SDK retryer's attempt budget NewFromConfig sets
// when the configuration names none: ELB throttling is bursty, and a few
// more attempts with the standard backoff ride it out.
const DefaultMaxAttempts = 5

// Unlimited is Options without client-side rate limits, for an Adapter
// on a world where only the server throttles, as in tests.
func Unlimited() Options { return Options{DescribeRate: rate.Inf, ChangeRate: rate.Inf} }

// Options tunes an Adapter. Zero values take the defaults, DefaultLimits:
// half of the ELB API's per-account buckets (describe: 40, refill 10/s;
// register/deregister: 20, refill 4/s), because other tools share them.
type Options struct {
	// Budget is the account and Region's budget the adapter waits on,
	// shared with the process's other adapters for them. Nil gives the
	// adapter a budget of its own, from the rates below.
	Budget *Budget
	// DescribeRate and DescribeBurst limit DescribeTargetHealth and
	// DescribeTargetGroups calls; defaults 5/s and 20. Ignored with a
	// Budget.
	DescribeRate  rate.Limit
	DescribeBurst int
	// ChangeRate and ChangeBurst limit RegisterTargets and
	// DeregisterTargets calls; defaults 2/s and 10. Ignored with a
	// Budget.
	ChangeRate  rate.Limit
	ChangeBurst int
	// BatchSize is the number of targets per change call; default and
	// maximum 200.
	BatchSize int
	// Binding names the binding(s) using a target group ARN, for error
	// messages. Optional.
	Binding func(arn string) string
}

func (o Options) withDefaults() Options {
	l := o.limits().withDefaults()
	o.DescribeRate, o.DescribeBurst, o.ChangeRate, o.ChangeBurst = l.DescribeRate, l.DescribeBurst, l.ChangeRate, l.ChangeBurst
	if o.BatchSize <= 0 || o.BatchSize > MaxBatchSize {
		o.BatchSize = MaxBatchSize
	}
	return o
}

func (o Options) limits() Limits {
	return Limits{DescribeRate: o.DescribeRate, DescribeBurst: o.DescribeBurst, ChangeRate: o.ChangeRate, ChangeBurst: o.ChangeBurst}
}

// Metadata is what the adapter knows about a target group from
// DescribeTargetGroups. It is fetched once per process: none of it changes
// without replacing the group, except the load balancers attached.
type Metadata struct {
	ARN           string
	Name          string
	VPCID         string
	Port          uint16
	Protocol      string
	TargetType    string
	IPAddressType string
	// LoadBalancerARNs are the load balancers attached when the metadata
	// was fetched.
	LoadBalancerARNs []string
}

// Adapter implements tgsync.TargetGroups over the ELBv2 API. It is safe for
// concurrent use.
type Adapter struct {
	api    API
	opts   Options
	budget *Budget

	mu    sync.Mutex
	meta  map[string]*metaEntry
	azAll map[string]bool // target groups that needed AvailabilityZone "all"
}

// metaEntry serialises the fetch of one group's metadata so that concurrent
// callers cost one DescribeTargetGroups call, while each still honours its
// own context.
type metaEntry struct {
	sem chan struct{}
	md  *Metadata
	// seeded is set when md came from tgsync's state rather than from
	// AWS: it holds what describing and changing targets need, but not
	// the load balancers attached.
	seeded bool
}

// New returns an Adapter over api.
func New(api API, opts Options) *Adapter {
	opts = opts.withDefaults()
	budget := opts.Budget
	if budget == nil {
		budget = NewBudget(opts.limits())
	}
	return &Adapter{
		api:    api,
		opts:   opts,
		budget: budget,
		meta:   map[string]*metaEntry{},
		azAll:  map[string]bool{},
	}
}

// NewFromConfig builds the SDK client from cfg (region, credentials and any
// BaseEndpoint, e.g. from AWS_ENDPOINT_URL) and returns an Adapter over it.
// The client keeps the SDK's standard retryer; when cfg names neither a
// retryer nor a maximum attempt count, it allows DefaultMaxAttempts.
func NewFromConfig(cfg aws.Config, opts Options) *Adapter {
	return New(NewClient(cfg), opts)
}

// NewClient is the SDK client NewFromConfig builds: cfg's, with
// DefaultMaxAttempts when cfg names neither a retryer nor an attempt
// count.
func NewClient(cfg aws.Config) *elasticloadbalancingv2.Client {
	return elasticloadbalancingv2.NewFromConfig(cfg, func(o *elasticloadbalancingv2.Options) {
		if cfg.Retryer == nil && cfg.RetryMaxAttempts == 0 {
			o.RetryMaxAttempts = DefaultMaxAttempts
		}
	})
}

// Metadata returns the target group's metadata, calling DescribeTargetGroups
// the first time it is asked for an ARN and from the cache afterwards. A
// failed lookup is not cached.
func (a *Adapter) Metadata(ctx context.Context, arn string) (Metadata, error) {
	if arn == "" {
		return Metadata{}, fmt.Errorf("target group ARN is empty")
	}
	a.mu.Lock()
	e, ok := a.meta[arn]
	if !ok {
		e = &metaEntry{sem: make(chan struct{}, 1)}
		a.meta[arn] = e
	}
	a.mu.Unlock()

	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return Metadata{}, fmt.Errorf("describe target group %s: %w", arn, ctx.Err())
	}
	defer func() { <-e.sem }()
	a.mu.Lock()
	cached, seeded := e.md, e.seeded
	a.mu.Unlock()
	if cached != nil && !seeded {
		return cloneMetadata(*cached), nil
	}
	md, err := a.fetchMetadata(ctx, arn)
	if err != nil {
		return Metadata{}, err
	}
	a.mu.Lock()
	e.md, e.seeded = &md, false
	a.mu.Unlock()
	return cloneMetadata(md), nil
}

// basics returns what describing and changing targets need of a group:
// remembered from tgsync's state, or else fetched.
func (a *Adapter) basics(ctx context.Context, arn string) (Metadata, error) {
	a.mu.Lock()
	e := a.meta[arn]
	var md *Metadata
	if e != nil {
		md = e.md
	}
	a.mu.Unlock()
	if md != nil {
		return cloneMetadata(*md), nil
	}
	return a.Metadata(ctx, arn)
}

var _ tgsync.GroupInfoCache = (*Adapter)(nil)

// GroupInfo returns what the adapter knows of a group without calling AWS;
// its At is left to the caller.
func (a *Adapter) GroupInfo(arn string) (tgsync.GroupInfo, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.meta[arn]
	if e == nil || e.md == nil {
		return tgsync.GroupInfo{}, false
	}
	md := e.md
	return tgsync.GroupInfo{TargetType: md.TargetType, Port: md.Port, Protocol: md.Protocol, VPCID: md.VPCID,
		IPAddressType: md.IPAddressType}, true
}

// RememberGroupInfo takes what tgsync's state remembers of a group, so
// that a new process describes the group without DescribeTargetGroups. It
// does not replace what the adapter fetched itself.
func (a *Adapter) RememberGroupInfo(arn string, info tgsync.GroupInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.meta[arn]
	if e == nil {
		e = &metaEntry{sem: make(chan struct{}, 1)}
		a.meta[arn] = e
	}
	if e.md != nil && !e.seeded {
		return
	}
	e.md = &Metadata{ARN: arn, TargetType: info.TargetType, Port: info.Port, Protocol: info.Protocol,
		VPCID: info.VPCID, IPAddressType: info.IPAddressType}
	e.seeded = true
}

func (a *Adapter) fetchMetadata(ctx context.Context, arn string) (Metadata, error) {
	const action = "DescribeTargetGroups"
	if err := a.budget.waitDescribe(ctx); err != nil {
		return Metadata{}, fmt.Errorf("describe target group %s: waiting for the describe rate limit: %w", arn, err)
	}
	out, err := a.api.DescribeTargetGroups(ctx, &elasticloadbalancingv2.DescribeTargetGroupsInput{
		TargetGroupArns: []string{arn},
	})
	if err != nil {
		return Metadata{}, a.mapError("describe target group "+arn, action, arn, err)
	}
	for _, tg := range out.TargetGroups {
		if aws.ToString(tg.TargetGroupArn) != arn {
			continue
		}
		md := Metadata{
			ARN:              arn,
			Name:             aws.ToString(tg.TargetGroupName),
			VPCID:            aws.ToString(tg.VpcId),
			Protocol:         string(tg.Protocol),
			TargetType:       string(tg.TargetType),
			IPAddressType:    string(tg.IpAddressType),
			LoadBalancerARNs: slices.Clone(tg.LoadBalancerArns),
		}
		if p := aws.ToInt32(tg.Port); p > 0 && p <= 65535 {
			md.Port = uint16(p)
		}
		return md, nil
	}
	return Metadata{}, fmt.Errorf("%starget group %s not found (DescribeTargetGroups answered without it): check targetGroupArn and the region (AWS_REGION)",
		a.bindingPrefix(arn), arn)
}

func cloneMetadata(md Metadata) Metadata {
	md.LoadBalancerARNs = slices.Clone(md.LoadBalancerARNs)
	return md
}

// AttachedTo reports whether the target group was attached to the load
// balancer when its metadata was fetched. It serves settings that name a
// load balancer and costs no call beyond the cached DescribeTargetGroups.
func (a *Adapter) AttachedTo(ctx context.Context, tgArn, lbArn string) (bool, error) {
	md, err := a.Metadata(ctx, tgArn)
	if err != nil {
		return false, err
	}
	return slices.Contains(md.LoadBalancerARNs, lbArn), nil
}

// ipTargets returns the metadata of a group the adapter may manage: one of
// target type ip.
func (a *Adapter) ipTargets(ctx context.Context, arn string) (Metadata, error) {
	md, err := a.basics(ctx, arn)
	if err != nil {
		return md, err
	}
	if md.TargetType != "ip" {
		return md, fmt.Errorf("%starget group %s has target type %s; tgsync manages target type ip only: %s",
			a.bindingPrefix(arn), arn, md.TargetType, notIPAdvice(md.TargetType))
	}
	return md, nil
}

// notIPAdvice says what to do with a target group tgsync cannot manage,
// by its target type.
func notIPAdvice(targetType string) string {
	switch targetType {
	case "alb":
		return "an NLB target group of type alb already follows the ALB's addresses by itself (AWS registers the ALB, not its IPs), " +
			"so no tgsync binding is needed for it: remove the binding"
	case "instance":
		return "instances are registered by ID, not by address: create a target group of type ip with the same protocol, port and VPC, " +
			"point the listener at it and put its ARN in the binding"
	case "lambda":
		return "a lambda target group holds a function, not addresses: point the binding at a target group of type ip"
	}
	return "point the binding at a target group of type ip"
}

// rememberAZAll records that a group needs AvailabilityZone "all".
func (a *Adapter) rememberAZAll(arn string) {
	a.mu.Lock()
	a.azAll[arn] = true
	a.mu.Unlock()
}

func (a *Adapter) needsAZAll(arn string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.azAll[arn]
}

// bindingPrefix is "binding NAME: " when Options.Binding names one.
func (a *Adapter) bindingPrefix(arn string) string {
	if a.opts.Binding == nil {
		return ""
	}
	if name := a.opts.Binding(arn); name != "" {
		return "binding " + name + ": "
	}
	return ""
}
