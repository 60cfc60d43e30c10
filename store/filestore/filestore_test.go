package filestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/store/storetest"
)

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

// TestContract runs the checks every store must pass, on a file whose
// directory does not exist yet.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Place {
		return place(filepath.Join(t.TempDir(), "sub", "dir", "state.json"))
	})
}

// place is the file at path, for storetest.
func place(path string) storetest.Place {
	return storetest.Place{Open: func() tgsync.Store { return New(path) }, Name: path,
		Write: func(t *testing.T, data []byte) {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}}
}

func TestPermissions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "state.json")
	s := New(path)
	if _, err := s.Save(ctx, storetest.SampleState(1), ""); err != nil {
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
	if _, err := s.Save(ctx, storetest.SampleState(2), rev); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, filepath.Dir(path)); !slices.Equal(names, []string{"state.json", "state.json.lock"}) {
		t.Errorf("directory holds %v, want only the state file and its lock file", names)
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

// TestConflict changes the file behind both writers' backs: the stale
// revisions of both must conflict.
func TestConflict(t *testing.T) {
	tests := []struct {
		name    string
		between func(t *testing.T, path string)
	}{
		{"file replaced by hand", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{"version":1,"bindings":{"hand":{}}}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"file removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			o := storetest.Race(t, place(path), true, func(t *testing.T) { tt.between(t, path) })
			if _, err := o.A.Save(context.Background(), o.StateA, o.RevA); !errors.Is(err, tgsync.ErrConflict) {
				t.Fatalf("save after the file changed by hand: got %v, want ErrConflict", err)
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

// savedStore is a Store on state.json in a directory of the test's,
// holding st at revision rev.
func savedStore(t *testing.T, st *tgsync.State) (dir, path string, s *Store, rev string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "state.json")
	s = New(path)
	rev, err := s.Save(context.Background(), st, "")
	if err != nil {
		t.Fatal(err)
	}
	return dir, path, s, rev
}

// TestInterruptedWrite fails a save after its temporary file is complete and
// before the rename: the old file stays as it was and nothing is left behind.
func TestInterruptedWrite(t *testing.T) {
	ctx := context.Background()
	dir, path, s, rev := savedStore(t, storetest.SampleState(1))
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
	next := storetest.SampleState(3)
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
