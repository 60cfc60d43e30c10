package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// runTgsync runs the binary to completion with env as its whole
// environment.
func runTgsync(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return runBinary(t, testenv.CLI(t), env, args...)
}

// runBinary runs bin to completion with env as its whole environment.
func runBinary(t testing.TB, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env, t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		res.code = exit.ExitCode()
	default:
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, res)
	}
	return res
}

// hasLine reports whether one line of out contains every part.
func hasLine(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestOnceRefusesStatePath runs the binary's once with state.file naming
// what is not a regular file. A FIFO blocked the process in open(2), deaf
// to SIGTERM, and /dev/zero grew it until the kernel killed it; each must
// now end the run at once with exit 1 and a line that names the path and
// says what to do. The state is loaded before any DNS or AWS call.
func TestOnceRefusesStatePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		make func(path string) error
		kind string
	}{
		{"named pipe", func(path string) error { return syscall.Mkfifo(path, 0o600) }, "a named pipe (FIFO)"},
		{"link to /dev/zero", func(path string) error { return os.Symlink("/dev/zero", path) }, "a character device"},
		{"directory", func(path string) error { return os.Mkdir(path, 0o700) }, "a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state := filepath.Join(t.TempDir(), "state.json")
			if err := tt.make(state); err != nil {
				t.Fatal(err)
			}
			config := unreachableConfig(t, state)
			env := unreachableEnv(t)
			bin := testenv.CLI(t)
			start := time.Now()
			res := runBinary(t, bin, env, "--config", config, "once")
			took := time.Since(start)
			if res.code != exitFailed || !hasLine(res.stderr, state, tt.kind, "not a regular file", "point state.file at a regular file") {
				t.Fatalf("want exit 1 and a line naming %s as %s, got %s", state, tt.kind, res)
			}
			if took > 10*time.Second {
				t.Errorf("once took %v to refuse the state path", took)
			}
		})
	}
}

// TestOnceStopsWaitingForTheLockOnSIGTERM: a run that waits for the state
// file's lock (another tgsync holds it) and has changed nothing in AWS
// ends at SIGTERM, at once, rather than when its save gives up.
func TestOnceStopsWaitingForTheLockOnSIGTERM(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state.json")
	lock, err := os.OpenFile(state+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// The lookup fails at once (nothing listens on port 1), so the run has
	// a failure to save and nothing to change.
	config := unreachableConfig(t, state)
	cmd := exec.Command(testenv.CLI(t), "--config", config, "once")
	cmd.Env = unreachableEnv(t)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Wait until the process holds the lock file open: it is waiting.
	waiting := func() bool {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", cmd.Process.Pid, fd.Name())); l == state+".lock" {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(20 * time.Second)
	for !waiting() {
		select {
		case err := <-exited:
			t.Fatalf("once exited (%v) before it waited for the lock: %s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("once never waited for the lock: %s", stderr.String())
		}
	}
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitFailed {
			t.Errorf("once exited with %v, want %d", err, exitFailed)
		}
		if took := time.Since(signalled); took > 2*time.Second {
			t.Errorf("once took %s to end after SIGTERM", took)
		}
		if !strings.Contains(stderr.String(), "save state") {
			t.Errorf("stderr does not say the state was not saved: %s", stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("once still waits 15s after SIGTERM: %s", stderr.String())
	}
}

// unreachableConfig is a config whose state is at state and whose DNS
// server and AWS endpoint refuse at once: a run has nothing to change.
func unreachableConfig(t *testing.T, state string) string {
	t.Helper()
	return writeFile(t, "tgsync.yaml", fmt.Sprintf(`dns:
  servers: ["127.0.0.1:1"]
state:
  file: %q
bindings:
  - name: b
    source: {dns: svc.cli.internal}
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cli/0123456789abcdef
    ports: [443]
`, state))
}

func unreachableEnv(t *testing.T) []string {
	return testenv.ChildEnv(t, "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true")
}
