//go:build !tgsync_lambda

package main

import (
	"context"
	"runtime"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/obs"
)

// newDaemonMetrics returns the Prometheus metrics, with the build's
// version and every counter of the bindings at zero.
func newDaemonMetrics(bindings []tgsync.Binding) daemonMetrics { return startMetrics(bindings) }

func startMetrics(bindings []tgsync.Binding) *obs.Metrics {
	m := obs.NewMetrics()
	names := make([]string, len(bindings))
	for i, b := range bindings {
		names[i] = b.Name
	}
	m.Init(obs.BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}, names)
	return m
}

// loadSDKConfig loads the SDK's standard configuration: the environment,
// the shared config and credentials files with their profiles (SSO,
// assume role, credential_process, web identity) and the container and
// EC2 metadata endpoints.
func loadSDKConfig(ctx context.Context, apiOptions []func(*middleware.Stack) error) (aws.Config, error) {
	return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithAPIOptions(apiOptions))
}
