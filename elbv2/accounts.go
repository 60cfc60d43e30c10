package elbv2

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/tgsync/tgsync"
)

// Route says how a target group is reached: with which credentials.
type Route struct {
	// Via names the credentials: "" for the process's own, else e.g. the
	// role assumed. Target groups reached the same way share an adapter.
	Via string
	// Client builds the API client of Via for a Region. Accounts calls it
	// once per Via and Region.
	Client func(region string) API
}

// Accounts is tgsync.TargetGroups over every account and Region a config
// reaches. Each target group goes to the adapter of its Route, one per
// credentials and Region, and all adapters of one account and Region wait
// on one Budget, so that bindings reached through different roles into
// the same account still share that account's API buckets. A target
// group that was not routed goes the default Route. It is safe for
// concurrent use.
type Accounts struct {
	limits   Limits
	opts     Options
	fallback Route

	mu       sync.Mutex
	shares   int
	budgets  map[string]*Budget  // by "account region"
	adapters map[string]*Adapter // by "via account region"
	routes   map[string]Route    // by target group ARN
	byARN    map[string]*Adapter // resolved routes
}

var (
	_ tgsync.TargetGroups   = (*Accounts)(nil)
	_ tgsync.GroupInfoCache = (*Accounts)(nil)
)

// NewAccounts returns Accounts whose budgets have the limits (zero fields
// take DefaultLimits') and whose adapters take opts (its Budget and rates
// are ignored). Target groups without a route of their own go fallback.
func NewAccounts(limits Limits, opts Options, fallback Route) *Accounts {
	opts.Budget = nil
	return &Accounts{limits: limits.withDefaults(), opts: opts, fallback: fallback, shares: 1,
		budgets: map[string]*Budget{}, adapters: map[string]*Adapter{}, routes: map[string]Route{},
		byARN: map[string]*Adapter{}}
}

// Route sends a target group through r. A group routed twice must be
// routed the same way: two sets of credentials for one group would give
// it two adapters and two views of its metadata.
func (a *Accounts) Route(tgARN string, r Route) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev, ok := a.routes[tgARN]; ok && prev.Via != r.Via {
		return fmt.Errorf("target group %s is reached through %s and through %s: use one role per target group",
			tgARN, via(prev.Via), via(r.Via))
	}
	a.routes[tgARN] = r
	return nil
}

func via(v string) string {
	if v == "" {
		return "the process's own credentials"
	}
	return v
}

// Share gives this process 1/n of every account's budget (see
// Budget.Share), now and for budgets made later.
func (a *Accounts) Share(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.shares = max(n, 1)
	for _, b := range a.budgets {
		b.Share(a.shares)
	}
}

// Budget returns the budget of an account and Region, made on first use.
func (a *Accounts) Budget(account, region string) *Budget {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.budgetLocked(account, region)
}

func (a *Accounts) budgetLocked(account, region string) *Budget {
	key := account + " " + region
	b := a.budgets[key]
	if b == nil {
		b = NewBudget(a.limits)
		b.Share(a.shares)
		a.budgets[key] = b
	}
	return b
}

// Adapter returns the adapter a target group is reached through. The
// account and Region come from its ARN; an ARN that does not parse is a
// config error, reported here too.
func (a *Accounts) Adapter(tgARN string) (*Adapter, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ad := a.byARN[tgARN]; ad != nil {
		return ad, nil
	}
	parsed, err := arn.Parse(tgARN)
	if err != nil || parsed.Service != "elasticloadbalancing" || parsed.AccountID == "" || parsed.Region == "" {
		return nil, fmt.Errorf("target group %q: not an elasticloadbalancing ARN with an account and a Region", tgARN)
	}
	r, ok := a.routes[tgARN]
	if !ok {
		r = a.fallback
	}
	if r.Client == nil {
		return nil, fmt.Errorf("target group %s: no client to reach it through %s", tgARN, via(r.Via))
	}
	// One adapter per credentials, account and Region: a role reaches
	// one account, so this is one per role and Region; the process's own
	// credentials may reach several accounts' groups only in tests and
	// fakes (ELB has no resource policies), which still get one budget
	// per account.
	key := r.Via + " " + parsed.AccountID + " " + parsed.Region
	ad := a.adapters[key]
	if ad == nil {
		opts := a.opts
		opts.Budget = a.budgetLocked(parsed.AccountID, parsed.Region)
		ad = New(r.Client(parsed.Region), opts)
		a.adapters[key] = ad
	}
	a.byARN[tgARN] = ad
	return ad, nil
}

// Describe implements tgsync.TargetGroups.
func (a *Accounts) Describe(ctx context.Context, tgARN string) ([]tgsync.ObservedTarget, error) {
	ad, err := a.Adapter(tgARN)
	if err != nil {
		return nil, err
	}
	return ad.Describe(ctx, tgARN)
}

// Register implements tgsync.TargetGroups.
func (a *Accounts) Register(ctx context.Context, tgARN string, targets []tgsync.Change) ([]tgsync.Change, error) {
	ad, err := a.Adapter(tgARN)
	if err != nil {
		return nil, err
	}
	return ad.Register(ctx, tgARN, targets)
}

// Deregister implements tgsync.TargetGroups.
func (a *Accounts) Deregister(ctx context.Context, tgARN string, targets []tgsync.Change) ([]tgsync.Change, error) {
	ad, err := a.Adapter(tgARN)
	if err != nil {
		return nil, err
	}
	return ad.Deregister(ctx, tgARN, targets)
}

// Metadata returns the target group's metadata (see Adapter.Metadata).
func (a *Accounts) Metadata(ctx context.Context, tgARN string) (Metadata, error) {
	ad, err := a.Adapter(tgARN)
	if err != nil {
		return Metadata{}, err
	}
	return ad.Metadata(ctx, tgARN)
}

// AttachedTo reports whether the target group is attached to the load
// balancer (see Adapter.AttachedTo).
func (a *Accounts) AttachedTo(ctx context.Context, tgARN, lbARN string) (bool, error) {
	ad, err := a.Adapter(tgARN)
	if err != nil {
		return false, err
	}
	return ad.AttachedTo(ctx, tgARN, lbARN)
}

// GroupInfo implements tgsync.GroupInfoCache.
func (a *Accounts) GroupInfo(tgARN string) (tgsync.GroupInfo, bool) {
	ad, err := a.Adapter(tgARN)
	if err != nil {
		return tgsync.GroupInfo{}, false
	}
	return ad.GroupInfo(tgARN)
}

// RememberGroupInfo implements tgsync.GroupInfoCache.
func (a *Accounts) RememberGroupInfo(tgARN string, info tgsync.GroupInfo) {
	if ad, err := a.Adapter(tgARN); err == nil {
		ad.RememberGroupInfo(tgARN, info)
	}
}
