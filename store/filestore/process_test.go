package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/store/storetest"
)

// Helper modes: the test binary re-runs itself as another process, to crash
// in the middle of a save or to race other processes for the lock.
const (
	envCrash  = "TGSYNC_FILESTORE_CRASH"  // path: save, then exit before the rename
	envWriter = "TGSYNC_FILESTORE_WRITER" // path|name|rounds: load-modify-save loops
)

// helpers are further helper modes, by environment variable, for test
// files that build only on some systems.
var helpers = map[string]func(spec string) int{}

func TestMain(m *testing.M) {
	if path := os.Getenv(envCrash); path != "" {
		os.Exit(crashHelper(path))
	}
	if spec := os.Getenv(envWriter); spec != "" {
		os.Exit(writerHelper(spec))
	}
	for env, helper := range helpers {
		if spec := os.Getenv(env); spec != "" {
			os.Exit(helper(spec))
		}
	}
	os.Exit(m.Run())
}

// helperCmd runs this test binary in the helper mode env with spec.
// Built with -race, a helper that exits 0 sleeps a second first, for race
// reports of other threads (GORACE's atexit_sleep_ms); Go reports a race
// as it happens, and a helper that raced still exits 66, so the helper
// skips the sleep.
func helperCmd(env, spec string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+spec, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	return cmd
}

// crashHelper dies (exit 3) between the write of the temporary file and the
// rename, as a killed process or a power cut would.
func crashHelper(path string) int {
	ctx := context.Background()
	s := New(path)
	st, rev, err := s.Load(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st.Binding("lost").LastError = "never visible"
	testHookBeforeRename = func(string) error { os.Exit(3); return nil }
	if _, err := s.Save(ctx, st, rev); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0 // the hook did not run: the parent fails the test
}

// writerHelper increments a counter in its own binding, rounds times,
// reloading on every conflict as the reconciler does.
func writerHelper(spec string) int {
	parts := strings.Split(spec, "|")
	var rounds int
	if len(parts) != 3 {
		return 2
	}
	if _, err := fmt.Sscan(parts[2], &rounds); err != nil {
		return 2
	}
	conflicts, err := incrementLoop(New(parts[0]), parts[1], rounds)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(conflicts)
	return 0
}

// incrementLoop counts rounds in the binding's miss counter for 10.0.0.1:443.
func incrementLoop(s *Store, name string, rounds int) (conflicts int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := tgsync.Target{Port: 443}
	if err := target.UnmarshalText([]byte("10.0.0.1:443")); err != nil {
		return 0, err
	}
	for done := 0; done < rounds; {
		st, rev, err := s.Load(ctx)
		if err != nil {
			return conflicts, err
		}
		b := st.Binding(name)
		if b.Misses == nil {
			b.Misses = map[tgsync.Target]tgsync.Miss{}
		}
		m := b.Misses[target]
		m.Count++
		b.Misses[target] = m
		_, err = s.Save(ctx, st, rev)
		switch {
		case errors.Is(err, tgsync.ErrConflict):
			conflicts++
		case err != nil:
			return conflicts, err
		default:
			done++
		}
	}
	return conflicts, nil
}

func checkCounts(t *testing.T, path string, names []string, rounds int) {
	t.Helper()
	st, _, err := New(path).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b := st.Bindings[name]
		if b == nil {
			t.Errorf("binding %s lost", name)
			continue
		}
		for _, m := range b.Misses {
			if m.Count != rounds {
				t.Errorf("binding %s: counter %d, want %d: an update was lost", name, m.Count, rounds)
			}
		}
	}
}

// TestCrashBeforeRename kills a real process between writing the temporary
// file and renaming it: the old state must stay intact and loadable, and
// the next save must clean the leftover up.
func TestCrashBeforeRename(t *testing.T) {
	ctx := context.Background()
	dir, path, s, rev := savedStore(t, storetest.SampleState(2))
	cmd := helperCmd(envCrash, path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("helper should have crashed with exit 3, got %v: %s", err, out)
	}
	var leftovers []string
	for _, n := range dirNames(t, dir) {
		if strings.HasPrefix(n, ".state.json.tmp-") {
			leftovers = append(leftovers, n)
		}
	}
	if len(leftovers) != 1 {
		t.Fatalf("want the crashed writer's temporary file in %v", dirNames(t, dir))
	}
	st, loadedRev, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("load after the crash: %v", err)
	}
	if loadedRev != rev || !st.Equal(storetest.SampleState(2)) || st.Bindings["lost"] != nil {
		t.Fatalf("the crashed write became visible")
	}
	if _, err := s.Save(ctx, st, loadedRev); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"state.json", "state.json.lock"}) {
		t.Fatalf("leftover not cleaned up by the next save: %v", names)
	}
}

// TestProcessesShareFile runs writers in separate processes on one file:
// the flock and the revision check together must lose no update.
func TestProcessesShareFile(t *testing.T) {
	const procs, rounds = 4, 25
	path := filepath.Join(t.TempDir(), "state.json")
	var names []string
	var cmds []*exec.Cmd
	outs := make([]strings.Builder, procs)
	for i := range procs {
		name := fmt.Sprintf("proc-%d", i)
		names = append(names, name)
		cmd := helperCmd(envWriter, fmt.Sprintf("%s|%s|%d", path, name, rounds))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	total := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v: %s", i, err, outs[i].String())
		}
		var c int
		fmt.Sscan(outs[i].String(), &c)
		total += c
	}
	checkCounts(t, path, names, rounds)
	t.Logf("%d processes x %d saves: %d conflicts, each retried", procs, rounds, total)
}

// TestGoroutinesShareFile does the same within one process, with one Store
// per goroutine, as two reconcilers in one daemon would have.
func TestGoroutinesShareFile(t *testing.T) {
	const writers, rounds = 8, 20
	path := filepath.Join(t.TempDir(), "state.json")
	var names []string
	var wg sync.WaitGroup
	for i := range writers {
		name := fmt.Sprintf("g-%d", i)
		names = append(names, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := incrementLoop(New(path), name, rounds); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	checkCounts(t, path, names, rounds)
}

// TestLockWaitsForContext shows that a save blocked by another holder of the
// lock gives up when its context ends, with an error that says why.
func TestLockWaitsForContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := lock(context.Background(), path+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = New(path).Save(ctx, tgsync.NewState(), "")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "another process holds it") {
		t.Fatalf("save while locked: got %v", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatalf("a save that did not get the lock wrote the file")
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"parent is a file", filepath.Join(notDir, "s.json"), "create directory"},
		{"path is a directory", dir, dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.path).Save(context.Background(), tgsync.NewState(), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if _, _, err := New(dir).Load(context.Background()); err == nil {
		t.Fatalf("load of a directory: want an error")
	}
}

// BenchmarkSave includes both fsyncs, so it measures the disk as much as
// the code.
func BenchmarkSave(b *testing.B) { storetest.BenchSave(b, open) }

func BenchmarkLoad(b *testing.B) { storetest.BenchLoad(b, open) }

func open(b *testing.B) (tgsync.Store, func() int) {
	path := filepath.Join(b.TempDir(), "state.json")
	return New(path), func() int {
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return int(fi.Size())
	}
}
