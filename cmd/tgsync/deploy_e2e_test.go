package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/lambdatest"
	"github.com/tgsync/tgsync/internal/testenv"
)

// deployWorld is moto with a VPC, two target groups and a DNS server, the
// Lambda Invoke stand-in in front of moto, and the CLI's environment
// pointed at both.
type deployWorld struct {
	moto    *testenv.Moto
	cfg     aws.Config
	vpc     *testenv.VPC
	dns     *dnstest.Server
	invoker *lambdaInvoker
	groups  [2]string
	zip     string // the package for --package
	dir     string
	// codeBucket is the world's own --code-bucket: the default is one per
	// account and Region, which the tests' shared moto would share.
	codeBucket string
}

const (
	deployDashboards = "vpc-logs-deploy.us-east-1.es.amazonaws.com"
	deployWeb        = "internal-web-deploy.us-east-1.elb.amazonaws.com"
)

var (
	deployDashboardsIPs = []string{"10.40.1.17", "10.40.2.23"}
	deployWebIPs        = []string{"10.50.1.5", "10.50.2.6", "10.50.3.7"}
)

func newDeployWorld(t *testing.T) *deployWorld {
	t.Helper()
	m := motoSetenv(t)
	w := &deployWorld{moto: m, cfg: m.AWSConfig(), zip: testenv.LambdaPackage(t).Zip, dir: t.TempDir(),
		codeBucket: testenv.UniqueName("tgsync-code")}
	w.invoker = startLambdaInvoker(t, m)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", w.invoker.URL)
	w.dns = testenv.DNS(t)
	w.dns.SetA(deployDashboards, 60, addrs(deployDashboardsIPs)...)
	w.dns.SetA(deployWeb, 60, addrs(deployWebIPs)...)
	w.vpc = testenv.NewVPC(t, w.cfg, "10.70.0.0/16")
	w.groups = [2]string{w.vpc.IPTargetGroup(t, elbtypes.ProtocolEnumHttps, 443), w.vpc.IPTargetGroup(t, elbtypes.ProtocolEnumHttps, 8443)}
	return w
}

func addrs(ips []string) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		out = append(out, netip.MustParseAddr(ip))
	}
	return out
}

func withPort(ips []string, port int) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, fmt.Sprintf("%s:%d", ip, port))
	}
	slices.Sort(out)
	return out
}

// config writes a config with the dashboards binding, and the web binding
// when web is set, with comments that deploy leaves out.
func (w *deployWorld) config(t *testing.T, name string, web bool, extra string) string {
	t.Helper()
	yml := fmt.Sprintf(`# tgsync for the dashboards, deployed with tgsync deploy
dns:
  lookups: 2   # the test's DNS server answers in full
bindings:
  - name: dashboards
    source:
      dns: %s
    targetGroupArn: %s
    ports: [443]
`, deployDashboards, w.groups[0])
	if web {
		yml += fmt.Sprintf("  - name: web\n    source: {dns: %s}\n    targetGroupArn: %s\n    ports: [8443]\n", deployWeb, w.groups[1])
	}
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(yml+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deploy runs tgsync deploy in process with the stack, the package, the
// world's code bucket and the test's DNS server as the stack's DnsServers.
func (w *deployWorld) deploy(t *testing.T, stack, cfgPath string, more ...string) result {
	t.Helper()
	args := []string{"deploy", "--config", cfgPath, "--stack", stack, "--package", w.zip, "--param", "DnsServers=" + w.dns.Addr()}
	if w.codeBucket != "" {
		args = append(args, "--code-bucket", w.codeBucket)
	}
	args = append(args, more...)
	return w.cli(t, args...)
}

func (w *deployWorld) cli(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &CLI{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := c.Main(ctx, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// stack returns the stack, or nil when there is none.
func (w *deployWorld) stack(t *testing.T, name string) *stackInfo {
	t.Helper()
	out, err := cfn.NewFromConfig(w.cfg).DescribeStacks(context.Background(), &cfn.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil
		}
		t.Fatalf("DescribeStacks: %v", err)
	}
	st := out.Stacks[0]
	info := &stackInfo{status: string(st.StackStatus), params: map[string]string{}, outputs: map[string]string{}}
	for _, p := range st.Parameters {
		info.params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	for _, o := range st.Outputs {
		info.outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return info
}

type stackInfo struct {
	status          string
	params, outputs map[string]string
}

// functionEnv reads the deployed function's environment back from moto.
func (w *deployWorld) functionEnv(t *testing.T, function string) (map[string]string, string) {
	t.Helper()
	fc, err := lambda.NewFromConfig(w.cfg).GetFunctionConfiguration(context.Background(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(function)})
	if err != nil {
		t.Fatalf("GetFunctionConfiguration: %v", err)
	}
	return fc.Environment.Variables, aws.ToString(fc.FunctionArn)
}

func (w *deployWorld) bucketExists(t *testing.T, bucket string) bool {
	t.Helper()
	_, err := testenv.S3(w.cfg).HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	return err == nil
}

func wantLines(t *testing.T, what, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, l) {
			t.Errorf("%s does not say %q:\n%s", what, l, text)
		}
	}
}

// TestDeployEndToEnd runs tgsync deploy against moto as a user would: a
// dry run, the create with its first run, a second deploy that changes
// nothing, a dry run and an update with a new config, and the deletes,
// with and without the state. Between them it runs the deployed function
// the way the schedule does: the packaged bootstrap with the environment
// read back from moto, a Scheduled Event, moto for ELB and S3.
func TestDeployEndToEnd(t *testing.T) {
	w := newDeployWorld(t)
	stack := testenv.UniqueName("tgsync-deploy")
	codeBucket := w.codeBucket
	one := w.config(t, "one.yaml", false, "")

	// A dry run of a new stack shows what it would create and leaves
	// nothing behind, not even the code bucket.
	res := w.deploy(t, stack, one, "--dry-run")
	if res.code != exitOK {
		t.Fatalf("dry run: %s", res)
	}
	wantLines(t, "the dry run", res.stdout, "Change set to create stack "+stack,
		"Add     Function (AWS::Lambda::Function)", "Add     Role (AWS::IAM::Role)",
		"parameter ConfigTargetGroupArns = "+w.groups[0], "parameter Architecture = ", "Dry run: nothing was changed")
	if st := w.stack(t, stack); st != nil {
		t.Errorf("the dry run left stack %s in %s", stack, st.status)
	}
	if w.bucketExists(t, codeBucket) {
		t.Errorf("the dry run created the code bucket %s", codeBucket)
	}

	// Create: the stack, its outputs and the first run's result.
	res = w.deploy(t, stack, one)
	if res.code != exitOK {
		t.Fatalf("create: %s", res)
	}
	wantLines(t, "the create", res.stdout, "Stack "+stack+": CREATE_COMPLETE", "Outputs:", "FunctionName", "StateBucketName",
		"First run: 1 binding(s), 0 failed, 2 change(s)", "register 10.40.1.17:443: in the answer for "+deployDashboards)
	wantLines(t, "the create's progress", res.stderr, "uploaded the package to s3://"+codeBucket+"/tgsync/lambda/", "created the code bucket")
	if got, want := testenv.Members(t, w.vpc.ELB, w.groups[0]), withPort(deployDashboardsIPs, 443); !slices.Equal(got, want) {
		t.Errorf("after the first run the group holds %v, want %v", got, want)
	}
	st := w.stack(t, stack)
	env, arn := w.functionEnv(t, st.outputs["FunctionName"])
	cfg, _, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the deployed function's environment: %v", err)
	}
	if want := "s3://" + st.outputs["StateBucketName"] + "/tgsync/"; cfg.State.S3 == nil || cfg.State.S3.String() != want {
		t.Errorf("the function's state = %+v, want %s", cfg.State, want)
	}
	if yml := env[config.EnvConfigYAML]; strings.Contains(yml, "#") {
		t.Errorf("the deployed config kept its comments:\n%s", yml)
	}
	w.scheduledRun(t, env, arn, st.outputs["StateObjectUrl"])

	// The same deploy again changes nothing and runs nothing.
	invoked := len(w.invoker.Invoked())
	res = w.deploy(t, stack, one)
	if res.code != exitOK {
		t.Fatalf("second deploy: %s", res)
	}
	wantLines(t, "the second deploy", res.stdout, "Stack "+stack+" is up to date: no updates are to be performed.", "FunctionName")
	if strings.Contains(res.stdout, "Change set") || strings.Contains(res.stderr, "uploaded") {
		t.Errorf("the second deploy made a change set or uploaded:\n%s\n%s", res.stdout, res.stderr)
	}
	if n := len(w.invoker.Invoked()); n != invoked {
		t.Errorf("the second deploy invoked the function (%d invocations, %d before)", n, invoked)
	}
	if got := w.stack(t, stack); got.status != "CREATE_COMPLETE" {
		t.Errorf("after the no-op the stack is %s, want CREATE_COMPLETE", got.status)
	}

	// A new config: the dry run shows the difference and changes nothing.
	two := w.config(t, "two.yaml", true, "")
	res = w.deploy(t, stack, two, "--dry-run")
	if res.code != exitOK {
		t.Fatalf("dry run of the update: %s", res)
	}
	wantLines(t, "the update's dry run", res.stdout, "Change set to update stack "+stack, "parameter ConfigYaml: the config changes",
		"+   - name: web", "parameter ConfigTargetGroupArns: "+w.groups[0]+" -> "+strings.Join(slices.Sorted(slices.Values(w.groups[:])), ","), "Dry run: nothing was changed")
	if got := w.stack(t, stack); got.params["ConfigYaml"] != st.params["ConfigYaml"] || got.status != "CREATE_COMPLETE" {
		t.Errorf("the dry run changed the stack: %s, ConfigYaml\n%s", got.status, got.params["ConfigYaml"])
	}

	// The update, and its first run with the new binding.
	res = w.deploy(t, stack, two)
	if res.code != exitOK {
		t.Fatalf("update: %s", res)
	}
	wantLines(t, "the update", res.stdout, "Stack "+stack+": UPDATE_COMPLETE", "First run: 2 binding(s), 0 failed, 3 change(s)",
		"register 10.50.1.5:8443")
	if got, want := testenv.Members(t, w.vpc.ELB, w.groups[1]), withPort(deployWebIPs, 8443); !slices.Equal(got, want) {
		t.Errorf("after the update the web group holds %v, want %v", got, want)
	}
	env, _ = w.functionEnv(t, st.outputs["FunctionName"])
	if !strings.Contains(env[config.EnvConfigYAML], "name: web") {
		t.Errorf("the function's config after the update:\n%s", env[config.EnvConfigYAML])
	}

	// Delete: the stack goes, the state stays.
	res = w.cli(t, "deploy", "--delete", "--stack", stack)
	if res.code != exitOK {
		t.Fatalf("delete: %s", res)
	}
	wantLines(t, "the delete", res.stdout, "Stack "+stack+": deleted.", "Kept the state, "+st.outputs["StateObjectUrl"])
	if got := w.stack(t, stack); got != nil {
		t.Errorf("after the delete the stack is %s", got.status)
	}
	if !w.bucketExists(t, st.outputs["StateBucketName"]) {
		t.Errorf("the delete removed the state bucket")
	}
	if res := w.cli(t, "deploy", "--delete", "--stack", stack); res.code != exitOK || !strings.Contains(res.stdout, "nothing to delete") {
		t.Errorf("deleting a deleted stack: %s", res)
	}
}

// TestDeployFirstRunFailsAndDeleteState deploys a config whose name does
// not resolve, with the default code bucket: the stack is there, the first
// run fails, and deploy says so with exit 1. --delete --delete-state then
// removes the stack's bucket.
func TestDeployFirstRunFailsAndDeleteState(t *testing.T) {
	w := newDeployWorld(t)
	stack := testenv.UniqueName("tgsync-fail")
	path := filepath.Join(w.dir, "nxdomain.yaml")
	yml := fmt.Sprintf("bindings:\n  - name: gone\n    source: {dns: gone.deploy.internal}\n    targetGroupArn: %s\n    ports: [443]\n", w.groups[0])
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	w.codeBucket = "" // the default: one per account and Region
	res := w.deploy(t, stack, path)
	if res.code != exitFailed {
		t.Fatalf("want exit 1 for a failed first run, got %s", res)
	}
	wantLines(t, "the deploy's progress", res.stderr, "s3://tgsync-deploy-123456789012-us-east-1/tgsync/lambda/")
	wantLines(t, "the deploy", res.stdout, "CREATE_COMPLETE", "First run: failed: BindingsFailed")
	wantLines(t, "the deploy's error", res.stderr, "the stack is deployed, but its first run failed")
	st := w.stack(t, stack)
	if st == nil {
		t.Fatal("the stack is gone")
	}
	bucket := st.outputs["StateBucketName"]
	res = w.cli(t, "deploy", "--delete", "--delete-state", "--stack", stack)
	if res.code != exitOK {
		t.Fatalf("delete: %s", res)
	}
	wantLines(t, "the delete", res.stdout, "Deleted the state bucket "+bucket)
	if w.bucketExists(t, bucket) {
		t.Errorf("the state bucket %s is still there", bucket)
	}
}

// scheduledRun runs the packaged bootstrap with the deployed function's
// environment, as read back from moto, and gives it the Scheduled Event
// of the stack's rule: it must succeed and write the state.
func (w *deployWorld) scheduledRun(t *testing.T, env map[string]string, arn, stateURL string) {
	t.Helper()
	var fnEnv []string
	for k, v := range env {
		fnEnv = append(fnEnv, k+"="+v)
	}
	p := startLambda(t, slices.Concat(lambdaEnv(t, w.moto), fnEnv))
	p.ready(t)
	ev, _ := json.Marshal(map[string]any{
		"version": "0", "id": "c4b1c5b6-0b5d-4c41-9a3d-6f0e0a2b7d11", "detail-type": "Scheduled Event", "source": "aws.events",
		"account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1",
		"resources": []string{"arn:aws:events:us-east-1:123456789012:rule/tgsync-schedule"}, "detail": map[string]any{},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := p.api.Invoke(ctx, lambdatest.Invocation{Payload: ev, Timeout: 50 * time.Second, FunctionARN: arn})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil {
		t.Fatalf("the scheduled run failed: %s: %s", res.Error.Type, res.Error.Message)
	}
	var sum struct {
		Bindings []struct {
			Binding    string
			Registered []string
		}
	}
	if err := json.Unmarshal(res.Response, &sum); err != nil || len(sum.Bindings) != 1 {
		t.Fatalf("the scheduled run answered %s (%v)", res.Response, err)
	}
	if got, want := slices.Sorted(slices.Values(sum.Bindings[0].Registered)), withPort(deployDashboardsIPs, 443); !slices.Equal(got, want) {
		t.Errorf("the scheduled run left %v registered, want %v", got, want)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(stateURL, "s3://"), "/")
	if _, err := testenv.S3(w.cfg).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Errorf("no state object %s after the scheduled run: %v", stateURL, err)
	}
}
