package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { addCommand(deployCommand) }

// deployArgs are the flags of 'tgsync deploy'. The command is in every
// build, so that the Lambda package answers it with where to run deploy
// instead of an unknown command; runDeploy is the full build's
// (deploy.go) or that answer (deploy_lambda.go).
type deployArgs struct {
	stack           string
	subnets, groups optionalList
	params          []string
	pkg, codeBucket string
	dryRun, noRun   bool
	del, delState   bool
	timeout         time.Duration
}

func deployCommand(c *CLI, g *globals) *cobra.Command {
	var d deployArgs
	cmd := &cobra.Command{
		Use:   "deploy [flags]",
		Short: "create or update the Lambda stack from the config, and show its first run",
		Long: `Deploy the config as the Lambda stack of deploy/cloudformation/tgsync.yaml: check it the
way the stack runs it (no state section: the stack adds one), upload the Lambda package
this tgsync carries (a release binary does; else --package), create or update the stack,
wait, print its outputs and invoke the function once to show the first run. A deploy
that would change nothing says so and changes nothing. With -o json the text goes to
stderr and stdout gets one JSON document at the end: the action, the change set, the
status, the outputs, the first run, or what a delete did with the state. docs/deploy.md
has the details and the IAM policy the person deploying needs.`,
		Example: `  tgsync deploy --config tgsync.yaml
  tgsync deploy --config tgsync.yaml --dry-run
  tgsync deploy --config tgsync.yaml -o json > deploy.json
  tgsync deploy --subnets subnet-0a1b2c3d,subnet-0e1f2a3b --security-groups sg-0123456789abcdef0
  tgsync deploy --param CreateVpcEndpoints=true --param VpcId=vpc-0123456789abcdef0 --param RouteTableIds=rtb-0123456789abcdef0
  tgsync deploy --delete --stack tgsync`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDeploy(cmd.Context(), c, g, &d) },
	}
	d.register(cmd.Flags())
	configFlag(cmd, g)
	outputFlag(cmd, "text", "json is the result at the end {stack, region, action, changeSet, status, outputs, firstRun, state}, with the text on stderr")
	awsCommand(cmd, "  0  deployed, up to date, or deleted\n  1  an AWS call failed, the stack did not complete, or its first run failed\n  2  usage or config error; nothing was changed")
	return cmd
}

func (d *deployArgs) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.stack, "stack", "tgsync", "the stack `name`")
	fs.Var(&d.subnets, "subnets", "private subnet `IDs`, comma-separated, for the function (SubnetIds; an update keeps the stack's unless given, \"\" takes the function out of the VPC)")
	fs.Var(&d.groups, "security-groups", "security group `IDs`, comma-separated, with --subnets (SecurityGroupIds)")
	fs.StringArrayVar(&d.params, "param", nil, "another parameter of the template as `KEY=VALUE`, e.g. CreateVpcEndpoints=true (repeatable; an update keeps the stack's values of those not given)")
	fs.StringVar(&d.pkg, "package", "", "a Lambda package `zip` instead of the one this tgsync carries (tgsync_<version>_lambda_amd64.zip for x86_64, dist/tgsync-arm64.zip of make package)")
	fs.StringVar(&d.codeBucket, "code-bucket", "", "the `bucket` to upload the package to (default tgsync-deploy-<account>-<region>, created when missing)")
	fs.BoolVar(&d.dryRun, "dry-run", false, "show the change set and change nothing")
	fs.BoolVar(&d.noRun, "no-first-run", false, "do not invoke the function once after deploying")
	fs.BoolVar(&d.del, "delete", false, "delete the stack; the state bucket stays")
	fs.BoolVar(&d.delState, "delete-state", false, "with --delete: delete the state too (the bucket the stack created, or the state object in yours)")
	fs.DurationVar(&d.timeout, "timeout", 30*time.Minute, "how long to wait for CloudFormation")
}

// optionalList is a comma-separated list flag that knows whether it was
// given, so that "not given" keeps a stack's value and "" clears it.
type optionalList struct {
	set    bool
	values []string
}

func (l *optionalList) String() string { return strings.Join(l.values, ",") }
func (l *optionalList) Type() string   { return "ids" }

func (l *optionalList) Set(v string) error {
	l.set = true
	l.values = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.values = append(l.values, s)
		}
	}
	return nil
}

// ptr is the list when it was given, else nil.
func (l *optionalList) ptr() *[]string {
	if !l.set {
		return nil
	}
	v := append([]string{}, l.values...)
	return &v
}
