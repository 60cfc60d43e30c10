package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/store/storetest"
)

// TestContract runs the checks every store must pass.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Place {
		m := New()
		return storetest.Place{Open: func() tgsync.Store { return m }, Name: "memory state"}
	})
}

// TestRevisions checks the counter revisions, the accessors and that a
// snapshot holds what was saved.
func TestRevisions(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{0, 1, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := New()
			if _, err := m.Save(ctx, nil, ""); err == nil || m.Revision() != "" {
				t.Fatalf("save of a nil state: got %v and revision %q, want an error and revision \"\"", err, m.Revision())
			}
			want := storetest.SampleState(n)
			rev, err := m.Save(ctx, want, "")
			if err != nil {
				t.Fatal(err)
			}
			_, loadedRev, err := m.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if loadedRev != rev || rev != "1" || m.Revision() != "1" {
				t.Errorf("revisions: saved %q, loaded %q, current %q, want all \"1\"", rev, loadedRev, m.Revision())
			}
			if snap := m.Snapshot(); !snap.Equal(want) {
				t.Errorf("snapshot differs from saved state")
			}
		})
	}
}

// TestSnapshotCopies checks that a snapshot does not alias what the store
// holds.
func TestSnapshotCopies(t *testing.T) {
	m := New()
	if _, err := m.Save(context.Background(), storetest.SampleState(1), ""); err != nil {
		t.Fatal(err)
	}
	m.Snapshot().Binding("binding-000").History = nil
	if again := m.Snapshot(); !again.Equal(storetest.SampleState(1)) {
		t.Fatalf("store state changed through a snapshot: %+v", again.Bindings["binding-000"])
	}
}

// TestSnapshotNewerVersion: Load says why a newer state cannot be read;
// Snapshot, for assertions, gives nil.
func TestSnapshotNewerVersion(t *testing.T) {
	m := New()
	s := storetest.SampleState(1)
	s.Version = tgsync.StateVersion + 1
	if _, err := m.Save(context.Background(), s, ""); err != nil {
		t.Fatal(err)
	}
	if m.Snapshot() != nil {
		t.Fatalf("snapshot of a newer state should be nil")
	}
}

// TestConcurrent races many load-modify-save loops; every writer's binding
// must survive, and the race detector must stay quiet.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	m := New()
	const writers = 16
	var wg sync.WaitGroup
	conflicts := make([]int, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s, rev, err := m.Load(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				s.Binding(fmt.Sprintf("w%d", w)).LastError = "set"
				_, err = m.Save(ctx, s, rev)
				if errors.Is(err, tgsync.ErrConflict) {
					conflicts[w]++
					continue
				}
				if err != nil {
					t.Error(err)
				}
				return
			}
		}()
	}
	wg.Wait()
	got := m.Snapshot()
	if len(got.Bindings) != writers {
		t.Fatalf("want %d bindings, got %d", writers, len(got.Bindings))
	}
	total := 0
	for _, c := range conflicts {
		total += c
	}
	if m.Revision() != fmt.Sprint(writers) {
		t.Fatalf("want revision %d after %d successful saves, got %q", writers, writers, m.Revision())
	}
	t.Logf("%d conflicts among %d writers", total, writers)
}

func BenchmarkSave(b *testing.B) { storetest.BenchSave(b, open) }

func BenchmarkLoad(b *testing.B) { storetest.BenchLoad(b, open) }

func open(*testing.B) (tgsync.Store, func() int) {
	m := New()
	return m, func() int { return len(m.Bytes()) }
}
