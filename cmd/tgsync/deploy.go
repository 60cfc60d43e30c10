//go:build !tgsync_lambda

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/deploy"
)

// runDeploy is 'tgsync deploy' (deployargs.go): the Lambda stack of
// deploy/cloudformation/tgsync.yaml from the config, in one command
// (internal/deploy does the work).
func runDeploy(ctx context.Context, c *CLI, g *globals, d *deployArgs) error {
	if msg := d.check(); msg != "" {
		return usageErrorf("%s", msg)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	// With -o json the text goes to stderr beside the progress, and
	// stdout gets the result alone.
	out := c.Stdout
	if g.output.json() {
		out = c.Stderr
	}
	var res *deploy.Result
	var err error
	if d.del {
		res, err = deleteStack(ctx, c, g, d, out)
	} else {
		res, err = deployStack(ctx, c, g, d, out)
	}
	exit := deployExit(err)
	if !g.output.json() {
		return exit
	}
	return writeDeployJSON(c, d, res, exit)
}

// writeDeployJSON writes the result of a deploy that did not stop at a
// usage error (exit 2 leaves stdout empty, as for every command), with
// the error that made it fail.
func writeDeployJSON(c *CLI, d *deployArgs, res *deploy.Result, exit error) error {
	var es *exitStatus
	if errors.As(exit, &es) && es.code == exitUsage {
		return exit
	}
	if res == nil {
		// Stopped before the deploy started (the AWS configuration).
		res = &deploy.Result{Stack: d.stack, Action: deploy.ActionNone, DryRun: d.dryRun}
	}
	if es != nil {
		res.Error = es.msg
	}
	if werr := writeJSON(c, res); werr != nil && exit == nil {
		return werr
	}
	return exit
}

// check finds flags that do not go together.
func (d *deployArgs) check() string {
	switch {
	case d.delState && !d.del:
		return "--delete-state goes with --delete"
	case d.del && (d.dryRun || d.pkg != "" || d.codeBucket != "" || d.subnets.set || d.groups.set || len(d.params) > 0):
		return "--delete takes --stack and --delete-state only"
	case d.timeout <= 0:
		return fmt.Sprintf("--timeout %s: want a positive duration", d.timeout)
	}
	return ""
}

// deployExit gives deploy's error its exit code; Main prints it.
func deployExit(err error) error {
	var ue *deploy.UsageError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue):
		return &exitStatus{code: exitUsage, msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &exitStatus{code: exitFailed, msg: err.Error() + ": CloudFormation goes on without waiting; see aws cloudformation describe-stacks"}
	default:
		return &exitStatus{code: exitFailed, msg: err.Error()}
	}
}

func deployStack(ctx context.Context, c *CLI, g *globals, d *deployArgs, out io.Writer) (*deploy.Result, error) {
	data, err := readConfigBytes(c, g)
	if err != nil {
		return nil, &deploy.UsageError{Err: fmt.Errorf("%w\n(write a config from 'tgsync validate --example', or point --config at one)", err)}
	}
	pkg, err := deployPackage(d.pkg)
	if err != nil {
		return nil, err
	}
	params := map[string]string{}
	for _, kv := range d.params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, &deploy.UsageError{Err: fmt.Errorf("--param %q: want KEY=VALUE", clip(kv, 100))}
		}
		params[k] = v
	}
	awsCfg, err := loadSDKConfig(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return deploy.Deploy(ctx, awsCfg, deploy.Options{
		Stack: d.stack, ConfigName: g.config, Config: data, Package: pkg, CodeBucket: d.codeBucket,
		Subnets: d.subnets.ptr(), SecurityGroups: d.groups.ptr(), Params: params,
		DryRun: d.dryRun, FirstRun: !d.noRun, Out: out, Log: c.Stderr,
	})
}

// deployPackage is the package of --package, or the one the binary
// carries.
func deployPackage(path string) (deploy.Package, error) {
	if path == "" {
		zip, ok := deploy.Bundled()
		if !ok {
			return deploy.Package{}, &deploy.UsageError{Err: errors.New("this tgsync carries no Lambda package (release binaries do, " +
				"built by make release): run make package and pass --package dist/tgsync-arm64.zip, or use a release binary")}
		}
		return deploy.ReadPackage(zip, "the "+deploy.BundledName+" carried by tgsync "+version)
	}
	f, err := os.Open(path)
	if err != nil {
		return deploy.Package{}, &deploy.UsageError{Err: fmt.Errorf("--package: %w", err)}
	}
	defer f.Close()
	zip, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return deploy.Package{}, &deploy.UsageError{Err: fmt.Errorf("--package: %w", err)}
	}
	p, err := deploy.ReadPackage(zip, path)
	if err != nil {
		return deploy.Package{}, &deploy.UsageError{Err: err}
	}
	return p, nil
}

// deleteStack is deploy --delete. Without a Region from the SDK's sources,
// it takes the one of the config's target groups.
func deleteStack(ctx context.Context, c *CLI, g *globals, d *deployArgs, out io.Writer) (*deploy.Result, error) {
	awsCfg, err := loadSDKConfig(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = configRegion(c, g)
	}
	return deploy.Delete(ctx, awsCfg, deploy.DeleteOptions{Stack: d.stack, State: d.delState, Out: out})
}

// configRegion is the Region of the config's target groups, or "".
func configRegion(c *CLI, g *globals) string {
	data, err := readConfigBytes(c, g)
	if err != nil {
		return ""
	}
	cfg, err := config.Parse(data)
	if err != nil {
		return ""
	}
	place, err := cfg.StackPlace()
	if err != nil {
		return ""
	}
	return place.Region
}
