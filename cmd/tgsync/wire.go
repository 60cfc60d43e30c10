package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/dns"
	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/shard"
	"github.com/tgsync/tgsync/store/filestore"
	"github.com/tgsync/tgsync/store/memstore"
	"github.com/tgsync/tgsync/store/s3store"
)

// app is a configured tgsync: the reconciler and the adapters it runs on.
// It is built once per process (in Lambda, at init).
type app struct {
	cfg        *config.Config
	reconciler *tgsync.Reconciler
	groups     *elbv2.Accounts
	store      tgsync.Store
	calls      *elbv2.Calls
	awsConfig  aws.Config
	// shards are the deployment's shards (TGSYNC_SHARDS), one when it
	// has none.
	shards *shardSet
	// lister and interfaces are the network-interface sources, by
	// binding; nil when no binding reads interfaces.
	lister     *eni.Lister
	interfaces map[string]*eni.Source
}

// loadAWS loads the SDK's configuration (loadSDKConfig). When no region
// is set it takes the region of the target groups, so a config alone is
// enough (resolveRegion); a failure to find credentials is said in one
// line (explainCredentials).
func loadAWS(ctx context.Context, cfg *config.Config, calls *elbv2.Calls) (aws.Config, error) {
	count := func(ctx context.Context, service, op string) {
		calls.Record(service, op)
		tgsync.CountAPICall(ctx) // the binding the call was made for
	}
	awsCfg, err := loadSDKConfig(ctx, []func(*middleware.Stack) error{elbv2.CountCallsContext(count), elbv2.CountThrottles(calls.RecordThrottle)})
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	awsCfg.Credentials = explainCredentials(awsCfg.Credentials)
	if err := resolveRegion(&awsCfg, cfg); err != nil {
		return aws.Config{}, err
	}
	return awsCfg, nil
}

// appOptions are what the Lambda wires differently from the CLI.
type appOptions struct {
	// sdkLog receives the SDK's own log lines; nil keeps the SDK's default.
	sdkLog *slog.Logger
	// bucketRegion is the Region of the state bucket when it is not the
	// function's (a legacy BUCKET_REGION).
	bucketRegion string
}

// newApp wires a config to real DNS, the real elbv2 API and the configured
// state store.
func newApp(ctx context.Context, cfg *config.Config, getenv func(string) string, opts appOptions) (*app, error) {
	a := &app{cfg: cfg, calls: &elbv2.Calls{}}
	awsCfg, store, groups, err := wireAWS(ctx, cfg, a.calls, opts.sdkLog, opts.bucketRegion)
	if err != nil {
		return nil, err
	}
	a.awsConfig, a.store, a.groups = awsCfg, store, groups
	if a.lister, a.interfaces, err = interfaceSources(cfg, awsCfg); err != nil {
		return nil, err
	}
	bindings, err := domainBindings(cfg, getenv, a.interfaces)
	if err != nil {
		return nil, err
	}
	a.reconciler = &tgsync.Reconciler{Bindings: bindings, Groups: a.groups, Store: a.store, DescribeEvery: cfg.Limits.DescribeEvery}
	if a.shards, err = newShardSet(a, getenv, opts.bucketRegion); err != nil {
		return nil, err
	}
	return a, nil
}

// wireAWS is what every command that acts on target groups needs, the
// reconcile (newApp) and the drain alike: the SDK configuration (its own
// log lines in sdkLog, when set), the configured state store and the
// elbv2 adapters under the configured rate limits. It sets up no DNS.
func wireAWS(ctx context.Context, cfg *config.Config, calls *elbv2.Calls, sdkLog *slog.Logger, bucketRegion string) (aws.Config, tgsync.Store, *elbv2.Accounts, error) {
	awsCfg, err := loadAWS(ctx, cfg, calls)
	if err != nil {
		return aws.Config{}, nil, nil, err
	}
	if sdkLog != nil {
		awsCfg.Logger = sdkLogger{sdkLog}
	}
	store, err := newStore(cfg.State, awsCfg, bucketRegion)
	if err != nil {
		return aws.Config{}, nil, nil, err
	}
	groups, err := newGroups(awsCfg, cfg)
	if err != nil {
		return aws.Config{}, nil, nil, err
	}
	return awsCfg, store, groups, nil
}

// newGroups is the elbv2 adapters of a process, one budget per account
// and Region under the configured client-side limits, shared by the
// bindings, the drain and the status page, each target group reached with
// its role's credentials or the process's own.
func newGroups(awsCfg aws.Config, cfg *config.Config) (*elbv2.Accounts, error) {
	l := cfg.Limits
	groups := elbv2.NewAccounts(elbv2.Limits{
		DescribeRate:  rate.Limit(l.DescribePerSecond),
		DescribeBurst: l.DescribeBurst,
		ChangeRate:    rate.Limit(l.ChangesPerSecond),
		ChangeBurst:   l.ChangesBurst,
	}, elbv2.Options{}, elbv2.Route{Client: regionalClient(awsCfg)})
	return groups, routeRoles(groups, cfg, awsCfg)
}

// regionalClient makes ELB clients of cfg for a target group's Region.
func regionalClient(cfg aws.Config) func(region string) elbv2.API {
	return func(region string) elbv2.API {
		c := cfg.Copy()
		c.Region = region
		return elbv2.NewClient(c)
	}
}

// domainBindings builds each binding's source: its DNS name, united with
// its interfaces when it has some. TGSYNC_DNS_SERVERS (a comma-separated
// list of host:port) overrides the configured servers. Without a DNS
// source no resolver is made, so that a host without /etc/resolv.conf
// runs bindings of interfaces alone.
func domainBindings(cfg *config.Config, getenv func(string) string, interfaces map[string]*eni.Source) ([]tgsync.Binding, error) {
	var resolver *dns.Resolver
	if slices.ContainsFunc(cfg.Bindings, func(b config.Binding) bool { return b.Source.DNS != nil }) {
		var err error
		if resolver, err = newResolver(cfg, getenv); err != nil {
			return nil, err
		}
	}
	var out []tgsync.Binding
	for _, b := range cfg.Bindings {
		var name tgsync.Source
		if b.Source.DNS != nil {
			fams, err := dns.ParseFamilies(b.Families())
			if err != nil {
				return nil, fmt.Errorf("binding %s: %w", b.Name, err)
			}
			name = resolver.Source(b.Source.DNS.Name, fams)
		}
		out = append(out, b.Domain(bindingSource(name, interfaces[b.Name])))
	}
	return out, nil
}

// newResolver is the resolver of the config's DNS sources.
func newResolver(cfg *config.Config, getenv func(string) string) (*dns.Resolver, error) {
	servers := cfg.DNS.Servers
	if v := strings.TrimSpace(getenv("TGSYNC_DNS_SERVERS")); v != "" {
		servers = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				servers = append(servers, s)
			}
		}
	}
	resolver, err := dns.New(dns.Config{Servers: servers, Lookups: cfg.DNS.Lookups, Timeout: cfg.DNS.Timeout})
	if err != nil {
		return nil, fmt.Errorf("DNS: %w", err)
	}
	return resolver, nil
}

// newStore opens the configured state store; bucketRegion, when set, is
// the Region of the S3 bucket.
func newStore(st config.State, awsCfg aws.Config, bucketRegion string) (tgsync.Store, error) {
	return newShardStore(st, awsCfg, bucketRegion, 1)
}

// newShardStore opens the state store of shard k: the configured one for
// shard 1, one beside it for the others (shard.ObjectName).
func newShardStore(st config.State, awsCfg aws.Config, bucketRegion string, k int) (tgsync.Store, error) {
	switch {
	case st.Memory:
		return memstore.New(), nil
	case st.S3 != nil:
		client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if bucketRegion != "" {
				o.Region = bucketRegion
			}
			// Custom endpoints (moto, LocalStack, a VPC endpoint by IP)
			// rarely resolve bucket subdomains.
			o.UsePathStyle = o.BaseEndpoint != nil
		})
		bucket, key, err := s3store.ParseURL(st.S3.String())
		if err != nil {
			return nil, fmt.Errorf("state.s3: %w", err)
		}
		return s3store.New(client, bucket, shard.ObjectName(key, k)), nil
	default:
		return filestore.New(shard.ObjectName(st.File, k)), nil
	}
}

// nextRunIn is when the daemon runs next: after interval, or sooner when
// the smallest DNS TTL of the run runs out, but not before minInterval.
func nextRunIn(res tgsync.RunResult, interval, minInterval time.Duration) time.Duration {
	wait := interval
	for _, b := range res.Bindings {
		if b.SourceErr == nil && b.Answer.TTL > 0 && b.Answer.TTL < wait {
			wait = b.Answer.TTL
		}
	}
	return max(wait, minInterval)
}
