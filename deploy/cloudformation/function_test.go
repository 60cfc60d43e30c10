package cloudformation

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/lambdatest"
)

// runningFunction is the packaged bootstrap running under a Runtime API.
type runningFunction struct {
	api    *lambdatest.Server
	config fnConfig
	stderr *bytes.Buffer
}

// startFunction runs the bootstrap with exactly the function's environment,
// plus moto's endpoint and credentials, the Runtime API and the test's DNS
// server in TGSYNC_DNS_SERVERS (the only variable it replaces).
func startFunction(ctx context.Context, t *testing.T, p pkg, fc fnConfig, motoEnv []string, dnsAddr string) *runningFunction {
	t.Helper()
	api, err := lambdatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	var env []string
	for k, v := range fc.env {
		if k != "TGSYNC_DNS_SERVERS" {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, motoEnv...)
	env = append(env,
		"AWS_LAMBDA_RUNTIME_API="+api.Addr(),
		"TGSYNC_DNS_SERVERS="+dnsAddr,
		"AWS_LAMBDA_FUNCTION_NAME="+fc.arn[strings.LastIndex(fc.arn, ":")+1:],
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"TZ=UTC",
	)
	cmd := exec.Command(p.bootstrap)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	stderr := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bootstrap: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("bootstrap output:\n%s", stderr)
		}
	})
	fn := &runningFunction{api: api, config: fc, stderr: stderr}
	waitCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := api.WaitNext(waitCtx); err != nil {
		initCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if rep, ierr := api.InitError(initCtx); ierr == nil {
			t.Fatalf("init failed: %s: %s", rep.Type, rep.Message)
		}
		t.Fatalf("the function did not start: %v", err)
	}
	return fn
}

func (fn *runningFunction) invoke(ctx context.Context, t *testing.T, payload []byte) lambdatest.Result {
	t.Helper()
	res, err := fn.api.Invoke(ctx, lambdatest.Invocation{Payload: payload, Timeout: fn.config.timeout, FunctionARN: fn.config.arn})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil {
		t.Fatalf("invocation failed: %s: %s", res.Error.Type, res.Error.Message)
	}
	return res
}

// scheduled invokes the Scheduled Event the schedule rule sends.
func (fn *runningFunction) scheduled(ctx context.Context, t *testing.T, out map[string]string) {
	t.Helper()
	ev := map[string]any{
		"version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
		"detail-type": "Scheduled Event", "source": "aws.events",
		"account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1",
		"resources": []string{"arn:aws:events:us-east-1:123456789012:rule/" + out["ScheduleRuleName"]},
		"detail":    map[string]any{},
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	fn.invoke(ctx, t, payload)
}

// spotTaskIP is the task address in the shipped sample event.
const spotTaskIP = "10.20.3.41"

// spotInterruption invokes the shipped sample of a Fargate Spot
// interruption warning, dated now.
func (fn *runningFunction) spotInterruption(ctx context.Context, t *testing.T) {
	t.Helper()
	data, err := os.ReadFile("../../ecsevent/testdata/fargate-spot-interruption.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"`+spotTaskIP+`"`)) {
		t.Fatalf("the sample event no longer names %s", spotTaskIP)
	}
	ev["time"] = time.Now().UTC().Format(time.RFC3339)
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	fn.invoke(ctx, t, payload)
}

// interfaceCreated invokes the shipped sample of a CloudTrail
// CreateNetworkInterface event, for interface id with its description and
// address.
func (fn *runningFunction) interfaceCreated(ctx context.Context, t *testing.T, id, description, ip string) {
	t.Helper()
	data, err := os.ReadFile("../../eni/testdata/create-elb.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	ni := ev["detail"].(map[string]any)["responseElements"].(map[string]any)["networkInterface"].(map[string]any)
	ni["networkInterfaceId"], ni["description"], ni["privateIpAddress"] = id, description, ip
	ni["privateIpAddressesSet"] = map[string]any{"item": []any{map[string]any{"privateIpAddress": ip, "primary": true}}}
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	fn.invoke(ctx, t, payload)
}
