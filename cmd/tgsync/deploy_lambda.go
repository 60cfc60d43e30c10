//go:build tgsync_lambda

package main

import (
	"context"
	"flag"
	"fmt"
)

// deployFlags accepts deploy's flags and says where to run it: the Lambda
// package leaves out the CloudFormation client and the package it would
// deploy.
func deployFlags(fs *flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
	new(deployArgs).register(fs)
	return func(_ context.Context, c *CLI, _ *globals, _ []string) int {
		fmt.Fprintf(c.Stderr, "tgsync deploy: deploy is not part of the Lambda package; run it from a release binary or %s\n", fullBuild)
		return exitUsage
	}
}
