//go:build tgsync_lambda

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
	"github.com/spf13/cobra"

	"github.com/tgsync/tgsync"
)

// The Lambda package. A function reports its runs as EMF lines, not on
// /metrics, has no use for the demo, and finds its credentials in the
// environment; leaving out Prometheus (with protobuf), the demo's
// embedded world and the SDK's providers for profiles, SSO, web identity
// and metadata endpoints keeps the bootstrap under 11 MB.
// TestLambdaPackageSize checks the size.

// fullBuild names the build that has what this one leaves out.
const fullBuild = "the full build (make build, or go build ./cmd/tgsync)"

// noMetrics stands in for the Prometheus metrics of 'run'.
type noMetrics struct{}

func newDaemonMetrics([]tgsync.Binding) daemonMetrics { return noMetrics{} }

func (noMetrics) Observe(tgsync.RunResult, map[string]int, map[string]int) {}

// Handler answers 404 and says which build serves /metrics.
func (noMetrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "404 /metrics: Prometheus metrics are not part of the Lambda package (built with -tags tgsync_lambda); run "+fullBuild+" for them", http.StatusNotFound)
	})
}

// loadSDKConfig reads the AWS configuration from the environment, where
// Lambda puts the function role's credentials and the Region.
func loadSDKConfig(_ context.Context, apiOptions []func(*middleware.Stack) error) (aws.Config, error) {
	cfg, err := sdkConfigFromEnv(apiOptions)
	if errors.Is(err, errNoEnvCredentials) {
		return aws.Config{}, fmt.Errorf("%w: the Lambda package reads AWS settings from the environment only; "+
			"for profiles, SSO, web identity, container or instance credentials use %s", err, fullBuild)
	}
	return cfg, err
}

// demoCommand accepts the demo's flags, so that any 'tgsync demo' gets
// the same answer: where to run it.
func demoCommand(c *CLI, _ *globals) *cobra.Command {
	var step time.Duration
	var listen string
	cmd := &cobra.Command{
		Use:     "demo [flags]",
		Short:   demoShort,
		Example: demoExample,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			return &exitStatus{code: exitUsage, msg: "the demo is not part of the Lambda package; run it from the source with: go run ./cmd/tgsync demo"}
		},
	}
	demoFlags(cmd, &step, &listen)
	return cmd
}
