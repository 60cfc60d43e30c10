package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tgsync/tgsync/elbv2"
	"github.com/tgsync/tgsync/internal/config"
)

// roleSessionName names tgsync's sessions in the other accounts'
// CloudTrail.
const roleSessionName = "tgsync"

// routeRoles sends the target groups of the bindings and of the Spot
// drain that name a role through that role's credentials: the SDK's
// AssumeRole provider under its credentials cache, which assumes the role
// when first needed and again before the credentials expire. One
// provider per role and external ID serves all its target groups, and
// the adapters share the account's budget (elbv2.Accounts).
func routeRoles(groups *elbv2.Accounts, cfg *config.Config, awsCfg aws.Config) error {
	providers := map[config.Role]aws.CredentialsProvider{}
	route := func(tg string, r config.Role) error {
		if r.ARN == "" {
			return nil
		}
		creds := providers[r]
		if creds == nil {
			creds = assumeRole(awsCfg, r)
			providers[r] = creds
		}
		roleCfg := awsCfg.Copy()
		roleCfg.Credentials = creds
		return groups.Route(tg, elbv2.Route{Via: r.ARN, Client: regionalClient(roleCfg)})
	}
	for _, b := range cfg.Bindings {
		if err := route(b.TargetGroupARN, b.Role); err != nil {
			return err
		}
	}
	if s := cfg.SpotDrain; s != nil {
		for _, tg := range s.TargetGroupARNs {
			if err := route(tg, s.Role); err != nil {
				return err
			}
		}
	}
	return nil
}

// assumeRole is the credentials of a role, assumed with the process's
// own; the external ID goes with the call only when one is set.
func assumeRole(awsCfg aws.Config, r config.Role) aws.CredentialsProvider {
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), r.ARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = roleSessionName
		if r.ExternalID != "" {
			o.ExternalID = aws.String(r.ExternalID)
		}
	}))
}
