package cloudformation

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/testenv"
)

// daemonTemplatePath is the ECS Fargate template.
const daemonTemplatePath = "tgsync-daemon.yaml"

// TestDaemonStack creates the daemon stack in moto, reads back the task
// definition, the service, both roles and the security group, and then
// runs the container's command with the container's environment (the
// binary of make build in place of the image) until the target group
// holds the DNS answer and the container's health check passes.
//
// moto 5.2 keeps of an AWS::ECS::TaskDefinition made by CloudFormation
// only its family, container definitions and memory, and of an
// AWS::ECS::Service its cluster, task definition and desired count; it
// starts no task. The network mode, the Fargate settings, the roles on the
// task definition and the service's network configuration are checked by
// TestDaemonTemplate.
func TestDaemonStack(t *testing.T) {
	moto := testenv.StartMoto(t)
	testenv.NeedTool(t, "python3")
	bin := testenv.CLI(t)
	cfg := moto.AWSConfig()
	ctx := testenv.Context(t, 3*time.Minute)
	body, err := os.ReadFile(daemonTemplatePath)
	if err != nil {
		t.Fatal(err)
	}
	dns := testenv.DNS(t)
	dns.SetA(openSearchName, 30, openSearchIPs...)
	nw := newNetwork(ctx, t, cfg, 150)
	group := nw.targetGroup(ctx, t, 443)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// The test's DNS server stands in for the VPC resolver.
	yml := fmt.Sprintf("dns:\n  servers: [%q]\nbindings:\n  - name: dashboards\n    source: {dns: %s}\n    targetGroupArn: %s\n    ports: [443]\n",
		dns.Addr(), openSearchName, group)
	params := map[string]string{
		"Image": "ghcr.io/tgsync/tgsync:v1.2.3", "ConfigYaml": yml, "ConfigTargetGroupArns": group,
		"SubnetIds": strings.Join(nw.subnets, ","), "VpcId": nw.ID, "StatusCidr": "10.150.0.0/16",
		"StatusPort": fmt.Sprint(port), "Interval": "30s",
	}
	stack := testenv.UniqueName("tgsyncd")
	out := launchStack(ctx, t, cfg, stack, string(body), params)
	for _, k := range []string{"ClusterName", "ServiceName", "TaskRoleArn", "ExecutionRoleArn", "LogGroupName", "StateBucketName", "StateObjectUrl", "SecurityGroupId", "StatusPort"} {
		if out[k] == "" {
			t.Errorf("output %s is missing (outputs: %v)", k, out)
		}
	}
	if want := "/ecs/" + stack; out["LogGroupName"] != want {
		t.Errorf("LogGroupName = %s, want %s", out["LogGroupName"], want)
	}

	container := daemonContainer(ctx, t, cfg, out)
	checkDaemonContainer(t, container, port, out, "1")
	checkRolePolicy(ctx, t, cfg, out["TaskRoleArn"], "tgsync", []grant{
		baseGrants(out["StateBucketName"], "tgsync/", "")[0], // DescribeTargetGroups
		baseGrants(out["StateBucketName"], "tgsync/", "")[1], // FindStateObject
		baseGrants(out["StateBucketName"], "tgsync/", "")[2], // ReadWriteState
		syncGrant("SyncConfigTargetGroups", group),
	})
	checkRolePolicy(ctx, t, cfg, out["ExecutionRoleArn"], "start-tgsync", []grant{
		{Sid: "WriteLogs", Effect: "Allow", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: []string{"arn:aws:logs:us-east-1:123456789012:log-group:" + out["LogGroupName"] + ":*"}},
	})
	checkStatusSecurityGroup(ctx, t, cfg, out["SecurityGroupId"], port, "10.150.0.0/16")

	runContainer(ctx, t, bin, container, moto.Env())
	if got, want := testenv.Members(t, nw.ELB, group), ipPorts(openSearchIPs, 443); !slices.Equal(got, want) {
		t.Errorf("target group holds %v, want the DNS answer %v", got, want)
	}
	stateObjectExists(ctx, t, cfg, out["StateObjectUrl"])

	// A config with a target group of another account, read from network
	// interfaces, its state in shards: the task role may assume that
	// account's role and read interfaces, and the task runs with
	// TGSYNC_SHARDS.
	const role = "arn:aws:iam::444455556666:role/tgsync-target"
	params["AssumeRoleArns"], params["NetworkInterfaceSources"], params["Shards"] = role, "true", "3"
	params["StatePrefix"] = "sharded/"
	out = launchStack(ctx, t, cfg, testenv.UniqueName("tgsyncd"), string(body), params)
	checkDaemonContainer(t, daemonContainer(ctx, t, cfg, out), port, out, "3")
	base := baseGrants(out["StateBucketName"], "sharded/", "")
	want := withGrants(base[:3], syncGrant("SyncConfigTargetGroups", group),
		grant{Sid: "AssumeTargetAccountRoles", Effect: "Allow", Actions: []string{"sts:AssumeRole"}, Resources: []string{role}},
		grant{Sid: "ReadNetworkInterfaces", Effect: "Allow", Actions: []string{"ec2:DescribeNetworkInterfaces"}, Resources: []string{"*"}})
	checkRolePolicy(ctx, t, cfg, out["TaskRoleArn"], "tgsync", want)
}

// daemonContainer reads the service's task definition back from ECS and
// returns its one container.
func daemonContainer(ctx context.Context, t *testing.T, cfg aws.Config, out map[string]string) ecstypes.ContainerDefinition {
	t.Helper()
	c := ecs.NewFromConfig(cfg)
	svc, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(out["ClusterName"]), Services: []string{out["ServiceName"]}})
	if err != nil {
		t.Fatalf("DescribeServices: %v", err)
	}
	if len(svc.Services) != 1 {
		t.Fatalf("DescribeServices found %d services, want 1 (failures %v)", len(svc.Services), svc.Failures)
	}
	if got := svc.Services[0].DesiredCount; got != 1 {
		t.Errorf("DesiredCount = %d, want one task", got)
	}
	td, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: svc.Services[0].TaskDefinition})
	if err != nil {
		t.Fatalf("DescribeTaskDefinition: %v", err)
	}
	if n := len(td.TaskDefinition.ContainerDefinitions); n != 1 {
		t.Fatalf("the task has %d containers, want 1", n)
	}
	return td.TaskDefinition.ContainerDefinitions[0]
}

// checkDaemonContainer checks what the container runs with: the image,
// the status port, the logs, and a config whose state is the stack's.
func checkDaemonContainer(t *testing.T, ct ecstypes.ContainerDefinition, port int, out map[string]string, shards string) {
	t.Helper()
	if got := aws.ToString(ct.Image); got != "ghcr.io/tgsync/tgsync:v1.2.3" {
		t.Errorf("Image = %s", got)
	}
	if want := []string{"run", "--interval", "30s", "--listen", fmt.Sprintf(":%d", port), "--log-format", "json"}; !slices.Equal(ct.Command, want) {
		t.Errorf("Command = %q, want %q", ct.Command, want)
	}
	if len(ct.PortMappings) != 1 || aws.ToInt32(ct.PortMappings[0].ContainerPort) != int32(port) {
		t.Errorf("PortMappings = %+v, want the status port %d", ct.PortMappings, port)
	}
	if ct.HealthCheck == nil || !slices.Equal(ct.HealthCheck.Command, []string{"CMD", "/tgsync", "healthcheck", "--url", fmt.Sprintf("http://127.0.0.1:%d/healthz", port)}) {
		t.Errorf("HealthCheck = %+v, want tgsync healthcheck of /healthz on port %d", ct.HealthCheck, port)
	}
	if lc := ct.LogConfiguration; lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs || lc.Options["awslogs-group"] != out["LogGroupName"] {
		t.Errorf("LogConfiguration = %+v, want awslogs to %s", lc, out["LogGroupName"])
	}
	env := containerEnv(ct)
	if len(env) != 2 || env[config.EnvConfigYAML] == "" || env["TGSYNC_SHARDS"] != shards {
		t.Fatalf("Environment = %v, want TGSYNC_CONFIG_YAML and TGSYNC_SHARDS=%s", env, shards)
	}
	cfg, err := config.Parse([]byte(env[config.EnvConfigYAML]))
	if err != nil {
		t.Fatalf("TGSYNC_CONFIG_YAML does not parse: %v", err)
	}
	// The state section points where StateObjectUrl says.
	if want := strings.TrimSuffix(out["StateObjectUrl"], "tgsync-state.json"); cfg.State.S3 == nil || cfg.State.S3.String() != want {
		t.Errorf("state = %+v, want %s", cfg.State, want)
	}
}

func containerEnv(ct ecstypes.ContainerDefinition) map[string]string {
	env := map[string]string{}
	for _, kv := range ct.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	return env
}

// checkStatusSecurityGroup checks that the group the stack created admits
// the status port from cidr and nothing else.
func checkStatusSecurityGroup(ctx context.Context, t *testing.T, cfg aws.Config, id string, port int, cidr string) {
	t.Helper()
	sgs, err := ec2.NewFromConfig(cfg).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeSecurityGroups: %v", err)
	}
	var got []string
	for _, p := range sgs.SecurityGroups[0].IpPermissions {
		for _, r := range p.IpRanges {
			got = append(got, fmt.Sprintf("%s %d-%d from %s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort), aws.ToString(r.CidrIp)))
		}
		if len(p.UserIdGroupPairs)+len(p.Ipv6Ranges)+len(p.PrefixListIds) > 0 {
			t.Errorf("ingress %+v admits more than a CIDR", p)
		}
	}
	if want := []string{fmt.Sprintf("tcp %d-%d from %s", port, port, cidr)}; !slices.Equal(got, want) {
		t.Errorf("ingress = %v, want %v", got, want)
	}
}

// runContainer runs the container's command with its environment, as
// Fargate would run the image, but with the binary of make build, moto's
// endpoint, and --listen on loopback (the task listens on every interface
// of its own network namespace; a test listens on 127.0.0.1 only). After
// the first run it runs the container's health check, then stops the
// daemon with SIGTERM, as ECS does.
func runContainer(ctx context.Context, t *testing.T, bin string, ct ecstypes.ContainerDefinition, motoEnv []string) {
	t.Helper()
	args := slices.Clone(ct.Command)
	i := slices.Index(args, "--listen")
	if i < 0 || i+1 >= len(args) || !strings.HasPrefix(args[i+1], ":") {
		t.Fatalf("the command %q has no --listen :PORT", args)
	}
	args[i+1] = "127.0.0.1" + args[i+1]
	env := testenv.ChildEnv(t, motoEnv...)
	for k, v := range containerEnv(ct) {
		env = append(env, k+"="+v)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	finished := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), `"msg":"run finished"`) {
				once = true
				close(finished)
			}
		}
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-scanned
		t.Fatalf("the daemon finished no run:\n%s", logs.String())
	}

	check := ct.HealthCheck.Command
	if len(check) < 2 || check[0] != "CMD" || check[1] != "/tgsync" {
		t.Fatalf("health check %q is not CMD /tgsync ...", check)
	}
	hc := exec.CommandContext(ctx, bin, check[2:]...)
	hc.Env = testenv.ChildEnv(t)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("the container's health check failed: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-scanned
	if err := cmd.Wait(); err != nil {
		t.Errorf("the daemon did not stop cleanly on SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"daemon stopped"`) {
		t.Errorf("no 'daemon stopped' in the logs:\n%s", logs.String())
	}
}
