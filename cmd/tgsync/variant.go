package main

import (
	"net/http"

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
// Each variant file defines newDaemonMetrics, loadSDKConfig and demoFlags;
// deploy.go and deploy_lambda.go define deployFlags the same way.

// daemonMetrics is what 'run' reports each run to and serves on /metrics.
type daemonMetrics interface {
	Observe(res tgsync.RunResult, apiCalls map[string]int)
	Handler() http.Handler
}
