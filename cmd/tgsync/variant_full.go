//go:build !tgsync_lambda

package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"

	"github.com/tgsync/tgsync/internal/obs"
)

// newDaemonMetrics returns the Prometheus metrics.
func newDaemonMetrics() daemonMetrics { return obs.NewMetrics() }

// loadSDKConfig loads the SDK's standard configuration: the environment,
// the shared config and credentials files with their profiles (SSO,
// assume role, credential_process, web identity) and the container and
// EC2 metadata endpoints.
func loadSDKConfig(ctx context.Context, apiOptions []func(*middleware.Stack) error) (aws.Config, error) {
	return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithAPIOptions(apiOptions))
}
