//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package filestore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// envSignal runs the helper that loads or saves ("load|path", "save|path")
// with the context cmd/tgsync's main makes, which SIGINT and SIGTERM
// cancel.
const envSignal = "TGSYNC_FILESTORE_SIGNAL"

func init() { helpers[envSignal] = signalHelper }

// signalHelper prints "ready" when it is about to wait (before a load, or
// once a save finds the lock taken), then reports the store's error on
// stderr and exits 1.
func signalHelper(spec string) int {
	op, path, _ := strings.Cut(spec, "|")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := func() { fmt.Println("ready") }
	s := New(path)
	var err error
	switch op {
	case "load":
		ready()
		_, _, err = s.Load(ctx)
	case "save":
		testHookLockBusy = ready
		_, err = s.Save(ctx, tgsync.NewState(), "")
	default:
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestSignalEndsWait runs a process that loads a FIFO, or saves while this
// test holds the lock, and sends it SIGTERM or SIGINT once it waits: it
// must exit within seconds with an error that says why, not hang until
// killed.
func TestSignalEndsWait(t *testing.T) {
	tests := []struct {
		name string
		op   string
		sig  os.Signal
		want []string
	}{
		// The refusal may come before the signal or after it: either way
		// the load must not block. TestNotRegularFile checks its message.
		{"load of a FIFO, SIGTERM", "load", syscall.SIGTERM, []string{"load state file"}},
		{"save waiting for the lock, SIGTERM", "save", syscall.SIGTERM, []string{"another process holds it", "context canceled"}},
		{"save waiting for the lock, SIGINT", "save", os.Interrupt, []string{"another process holds it", "context canceled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			switch tt.op {
			case "load":
				if err := syscall.Mkfifo(path, 0o600); err != nil {
					t.Fatal(err)
				}
			case "save":
				unlock, err := lock(context.Background(), path+".lock")
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
			}
			cmd := helperCmd(envSignal, tt.op+"|"+path)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			if err := within(t, "the helper's start", func() error {
				l, err := bufio.NewReader(stdout).ReadString('\n')
				if l != "ready\n" {
					return fmt.Errorf("helper said %q (%v), want ready", l, err)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			if err := cmd.Process.Signal(tt.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Fatal(err)
			}
			err = within(t, "the helper after "+tt.sig.String(), cmd.Wait)
			t.Logf("exited %v after the signal", time.Since(sent).Round(time.Millisecond))
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("helper: got %v, want exit 1 with the store's error; stderr: %s", err, stderr.String())
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), w)
				}
			}
		})
	}
}
