package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/tgsync/tgsync/internal/config"
)

// noCredentials is what to do when the SDK found no credentials anywhere:
// one line instead of the provider chain's account of each place it
// looked.
const noCredentials = "no AWS credentials found: set AWS_PROFILE to a profile in ~/.aws/config (after 'aws configure' or 'aws sso login'), " +
	"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them (EC2 instance profile, ECS task role, EKS pod identity)"

// credentialsError is a failure to get credentials, said in one line; the
// SDK's error stays wrapped for errors.As.
type credentialsError struct {
	msg string
	err error
}

func (e *credentialsError) Error() string { return e.msg }
func (e *credentialsError) Unwrap() error { return e.err }

// explainCredentials rewrites the errors of a credentials provider into
// one line that says what to set.
func explainCredentials(p aws.CredentialsProvider) aws.CredentialsProvider {
	if p == nil {
		return nil
	}
	return explainedCredentials{p}
}

type explainedCredentials struct{ aws.CredentialsProvider }

func (p explainedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return creds, explainCredentialsError(err)
	}
	return creds, nil
}

// IsCredentialsProvider lets the SDK's clients see the cache inside, so
// that they do not wrap the provider in another.
func (p explainedCredentials) IsCredentialsProvider(target aws.CredentialsProvider) bool {
	return aws.IsCredentialsProvider(p.CredentialsProvider, target)
}

// explainCredentialsError says in one line why there are no credentials.
// The SDK's default chain ends with the EC2 instance role; when even that
// failed, nothing was configured at all. Other failures (an expired SSO
// session, a role that may not be assumed) keep the SDK's message, which
// names the cause, behind the profile it came from.
func explainCredentialsError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "no EC2 IMDS role found") {
		return &credentialsError{msg: noCredentials, err: err}
	}
	profile := os.Getenv("AWS_PROFILE")
	if profile == "" {
		profile = "default"
	}
	msg = strings.TrimPrefix(msg, "failed to refresh cached credentials, ")
	return &credentialsError{msg: fmt.Sprintf("AWS credentials of profile %s: %s", profile, msg), err: err}
}

// checkCredentials gets the credentials once, before any work, so that a
// command without them says so once rather than once per binding. They
// are cached, so this costs the run nothing.
func checkCredentials(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return nil
	}
	_, err := cfg.Credentials.Retrieve(ctx)
	return err
}

// targetGroupKey is a target group ARN of the config with its key path.
type targetGroupKey struct{ key, arn string }

func targetGroupKeys(cfg *config.Config) []targetGroupKey {
	var out []targetGroupKey
	for i, b := range cfg.Bindings {
		out = append(out, targetGroupKey{fmt.Sprintf("bindings[%d].targetGroupArn", i), b.TargetGroupARN})
	}
	if cfg.SpotDrain != nil {
		for i, a := range cfg.SpotDrain.TargetGroupARNs {
			out = append(out, targetGroupKey{fmt.Sprintf("spotDrain.targetGroupArns[%d]", i), a})
		}
	}
	return out
}

// resolveRegion sets the Region from the target groups when the SDK found
// none, and refuses target groups in another Region than the one tgsync
// talks to, naming the key that holds the ARN and what to do.
func resolveRegion(awsCfg *aws.Config, cfg *config.Config) error {
	from := regionSource()
	var first targetGroupKey
	for _, tg := range targetGroupKeys(cfg) {
		a, err := arn.Parse(tg.arn)
		if err != nil {
			continue // config validation already named it
		}
		if awsCfg.Region == "" {
			awsCfg.Region, first = a.Region, tg
			continue
		}
		if a.Region == awsCfg.Region {
			continue
		}
		if first.key != "" {
			return fmt.Errorf("%s is a target group in %s, but %s is in %s: one tgsync works in one Region: "+
				"put the bindings of each Region in a config of their own and run one tgsync per config",
				tg.key, a.Region, first.key, awsCfg.Region)
		}
		return fmt.Errorf("%s is a target group in %s, but tgsync talks to %s (%s): put the ARN of a target group in %s there, "+
			"or move the binding to a config of its own and run it with AWS_REGION=%s",
			tg.key, a.Region, awsCfg.Region, from, awsCfg.Region, a.Region)
	}
	if awsCfg.Region == "" {
		return fmt.Errorf("no AWS region: set AWS_REGION")
	}
	return nil
}

// regionSource says where the SDK's Region came from, for a message.
func regionSource() string {
	switch {
	case os.Getenv("AWS_REGION") != "":
		return "AWS_REGION"
	case os.Getenv("AWS_DEFAULT_REGION") != "":
		return "AWS_DEFAULT_REGION"
	case os.Getenv("AWS_PROFILE") != "":
		return "the region of profile " + os.Getenv("AWS_PROFILE")
	}
	return "the region of the default profile"
}
