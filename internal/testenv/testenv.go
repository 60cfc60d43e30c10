// Package testenv starts the real tools tests run against: moto_server for
// AWS APIs, Chromium, make. A test that needs a missing tool skips, or fails
// when TGSYNC_REQUIRE_TOOLS=1 (as in CI), so that CI cannot go green by
// skipping; Main, the TestMain of every package that uses a tool, prints one
// line naming how many tests skipped and what they lacked.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region every test uses.
const Region = "us-east-1"

// RequireTools reports whether missing tools must fail tests.
func RequireTools() bool { return os.Getenv("TGSYNC_REQUIRE_TOOLS") == "1" }

// NeedTool skips the test when a tool is missing, or fails it when tools are
// required, and counts the skip for Main's report. It returns the tool's
// path.
func NeedTool(t testing.TB, names ...string) string {
	t.Helper()
	checkMain(t)
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	what := strings.Join(names, " or ") + " (not on PATH"
	if hint, ok := installHints[names[0]]; ok {
		what += "; " + hint
	}
	skipped.skip(t, what+")")
	return ""
}

// Moto is a running moto_server.
type Moto struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL string
	cmd *exec.Cmd
}

var (
	motoOnce sync.Once
	motoSrv  *Moto
	motoErr  error
)

// StartMoto returns the moto_server of this test process, starting it on a
// free loopback port the first time. Tests share it, so each test creates
// its own resources rather than resetting it. The server dies with the
// test process.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	bin := NeedTool(t, "moto_server")
	motoOnce.Do(func() { motoSrv, motoErr = startMoto(bin) })
	if motoErr != nil {
		t.Fatalf("start moto_server: %v", motoErr)
	}
	return motoSrv
}

// stopMoto stops the shared server; Run calls it after the tests.
func stopMoto() {
	if motoSrv != nil && motoSrv.cmd.Process != nil {
		_ = motoSrv.cmd.Process.Kill()
		_ = motoSrv.cmd.Wait()
	}
}

func startMoto(bin string) (*Moto, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &Moto{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(m.URL + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("moto_server on port %d did not answer within 30s", port)
}

// AWSConfig returns an SDK config pointed at moto with dummy credentials.
func (m *Moto) AWSConfig() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(m.URL),
	}
}

// Env returns the environment a child process needs to reach moto through
// the SDK's standard sources.
func (m *Moto) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + m.URL,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// ChildEnv is the whole environment of a child process: a HOME of its own,
// so that no shared AWS config or profile of the machine leaks in, and
// extra (such as Moto.Env).
func ChildEnv(t testing.TB, extra ...string) []string {
	home := t.TempDir()
	return append([]string{
		"HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "aws-credentials"),
	}, extra...)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Context returns a context that ends with the test, or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
