package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startEcho builds testdata/echo, a function on aws-lambda-go's real
// runtime loop, and runs it against s.
func startEcho(t *testing.T, s *Server) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./testdata/echo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build echo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + s.Addr(), "HOME=" + t.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("echo stderr:\n%s", stderr.String())
		}
	})
}

// TestEchoThroughTheRealLoop drives aws-lambda-go's runtime client: it
// must find the documented headers and its answers must arrive as the
// documented bodies.
func TestEchoThroughTheRealLoop(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	startEcho(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.WaitNext(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		payload   string
		timeout   time.Duration
		wantError string // errorMessage; "" for success
		wantType  string
	}{
		{"echo", `{"hello":"world"}`, 5 * time.Second, "", ""},
		{"custom timeout", `{"n":1}`, 900 * time.Second, "", ""},
		{"handler error", `{"fail":"boom"}`, 0, "boom", "errorString"},
		{"panic", `{"panic":"oops"}`, 0, "oops", "string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Invoke(ctx, Invocation{Payload: []byte(tc.payload), Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantError != "" {
				if res.Error == nil || res.Error.Message != tc.wantError || res.Error.Type != tc.wantType {
					t.Fatalf("result %+v, error %+v; want error %q of type %s", res, res.Error, tc.wantError, tc.wantType)
				}
				return
			}
			var got struct {
				Echo        json.RawMessage `json:"echo"`
				DeadlineMs  int64           `json:"deadlineMs"`
				RequestID   string          `json:"requestId"`
				FunctionARN string          `json:"functionArn"`
			}
			if err := res.DecodeResponse(&got); err != nil {
				t.Fatal(err)
			}
			if string(got.Echo) != tc.payload || got.RequestID != res.RequestID || got.FunctionARN != DefaultFunctionARN {
				t.Errorf("function saw %+v; sent %s as %s", got, tc.payload, res.RequestID)
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = DefaultTimeout
			}
			if want := res.Taken.Add(timeout).UnixMilli(); got.DeadlineMs != want || res.Deadline.UnixMilli() != want {
				t.Errorf("function's deadline %d, harness %d; want %d", got.DeadlineMs, res.Deadline.UnixMilli(), want)
			}
		})
	}
	// The panic made the function exit after reporting it, as
	// aws-lambda-go does: nothing asks for the next invocation.
}

// TestProtocol checks the answers the harness gives to requests a runtime
// could get wrong.
func TestProtocol(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr() + "/2018-06-01/runtime/"
	post := func(path, errType string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		if errType != "" {
			req.Header.Set(HeaderErrorType, errType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name string
		path string
		body []byte
		want int
	}{
		{"response to an unknown request", "invocation/nope/response", []byte(`{}`), http.StatusBadRequest},
		{"error for an unknown request", "invocation/nope/error", []byte(`{}`), http.StatusBadRequest},
		{"unknown path", "invocation/x/other", nil, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.path, "", tc.body); got != tc.want {
				t.Errorf("POST %s = %d, want %d", tc.path, got, tc.want)
			}
		})
	}

	t.Run("init error", func(t *testing.T) {
		if got := post("init/error", "Config.Invalid", []byte(`{"errorMessage":"bad","errorType":"ConfigError"}`)); got != http.StatusAccepted {
			t.Fatalf("POST init/error = %d", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rep, err := s.InitError(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Message != "bad" || rep.Type != "ConfigError" || rep.TypeHeader != "Config.Invalid" {
			t.Errorf("init error = %+v", rep)
		}
	})

	t.Run("invocation by hand", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		type answer struct {
			res Result
			err error
		}
		done := make(chan answer, 1)
		go func() {
			r, err := s.Invoke(ctx, Invocation{Payload: []byte(`{"a":1}`), Timeout: 2 * time.Second})
			done <- answer{r, err}
		}()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"invocation/next", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get(HeaderRequestID)
		dl, err := strconv.ParseInt(resp.Header.Get(HeaderDeadlineMs), 10, 64)
		if id == "" || err != nil || resp.Header.Get(HeaderFunctionARN) == "" || !strings.HasPrefix(resp.Header.Get(HeaderTraceID), "Root=") {
			t.Fatalf("next headers: %v", resp.Header)
		}
		if left := time.Until(time.UnixMilli(dl)); left <= 0 || left > 2*time.Second {
			t.Errorf("deadline is %s away, want within the 2s timeout", left)
		}
		if got := post("invocation/"+id+"/response", "", bytes.Repeat([]byte("x"), MaxResponse+1)); got != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized response: %d, want 413", got)
		}
		if got := post("invocation/"+id+"/error", "Function.X", []byte(`{"errorMessage":"no","errorType":"X"}`)); got != http.StatusAccepted {
			t.Fatalf("POST error = %d", got)
		}
		if got := post("invocation/"+id+"/response", "", []byte(`{}`)); got != http.StatusBadRequest {
			t.Errorf("second answer to %s: %d, want 400", id, got)
		}
		a := <-done
		if a.err != nil || a.res.Error == nil || a.res.Error.Message != "no" || a.res.Error.TypeHeader != "Function.X" || a.res.Response != nil {
			t.Errorf("Invoke = %+v, %v", a.res, a.err)
		}
		if s.Nexts() != 1 {
			t.Errorf("Nexts = %d", s.Nexts())
		}
	})
}

func TestCloseEndsWaits(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Invoke(context.Background(), Invocation{Payload: []byte(`{}`)})
		done <- err
	}()
	// The function takes the invocation, so Invoke waits for its answer
	// when the server closes.
	resp, err := http.Get("http://" + s.Addr() + "/2018-06-01/runtime/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Invoke succeeded on a closed server")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Invoke still waiting after Close")
	}
}
