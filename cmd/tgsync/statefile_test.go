package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

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
			config := writeFile(t, "tgsync.yaml", fmt.Sprintf(`dns:
  servers: ["127.0.0.1:1"]
state:
  file: %q
bindings:
  - name: b
    source: {dns: svc.cli.internal}
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cli/0123456789abcdef
    ports: [443]
`, state))
			env := testenv.ChildEnv(t, "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=http://127.0.0.1:1",
				"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_EC2_METADATA_DISABLED=true")
			bin := tgsyncBinary(t)
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
