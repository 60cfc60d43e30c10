//go:build tgsync_lambda

package main

import (
	"context"
	"fmt"
)

// runDeploy says where to run deploy: the Lambda package leaves out the
// CloudFormation client and the package it would deploy.
func runDeploy(context.Context, *CLI, *globals, *deployArgs) error {
	return &exitStatus{code: exitUsage, msg: fmt.Sprintf("deploy is not part of the Lambda package; run it from a release binary or %s", fullBuild)}
}
