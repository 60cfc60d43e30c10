package main

import (
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgsync/tgsync"
)

// tgsync builds in two variants with the same commands:
//
//   - the full build (go build, make build): the CLI, the daemon with its
//     Prometheus /metrics, the demo, and the SDK's whole configuration
//     chain (variant_full.go);
//   - the Lambda package (make package, -tags tgsync_lambda), which leaves
//     out what a function never uses so that it stays small: /metrics
//     answers 404 and demo says where to run it, and the AWS
//     configuration comes from the environment alone (variant_lambda.go).
//
// Each variant file defines newDaemonMetrics, loadSDKConfig and
// demoCommand; both builds accept the demo's flags (demoFlags).
// deploy.go and deploy_lambda.go define runDeploy the same way.

// daemonMetrics is what 'run' reports each run to and serves on /metrics.
type daemonMetrics interface {
	Observe(res tgsync.RunResult, apiCalls, throttles map[string]int)
	Handler() http.Handler
}

// The demo's help, the same in both builds.
const (
	demoShort   = "play an OpenSearch node move on an embedded world; needs no AWS and no config"
	demoExample = `  tgsync demo
  tgsync demo --listen 127.0.0.1:8080   # and open the status page
  go run ./cmd/tgsync demo              # from the source`
)

// demoFlags declares the demo's flags.
func demoFlags(cmd *cobra.Command, step *time.Duration, listen *string) {
	cmd.Flags().DurationVar(step, "step", 400*time.Millisecond, "real time per simulated minute (3s with --listen, so the page can be watched)")
	cmd.Flags().StringVar(listen, "listen", "", "serve the status page on this `address` (e.g. 127.0.0.1:8080) during the story and after it, until interrupted")
}
