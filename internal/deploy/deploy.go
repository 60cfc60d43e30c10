// Package deploy creates, updates and deletes the Lambda stack of
// deploy/cloudformation/tgsync.yaml from a config file, which is what
// tgsync deploy does: it checks the config as the stack will run it,
// uploads the Lambda package, makes a change set from the template it
// carries, shows it (and stops there in a dry run), executes it, waits,
// and runs the function once to show the first run's result.
//
// A deploy that changes nothing is detected before any change set is
// made: the stack's template and parameters are compared with what would
// be submitted. The code is uploaded under a key made of its SHA-256, so
// an unchanged package leaves the parameters unchanged.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.yaml.in/yaml/v3"

	templates "github.com/tgsync/tgsync/deploy/cloudformation"
	"github.com/tgsync/tgsync/internal/config"
)

// UsageError is bad input: a config, a flag or a parameter to fix. Nothing
// was changed.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// DefaultStack is the stack name when none is given.
const DefaultStack = "tgsync"

// Options is one tgsync deploy.
type Options struct {
	Stack string
	// ConfigName names the config in messages; Config is its text.
	ConfigName string
	Config     []byte
	Package    Package
	// CodeBucket is where the package is uploaded; "" is
	// tgsync-deploy-<account>-<region>, created when missing.
	CodeBucket string
	// Subnets and SecurityGroups set SubnetIds and SecurityGroupIds when
	// not nil; an empty list clears them.
	Subnets, SecurityGroups *[]string
	// Params sets any other parameter of the template.
	Params map[string]string
	DryRun bool
	// FirstRun invokes the function once after a create or an update.
	FirstRun bool
	// Poll is the time between two looks at a change set or a stack in
	// progress; 0 is 2 seconds.
	Poll time.Duration
	// Out gets the text of the Result as the deploy goes (the change set,
	// the outputs, the first run), Log the progress; nil writes nothing.
	Out, Log io.Writer
}

// setByDeploy are the template's parameters tgsync deploy sets itself,
// with what to use instead of --param.
var setByDeploy = map[string]string{
	"CodeS3Bucket":            "--code-bucket",
	"CodeS3Key":               "the package's SHA-256",
	"Architecture":            "the package (--package)",
	"ConfigYaml":              "--config",
	"ConfigTargetGroupArns":   "the config's bindings",
	"SpotTargetGroupArns":     "the config's spotDrain section",
	"AssumeRoleArns":          "the config's roleArns",
	"NetworkInterfaceSources": "the config's sources (true when a binding reads network interfaces)",
	"DomainName":              "--config (tgsync deploy uses ConfigYaml)",
	"TargetGroupArn":          "--config (tgsync deploy uses ConfigYaml)",
	"Ports":                   "--config (tgsync deploy uses ConfigYaml)",
	"SubnetIds":               "--subnets",
	"SecurityGroupIds":        "--security-groups",
}

// plan is what a deploy will submit, checked without calling AWS.
type plan struct {
	Options
	res        *Result
	cfg        *config.Config
	place      config.Place
	configYAML string
	template   string
	params     []string        // the template's parameter names, sorted
	lists      map[string]bool // its CommaDelimitedList parameters
}

// commonDefaults fills in and checks the options a deploy and a delete
// share: the stack name, how often to poll, where the text goes.
func commonDefaults(stack *string, poll *time.Duration, out *io.Writer) error {
	if *stack == "" {
		*stack = DefaultStack
	}
	if !validStackName(*stack) {
		return usage("--stack %q: a stack name has 1 to 128 letters, digits and '-', and starts with a letter", *stack)
	}
	if *poll <= 0 {
		*poll = 2 * time.Second
	}
	if *out == nil {
		*out = io.Discard
	}
	return nil
}

// prepare checks everything that needs no AWS call.
func prepare(o Options) (*plan, error) {
	if err := commonDefaults(&o.Stack, &o.Poll, &o.Out); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	p := &plan{Options: o, template: string(templates.Lambda),
		res: &Result{Stack: o.Stack, Action: ActionNone, DryRun: o.DryRun}}
	var err error
	if p.params, p.lists, err = templateParameters(templates.Lambda); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(o.Params)) {
		if by, ok := setByDeploy[k]; ok {
			return nil, usage("--param %s: tgsync deploy sets it from %s", k, by)
		}
		if !slices.Contains(p.params, k) {
			return nil, usage("--param %s: the template has no such parameter; it has %s", k, strings.Join(settable(p.params), ", "))
		}
	}
	if p.cfg, err = config.ParseForStack(o.Config); err != nil {
		return nil, &UsageError{Err: withFile(err, o.ConfigName)}
	}
	compact, err := config.CompactForStack(o.Config)
	if err != nil {
		return nil, &UsageError{Err: withFile(err, o.ConfigName)}
	}
	if err := config.CheckStackSize(compact); err != nil {
		return nil, &UsageError{Err: withFile(err, o.ConfigName)}
	}
	p.configYAML = string(compact)
	if p.place, err = p.cfg.StackPlace(); err != nil {
		return nil, &UsageError{Err: withFile(err, o.ConfigName)}
	}
	if o.Params["NetworkInterfaceEvents"] == "true" && !p.cfg.UsesInterfaces() {
		return nil, usage("--param NetworkInterfaceEvents=true: no binding of %s reads network interfaces (loadBalancer, openSearch or networkInterfaces), "+
			"so no interface event concerns it; leave the parameter out", o.ConfigName)
	}
	if len(p.cfg.Bindings) == 0 {
		return nil, usage("%s: a stack needs at least one binding (its role may register only into the bindings' target groups)", o.ConfigName)
	}
	if p.Package.Zip == nil {
		return nil, usage("no Lambda package to deploy")
	}
	return p, nil
}

func withFile(err error, name string) error {
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		return ve.WithFile(name)
	}
	return err
}

// validStackName is CloudFormation's rule for stack names.
func validStackName(s string) bool {
	if len(s) == 0 || len(s) > 128 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	})
}

// templateParameters lists a template's parameter names, sorted, and
// those of type CommaDelimitedList.
func templateParameters(body []byte) (names []string, lists map[string]bool, err error) {
	var tpl struct {
		Parameters map[string]struct {
			Type string `yaml:"Type"`
		} `yaml:"Parameters"`
	}
	if err := yaml.Unmarshal(body, &tpl); err != nil {
		return nil, nil, fmt.Errorf("read the template: %w", err)
	}
	lists = map[string]bool{}
	for name, p := range tpl.Parameters {
		if p.Type == "CommaDelimitedList" {
			lists[name] = true
		}
	}
	return slices.Sorted(maps.Keys(tpl.Parameters)), lists, nil
}

func settable(params []string) []string {
	var out []string
	for _, p := range params {
		if _, ok := setByDeploy[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// clients are the AWS APIs a deploy calls.
type clients struct {
	cfn    *cloudformation.Client
	s3     *s3.Client
	sts    *sts.Client
	lambda *lambda.Client
}

func newClients(awsCfg aws.Config) clients {
	return clients{
		cfn: cloudformation.NewFromConfig(awsCfg),
		// Custom endpoints (moto, LocalStack) rarely resolve bucket
		// subdomains.
		s3:     s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil }),
		sts:    sts.NewFromConfig(awsCfg),
		lambda: lambda.NewFromConfig(awsCfg),
	}
}

// Deploy creates or updates the stack, writes the text of what it did to
// Out as it goes, and returns it as a Result: nil only when the options
// are refused before any AWS call, else as far as it got. Bad input is a
// *UsageError and changes nothing.
func Deploy(ctx context.Context, awsCfg aws.Config, o Options) (*Result, error) {
	p, err := prepare(o)
	if err != nil {
		return nil, err
	}
	return p.res, p.deploy(ctx, awsCfg)
}

func (p *plan) deploy(ctx context.Context, awsCfg aws.Config) error {
	o := p.Options
	switch {
	case awsCfg.Region == "":
		awsCfg.Region = p.place.Region
	case awsCfg.Region != p.place.Region:
		return usage("%s: the target groups are in %s, and AWS_REGION (or the profile) says %s: a function calls the ELB API of its own Region; deploy with AWS_REGION=%s",
			o.ConfigName, p.place.Region, awsCfg.Region, p.place.Region)
	}
	p.res.Region = awsCfg.Region
	c := newClients(awsCfg)
	id, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("who am I (sts:GetCallerIdentity): %w", err)
	}
	account := aws.ToString(id.Account)
	// The groups reached through roles may be in other accounts.
	if p.place.Account != "" && account != p.place.Account {
		return usage("%s: the target groups are in account %s, and these credentials are of account %s", o.ConfigName, p.place.Account, account)
	}
	p.logf("stack %s in %s, account %s", p.Stack, awsCfg.Region, account)
	p.logf("config %s: %d binding(s), %d of %d bytes as ConfigYaml", o.ConfigName, len(p.cfg.Bindings), len(p.configYAML), config.MaxStackConfig)
	p.logf("package: %s, %s, %.1f MB, sha256 %s", p.Package.Source, p.Package.Architecture, float64(len(p.Package.Zip))/1e6, p.Package.SHA256[:12])
	if p.CodeBucket == "" {
		p.CodeBucket = codeBucketName(account, awsCfg.Region)
	}

	st, err := describeStack(ctx, c.cfn, p.Stack)
	if err != nil {
		return err
	}
	if st != nil {
		switch s := string(st.StackStatus); {
		case s == string(cfntypes.StackStatusReviewInProgress):
			// A change set that was never executed (an earlier dry run
			// that was cut short): the stack has no resources yet.
			if err := deleteAndWait(ctx, c.cfn, p.Poll, aws.ToString(st.StackId)); err != nil {
				return err
			}
			st = nil
		case s == string(cfntypes.StackStatusRollbackComplete) && p.DryRun:
			return fmt.Errorf("stack %s failed to create and was rolled back (ROLLBACK_COMPLETE): it has no resources, and a deploy deletes it and creates it again", p.Stack)
		case s == string(cfntypes.StackStatusRollbackComplete):
			// A create that failed and left nothing but the stack, which
			// CloudFormation cannot update: start again.
			p.logf("stack %s failed to create before (ROLLBACK_COMPLETE): deleting it to create it again", p.Stack)
			if err := deleteAndWait(ctx, c.cfn, p.Poll, aws.ToString(st.StackId)); err != nil {
				return err
			}
			st = nil
		case strings.HasSuffix(s, "_IN_PROGRESS"):
			return fmt.Errorf("stack %s is busy (%s); wait for it to finish and deploy again", p.Stack, s)
		case strings.HasSuffix(s, "_FAILED"):
			return fmt.Errorf("stack %s is %s: %s; fix it in the CloudFormation console, or delete it with tgsync deploy --delete", p.Stack, s, aws.ToString(st.StackStatusReason))
		}
	}
	want := p.values()
	if st != nil {
		same, err := p.unchanged(ctx, c.cfn, st, want)
		if err != nil {
			return err
		}
		if same {
			p.res.Status, p.res.Outputs = string(st.StackStatus), outputsOf(st.Outputs)
			writeUpToDate(p.Out, p.res)
			return nil
		}
	}
	if p.DryRun {
		cs, err := p.createChangeSet(ctx, c.cfn, st, want)
		if err != nil || cs == nil {
			return err
		}
		return p.discard(ctx, c.cfn, cs, st == nil)
	}
	if err := upload(ctx, c.s3, p.CodeBucket, account, awsCfg.Region, p.Package, p.logf); err != nil {
		return err
	}
	return p.apply(ctx, c, st, want)
}

func (p *plan) logf(format string, args ...any) {
	fmt.Fprintf(p.Log, "tgsync deploy: "+format+"\n", args...)
}

// values are the parameters this deploy sets; the template's others keep
// their previous values, or take their defaults on a new stack.
func (p *plan) values() map[string]string {
	sync, spot := p.cfg.StackTargetGroups()
	v := map[string]string{
		"CodeS3Bucket":            p.CodeBucket,
		"CodeS3Key":               p.Package.codeKey(),
		"Architecture":            p.Package.Architecture,
		"ConfigYaml":              p.configYAML,
		"ConfigTargetGroupArns":   strings.Join(sync, ","),
		"SpotTargetGroupArns":     strings.Join(spot, ","),
		"AssumeRoleArns":          strings.Join(p.cfg.StackRoles(), ","),
		"NetworkInterfaceSources": fmt.Sprint(p.cfg.UsesInterfaces()),
		"DomainName":              "",
		"TargetGroupArn":          "",
	}
	if p.Subnets != nil {
		v["SubnetIds"] = strings.Join(*p.Subnets, ",")
	}
	if p.SecurityGroups != nil {
		v["SecurityGroupIds"] = strings.Join(*p.SecurityGroups, ",")
	}
	maps.Copy(v, p.Params)
	return v
}

// parameters turns values into CloudFormation's form: the rest of the
// template's parameters that the stack has (prev, its stackParameters)
// keep their previous values, passed as values (UsePreviousValue would do
// the same in CloudFormation, but moto takes it only for parameters given
// before, not defaults).
func (p *plan) parameters(want, prev map[string]string) []cfntypes.Parameter {
	var out []cfntypes.Parameter
	for _, k := range p.params {
		v, ok := want[k]
		if !ok {
			v, ok = prev[k]
		}
		if ok {
			out = append(out, cfntypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
		}
	}
	return out
}

// stackParameters are the stack's parameter values, a list's as
// CloudFormation returns and takes it: "a,b".
func (p *plan) stackParameters(st *cfntypes.Stack) map[string]string {
	m := stackParameters(st)
	for k, v := range m {
		if p.lists[k] {
			m[k] = pythonList(v)
		}
	}
	return m
}

func stackParameters(st *cfntypes.Stack) map[string]string {
	m := map[string]string{}
	if st != nil {
		for _, ps := range st.Parameters {
			m[aws.ToString(ps.ParameterKey)] = aws.ToString(ps.ParameterValue)
		}
	}
	return m
}

// pythonList turns moto's form of a CommaDelimitedList value, a Python
// list ("['a', 'b']"), into CloudFormation's ("a,b"); any other value is
// returned as it is.
func pythonList(v string) string {
	if !strings.HasPrefix(v, "['") || !strings.HasSuffix(v, "']") {
		return v
	}
	return strings.Join(strings.Split(v[2:len(v)-2], "', '"), ",")
}

// unchanged reports whether the stack already has the template and the
// parameters this deploy would submit.
func (p *plan) unchanged(ctx context.Context, c *cloudformation.Client, st *cfntypes.Stack, want map[string]string) (bool, error) {
	prev := p.stackParameters(st)
	for k, v := range want {
		if pv, ok := prev[k]; !ok || pv != v {
			return false, nil
		}
	}
	tpl, err := c.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: st.StackId, TemplateStage: cfntypes.TemplateStageOriginal})
	if err != nil {
		return false, fmt.Errorf("read the stack's template: %w", err)
	}
	return aws.ToString(tpl.TemplateBody) == p.template, nil
}

// describeStack returns the stack, or nil when there is none.
func describeStack(ctx context.Context, c *cloudformation.Client, name string) (*cfntypes.Stack, error) {
	out, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		if apiCode(err) == "ValidationError" && strings.Contains(err.Error(), "does not exist") {
			return nil, nil
		}
		return nil, fmt.Errorf("describe stack %s: %w", name, err)
	}
	if len(out.Stacks) == 0 {
		return nil, nil
	}
	return &out.Stacks[0], nil
}

// poll calls check every interval until it reports done, an error, or
// ctx ends; check runs at once first.
func poll(ctx context.Context, interval time.Duration, check func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		done, err := check()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
