package main

import (
	"flag"
	"strings"
	"time"
)

// deployArgs are the flags of 'tgsync deploy', in every build, so that the
// Lambda package answers them with where to run deploy instead of a flag
// error.
type deployArgs struct {
	stack           string
	subnets, groups optionalList
	params          stringList
	pkg, codeBucket string
	dryRun, noRun   bool
	del, delState   bool
	timeout         time.Duration
}

func (d *deployArgs) register(fs *flag.FlagSet) {
	fs.StringVar(&d.stack, "stack", "tgsync", "the stack `name`")
	fs.Var(&d.subnets, "subnets", "private subnet `IDs`, comma-separated, for the function (SubnetIds; an update keeps the stack's unless given, \"\" takes the function out of the VPC)")
	fs.Var(&d.groups, "security-groups", "security group `IDs`, comma-separated, with --subnets (SecurityGroupIds)")
	fs.Var(&d.params, "param", "another parameter of the template as `KEY=VALUE`, e.g. CreateVpcEndpoints=true (repeatable; an update keeps the stack's values of those not given)")
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
