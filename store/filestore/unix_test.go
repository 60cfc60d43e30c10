//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package filestore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/store/storetest"
)

// special makes something that is not a regular file at path: what a
// mistyped state.file can name.
type special struct {
	name string
	make func(t *testing.T, path string)
	kind string // how the error names it
}

var specials = []special{
	{"named pipe", func(t *testing.T, path string) {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}, "a named pipe (FIFO)"},
	// A link, so that a save's lock file lands in the test's directory
	// and not in /dev.
	{"link to /dev/zero", func(t *testing.T, path string) {
		if err := os.Symlink("/dev/zero", path); err != nil {
			t.Fatal(err)
		}
	}, "a character device"},
	{"socket", func(t *testing.T, path string) {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}, "a socket"},
	{"directory", func(t *testing.T, path string) {
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
	}, "a directory"},
}

// shortDir is a new directory with a short path: a socket's path must fit
// in about 100 bytes, and t.TempDir's include the test's name.
func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "fs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// within runs op and fails the test if it does not return within a few
// seconds: an open that blocks cannot be interrupted, so the test can
// only stop waiting for it.
func within(t *testing.T, what string, op func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		t.Fatalf("%s still blocked after 5s", what)
		return nil
	}
}

// TestNotRegularFile points the store at a FIFO, a device, a socket and a
// directory, as the state file and as its lock file: Load and Save return
// at once with an error that names the path, what it is and what to do,
// and leave it as it was.
func TestNotRegularFile(t *testing.T) {
	for _, sp := range specials {
		t.Run(sp.name, func(t *testing.T) {
			ctx := context.Background()
			dir := shortDir(t)
			path := filepath.Join(dir, "s")
			sp.make(t, path)
			before, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			s := New(path)
			check := func(op string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: want an error", op)
				}
				for _, want := range []string{path, sp.kind, "not a regular file", "point state.file at a regular file"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q does not mention %q", op, err, want)
					}
				}
			}
			check("load", within(t, "load", func() error { _, _, err := s.Load(ctx); return err }))
			check("save", within(t, "save", func() error { _, err := s.Save(ctx, storetest.SampleState(1), ""); return err }))
			after, err := os.Lstat(path)
			if err != nil || after.Mode() != before.Mode() || !os.SameFile(before, after) {
				t.Errorf("%s was replaced or changed by the failed save", path)
			}
		})
	}
	for _, sp := range specials {
		t.Run("lock file is a "+sp.name, func(t *testing.T) {
			dir := shortDir(t)
			path := filepath.Join(dir, "s")
			sp.make(t, path+".lock")
			err := within(t, "save", func() error { _, err := New(path).Save(context.Background(), storetest.SampleState(1), ""); return err })
			if err == nil {
				t.Fatal("save: want an error")
			}
			for _, want := range []string{path + ".lock", sp.kind, "remove it"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a save that could not lock wrote %s", path)
			}
		})
	}
}

// TestCancelledWait cancels a save waiting for a lock another holder has:
// it returns promptly with context.Canceled, as it does when a signal
// cancels the CLI's context, and writes nothing.
func TestCancelledWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	unlock, err := lock(context.Background(), path+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan struct{})
	testHookLockBusy = func() { close(waiting) }
	t.Cleanup(func() { testHookLockBusy = nil })
	go func() { <-waiting; cancel() }()
	err = within(t, "save", func() error { _, err := New(path).Save(ctx, tgsync.NewState(), ""); return err })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "another process holds it") {
		t.Fatalf("save cancelled while waiting for the lock: got %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled save wrote the file")
	}
}

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
