package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/tgsync/tgsync/internal/lambdatest"
	"github.com/tgsync/tgsync/internal/testenv"
)

// lambdaInvoker stands in for Lambda's Invoke API, which moto 5.2 serves
// only by running functions in Docker: for a function moto holds it reads
// the function's configuration back from moto, runs the packaged bootstrap
// with exactly the function's environment under the Runtime API harness,
// and hands it the payload, answering as Lambda does (a function error is
// a 200 with X-Amz-Function-Error: Unhandled). A changed environment gets
// a new process, as an update gets a new execution environment in Lambda.
// Every other request goes to moto.
type lambdaInvoker struct {
	URL     string
	moto    *testenv.Moto
	lambda  *lambda.Client
	bin     string
	baseEnv []string
	proxy   *httputil.ReverseProxy

	mu      sync.Mutex
	env     []string // of the running process
	proc    *invokedProc
	invoked []string // the payloads, in order
}

type invokedProc struct {
	api    *lambdatest.Server
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

var invokePath = regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/invocations$`)

func startLambdaInvoker(t *testing.T, m *testenv.Moto) *lambdaInvoker {
	t.Helper()
	target, err := url.Parse(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	li := &lambdaInvoker{moto: m, lambda: lambda.NewFromConfig(m.AWSConfig()), bin: lambdaBootstrap(t),
		baseEnv: lambdaEnv(t, m), proxy: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(li)
	li.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		li.mu.Lock()
		defer li.mu.Unlock()
		if li.proc != nil {
			li.proc.stop()
			if t.Failed() {
				t.Logf("the invoked bootstrap's stderr:\n%s", li.proc.stderr)
			}
		}
	})
	return li
}

// Invoked returns the payloads invoked so far.
func (li *lambdaInvoker) Invoked() []string {
	li.mu.Lock()
	defer li.mu.Unlock()
	return slices.Clone(li.invoked)
}

func (li *lambdaInvoker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := invokePath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || m == nil {
		li.proxy.ServeHTTP(w, r)
		return
	}
	name, err := url.PathUnescape(m[1])
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status, header, body := li.invoke(r.Context(), name, payload)
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// invoke runs one synchronous invocation of the function name.
func (li *lambdaInvoker) invoke(ctx context.Context, name string, payload []byte) (int, map[string]string, []byte) {
	li.mu.Lock()
	defer li.mu.Unlock()
	li.invoked = append(li.invoked, string(payload))
	fc, err := li.lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	if err != nil {
		return http.StatusNotFound, nil, fmt.Appendf(nil, `{"Type":"User","message":%q}`, err.Error())
	}
	var env []string
	if fc.Environment != nil {
		for k, v := range fc.Environment.Variables {
			env = append(env, k+"="+v)
		}
	}
	slices.Sort(env)
	unhandled := map[string]string{"X-Amz-Function-Error": "Unhandled"}
	if li.proc == nil || !slices.Equal(env, li.env) {
		if li.proc != nil {
			li.proc.stop()
		}
		proc, err := li.start(env)
		if err != nil {
			return http.StatusInternalServerError, nil, fmt.Appendf(nil, `{"Type":"Service","message":%q}`, err.Error())
		}
		li.proc, li.env = proc, env
		initCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = li.proc.api.WaitNext(initCtx)
		cancel()
		if err != nil {
			repCtx, cancel := context.WithTimeout(ctx, time.Second)
			rep, rerr := li.proc.api.InitError(repCtx)
			cancel()
			li.proc.stop()
			li.proc = nil
			if rerr != nil {
				rep = lambdatest.ErrorReport{Type: "Runtime.ExitError", Message: err.Error()}
			}
			body, _ := json.Marshal(map[string]string{"errorType": rep.Type, "errorMessage": rep.Message})
			return http.StatusOK, unhandled, body
		}
	}
	res, err := li.proc.api.Invoke(ctx, lambdatest.Invocation{Payload: payload,
		Timeout: time.Duration(aws.ToInt32(fc.Timeout)) * time.Second, FunctionARN: aws.ToString(fc.FunctionArn)})
	if err != nil {
		return http.StatusInternalServerError, nil, fmt.Appendf(nil, `{"Type":"Service","message":%q}`, err.Error())
	}
	if res.Error != nil {
		body, _ := json.Marshal(map[string]string{"errorType": res.Error.Type, "errorMessage": res.Error.Message})
		return http.StatusOK, unhandled, body
	}
	return http.StatusOK, nil, res.Response
}

// start runs the bootstrap with the function's environment env on top of
// what Lambda and the test world give every process.
func (li *lambdaInvoker) start(env []string) (*invokedProc, error) {
	api, err := lambdatest.Start()
	if err != nil {
		return nil, err
	}
	p := &invokedProc{api: api, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(li.bin)
	p.cmd.Env = slices.Concat(li.baseEnv, env, []string{"AWS_LAMBDA_RUNTIME_API=" + api.Addr()})
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		api.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *invokedProc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
	p.api.Close()
}
