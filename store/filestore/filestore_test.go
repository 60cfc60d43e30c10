package filestore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// sampleState fills every field of the schema, so that a round trip that
// drops one shows up in the comparison.
func sampleState(bindings int) *tgsync.State {
	s := tgsync.NewState()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range bindings {
		b := s.Binding(fmt.Sprintf("binding-%03d", i))
		t := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), Port: 443}
		gone := tgsync.Target{IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 2}), Port: 443}
		b.Owned = map[tgsync.Target]time.Time{t: at, gone: at}
		b.Misses = map[tgsync.Target]tgsync.Miss{gone: {Count: 2, Since: at.Add(time.Minute)}}
		b.AZAll = i%2 == 0
		b.Answer = &tgsync.SourceAnswer{Addrs: []netip.Addr{t.IP}, TTL: tgsync.Duration(60 * time.Second), At: at}
		b.LastError = "source vpc-x.es.amazonaws.com failed: SERVFAIL"
		b.Refusing = []string{"deregister " + gone.String() + " last-healthy"}
		b.History = []tgsync.Event{
			{Time: at, Action: tgsync.ActionRegister, Target: t.String(), Reason: "in the answer and not in the target group"},
			{Time: at, Action: tgsync.ActionDeregister, Target: gone.String(), Refused: true, Rule: tgsync.RuleLastHealthy, Reason: "last healthy"},
		}
	}
	return s
}

// dirNames lists a directory, for checks that nothing was left behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestLoadMissing(t *testing.T) {
	s := New(filepath.Join(t.TempDir(), "no", "such", "state.json"))
	st, rev, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rev != "" || st.Version != tgsync.StateVersion || len(st.Bindings) != 0 {
		t.Fatalf("missing file: got rev %q state %+v, want \"\" and an empty state", rev, st)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "sub", "dir", "state.json")
			s := New(path)
			want := sampleState(n)
			rev, err := s.Save(ctx, want, "")
			if err != nil {
				t.Fatal(err)
			}
			got, loadedRev, err := New(path).Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(want) {
				t.Errorf("round trip changed the state:\n got %+v\nwant %+v", got, want)
			}
			if rev == "" || loadedRev != rev {
				t.Errorf("revisions: saved %q, loaded %q", rev, loadedRev)
			}
			// A second save from the loaded revision succeeds and moves it.
			got.Binding("extra").LastError = "second save"
			rev2, err := s.Save(ctx, got, loadedRev)
			if err != nil {
				t.Fatal(err)
			}
			if rev2 == rev {
				t.Errorf("revision did not change with the content: %q", rev2)
			}
			if names := dirNames(t, filepath.Dir(path)); !slices.Equal(names, []string{"state.json", "state.json.lock"}) {
				t.Errorf("directory holds %v, want only the state file and its lock file", names)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "state.json")
	s := New(path)
	if _, err := s.Save(ctx, sampleState(1), ""); err != nil {
		t.Fatal(err)
	}
	// A file made readable by others before is tightened on the next save.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, rev, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, sampleState(2), rev); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want os.FileMode
	}{
		{path, 0o600},
		{path + ".lock", 0o600},
		{filepath.Dir(path), 0o700 | os.ModeDir},
	}
	for _, tt := range tests {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeDir); got != tt.want {
			t.Errorf("%s: mode %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestConflict(t *testing.T) {
	tests := []struct {
		name    string
		initial bool // a state file exists before the two loads
		// between runs after both loads and the first save; it may change
		// the file behind the store's back.
		between func(t *testing.T, path string)
	}{
		{"no file yet", false, nil},
		{"existing file", true, nil},
		{"file replaced by hand", true, func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"version":1,"bindings":{"hand":{}}}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"file removed", true, func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "state.json")
			a, b := New(path), New(path)
			if tt.initial {
				if _, err := a.Save(ctx, sampleState(1), ""); err != nil {
					t.Fatal(err)
				}
			}
			sa, revA, err := a.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sb, revB, err := b.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sa.Binding("a").LastError = "from a"
			sb.Binding("b").LastError = "from b"
			newA, err := a.Save(ctx, sa, revA)
			if err != nil {
				t.Fatalf("first save: %v", err)
			}
			if tt.between != nil {
				tt.between(t, path)
			}
			before, _ := os.ReadFile(path)
			_, err = b.Save(ctx, sb, revB)
			if !errors.Is(err, tgsync.ErrConflict) || !strings.Contains(err.Error(), path) {
				t.Fatalf("second save: got %v, want ErrConflict naming %s", err, path)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Fatalf("the losing save changed the file")
			}
			if tt.between != nil {
				// The first writer's revision is stale too now.
				if _, err := a.Save(ctx, sa, newA); !errors.Is(err, tgsync.ErrConflict) {
					t.Fatalf("save after the file changed by hand: got %v, want ErrConflict", err)
				}
				return
			}
			sb, revB, err = b.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sb.Binding("b").LastError = "from b"
			if _, err := b.Save(ctx, sb, revB); err != nil {
				t.Fatalf("save after reload: %v", err)
			}
			got, _, err := a.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bindings["a"] == nil || got.Bindings["b"] == nil {
				t.Fatalf("want both writers' bindings, got %v", got.Bindings)
			}
		})
	}
}

func TestCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // substrings of the error
	}{
		{"empty file", "", []string{"corrupt", "restore"}},
		{"garbage", "\x00\x01not json", []string{"corrupt", "restore"}},
		{"truncated", `{"version":1,"bindings":{"a":{"misses":{"10.0.0.1:443":`, []string{"corrupt", "restore"}},
		{"json null", "null", []string{"corrupt", "no version"}},
		{"no version", `{"bindings":{}}`, []string{"corrupt", "no version"}},
		{"version zero", `{"version":0}`, []string{"corrupt", "version"}},
		{"array", `[1,2]`, []string{"corrupt"}},
		{"bad target", `{"version":1,"bindings":{"a":{"owned":{"not-a-target":"2025-01-01T00:00:00Z"}}}}`, []string{"corrupt", "not-a-target"}},
		{"newer version", `{"version":99,"bindings":{}}`, []string{"version 99", "upgrade tgsync"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			st, rev, err := New(path).Load(context.Background())
			if err == nil {
				t.Fatalf("load of %q: got state %+v rev %q, want an error", tt.content, st, rev)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			// Saving over it without having loaded it is a conflict, not
			// a silent overwrite.
			if _, err := New(path).Save(context.Background(), tgsync.NewState(), ""); !errors.Is(err, tgsync.ErrConflict) {
				t.Errorf("save over an unreadable file: got %v, want ErrConflict", err)
			}
		})
	}
}

// TestInterruptedWrite fails a save after its temporary file is complete and
// before the rename: the old file stays as it was and nothing is left behind.
func TestInterruptedWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	s := New(path)
	rev, err := s.Save(ctx, sampleState(1), "")
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sawTemp []byte
	testHookBeforeRename = func(tmp string) error {
		sawTemp, _ = os.ReadFile(tmp)
		return errors.New("simulated failure before rename")
	}
	t.Cleanup(func() { testHookBeforeRename = nil })
	next := sampleState(3)
	if _, err := s.Save(ctx, next, rev); err == nil || !strings.Contains(err.Error(), "simulated failure") {
		t.Fatalf("interrupted save: got %v, want the simulated failure", err)
	}
	if want, _ := tgsync.EncodeState(next); string(sawTemp) != string(want) {
		t.Fatalf("the temporary file did not hold the complete new state before the rename")
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatalf("interrupted save changed the state file")
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"state.json", "state.json.lock"}) {
		t.Fatalf("directory holds %v after a failed save, want no temporary files", names)
	}
	testHookBeforeRename = nil
	if _, err := s.Save(ctx, next, rev); err != nil {
		t.Fatalf("save after the failure, with the old revision: %v", err)
	}
}
