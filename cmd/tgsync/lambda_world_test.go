package main

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/tgsync/tgsync/internal/lambdatest"
	"github.com/tgsync/tgsync/internal/testenv"
)

// lambdaBootstrap is the bootstrap of this machine's Lambda package.
func lambdaBootstrap(t testing.TB) string {
	t.Helper()
	return testenv.LambdaPackage(t).Bootstrap
}

// lambdaProc is the bootstrap running against a Runtime API harness.
type lambdaProc struct {
	api            *lambdatest.Server
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	started        time.Time
	done           chan struct{}
	waitErr        error
}

// lambdaEnv is what Lambda and the test world give every process: the
// function's identity and moto's endpoint and credentials, in a child
// environment of its own (testenv.ChildEnv).
func lambdaEnv(t testing.TB, m *testenv.Moto) []string {
	return testenv.ChildEnv(t, append([]string{
		"AWS_LAMBDA_FUNCTION_NAME=tgsync",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"LAMBDA_TASK_ROOT=/var/task",
	}, m.Env()...)...)
}

// startLambda runs the bootstrap with env as its whole environment, plus
// AWS_LAMBDA_RUNTIME_API.
func startLambda(t testing.TB, env []string) *lambdaProc {
	t.Helper()
	bin := lambdaBootstrap(t)
	api, err := lambdatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	p := &lambdaProc{api: api, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(slices.Clone(env), "AWS_LAMBDA_RUNTIME_API="+api.Addr())
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		api.Close()
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		api.Close()
		if t.Failed() {
			t.Logf("bootstrap stderr:\n%s\nstdout:\n%s", p.stderr, p.stdout)
		}
	})
	return p
}

// ready waits for the first GET next: init is done.
func (p *lambdaProc) ready(t testing.TB) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at, err := p.api.WaitNext(ctx)
	if err != nil {
		select {
		case <-p.done:
			t.Fatalf("bootstrap exited during init: %v", p.waitErr)
		default:
		}
		t.Fatal(err)
	}
	return at
}

func (p *lambdaProc) invoke(t testing.TB, payload string, timeout time.Duration) lambdatest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	res, err := p.api.Invoke(ctx, lambdatest.Invocation{Payload: []byte(payload), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// exitCode waits for the process to end.
func (p *lambdaProc) exitCode(t testing.TB) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("bootstrap did not exit")
	}
	return p.cmd.ProcessState.ExitCode()
}

// peakRSS reads the process's peak resident set size, in bytes.
func (p *lambdaProc) peakRSS(t testing.TB) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// lambdaWorld is the AWS side of a bootstrap test.
type lambdaWorld struct{ *testenv.World }

func newLambdaWorld(t testing.TB) *lambdaWorld {
	t.Helper()
	return &lambdaWorld{testenv.NewWorld(t, "tgsync-lt")}
}

// targetGroup creates an ip target group on port.
func (w *lambdaWorld) targetGroup(t testing.TB, port int32) string {
	t.Helper()
	return w.VPC.IPTargetGroup(t, types.ProtocolEnumHttps, port)
}

// loadBalancer creates an internal ALB whose listener forwards to the
// target group forward.
func (w *lambdaWorld) loadBalancer(t testing.TB, forward string) string {
	t.Helper()
	return w.VPC.InternalALB(t, w.VPC.Subnets(t, "10.0.200.0/24", "10.0.201.0/24"), forward)
}

// name makes a fresh DNS name answer ips.
func (w *lambdaWorld) name(label string, ips ...string) string {
	name := label + "." + testenv.UniqueName("n") + ".lambda.internal"
	addrs := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		addrs[i] = netip.MustParseAddr(ip)
	}
	w.DNS.SetA(name, 60, addrs...)
	return name
}

// members lists a target group's targets as ip:port, sorted.
func (w *lambdaWorld) members(t testing.TB, arn string) []string {
	t.Helper()
	return testenv.Members(t, w.VPC.ELB, arn)
}
