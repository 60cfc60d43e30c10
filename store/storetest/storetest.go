// Package storetest checks that a tgsync.Store keeps the contract the
// reconciler relies on: an empty place loads as a new state at revision "",
// Save returns the revision Load reports, a stale revision fails with
// tgsync.ErrConflict and changes nothing, state from a newer tgsync is
// refused, state larger than tgsync.MaxStateBytes is neither written nor
// read, and bad input is an error that names the place.
//
// Each store's tests call Run with places of their own kind; what only one
// store can show (atomic renames, conditional-write headers) stays in that
// store's tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
)

// Place is one new, empty place to keep state in.
type Place struct {
	// Open returns a handle on the place. Handles see what the others
	// saved, as two processes sharing a state file or object do; a store
	// kept in memory returns itself.
	Open func() tgsync.Store
	// Name is what every error about the place mentions: a path, a URL.
	Name string
	// Write, when set, puts data into the place as it is, bypassing the
	// store, as a hand edit or a wrong path or key would.
	Write func(t *testing.T, data []byte)
}

// Run checks the contract on places made by newPlace, one per subtest.
func Run(t *testing.T, newPlace func(t *testing.T) Place) {
	t.Run("load empty", func(t *testing.T) { testLoadEmpty(t, newPlace(t)) })
	t.Run("round trip", func(t *testing.T) { testRoundTrip(t, newPlace) })
	t.Run("copies", func(t *testing.T) { testCopies(t, newPlace(t)) })
	t.Run("conflict", func(t *testing.T) { testConflict(t, newPlace) })
	t.Run("unknown revision", func(t *testing.T) { testUnknownRevision(t, newPlace(t)) })
	t.Run("newer version", func(t *testing.T) { testNewerVersion(t, newPlace(t)) })
	t.Run("bad input", func(t *testing.T) { testBadInput(t, newPlace(t)) })
	t.Run("oversized save", func(t *testing.T) { testOversizedSave(t, newPlace(t)) })
	t.Run("size cap on load", func(t *testing.T) { testSizeCap(t, newPlace) })
}

// testContext is the test's context, bounded so that a hung store fails the
// test instead of the whole run.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func testLoadEmpty(t *testing.T, p Place) {
	st, rev, err := p.Open().Load(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if rev != "" || st == nil || st.Version != tgsync.StateVersion || len(st.Bindings) != 0 {
		t.Fatalf("empty place: got rev %q state %+v, want rev \"\" and an empty state", rev, st)
	}
}

func testRoundTrip(t *testing.T, newPlace func(t *testing.T) Place) {
	for _, n := range []int{0, 1, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := testContext(t)
			p := newPlace(t)
			s := p.Open()
			want := SampleState(n)
			rev, err := s.Save(ctx, want, "")
			if err != nil {
				t.Fatal(err)
			}
			got, loadedRev, err := p.Open().Load(ctx)
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
			again, loadedRev2, err := p.Open().Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if loadedRev2 != rev2 || !again.Equal(got) {
				t.Errorf("after the second save: loaded revision %q, want %q; state equal: %v", loadedRev2, rev2, again.Equal(got))
			}
		})
	}
}

// testCopies checks that neither the caller's state nor a loaded one
// aliases what the place holds.
func testCopies(t *testing.T, p Place) {
	ctx := testContext(t)
	s := p.Open()
	saved := SampleState(1)
	if _, err := s.Save(ctx, saved, ""); err != nil {
		t.Fatal(err)
	}
	saved.Binding("binding-000").LastError = "changed after save"
	loaded, _, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Binding("binding-000").AZAll = !loaded.Binding("binding-000").AZAll
	again, _, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Equal(SampleState(1)) {
		t.Fatalf("stored state changed through a copy: %+v", again.Bindings["binding-000"])
	}
}

func testConflict(t *testing.T, newPlace func(t *testing.T) Place) {
	for _, initial := range []bool{false, true} {
		name := "no state yet"
		if initial {
			name = "existing state"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			p := newPlace(t)
			o := Race(t, p, initial, nil)
			// Reload and retry, as the reconciler does.
			sb, revB, err := o.B.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sb.Binding("b").LastError = "from b"
			if _, err := o.B.Save(ctx, sb, revB); err != nil {
				t.Fatalf("save after reload: %v", err)
			}
			got, _, err := p.Open().Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bindings["a"] == nil || got.Bindings["b"] == nil {
				t.Fatalf("want both writers' bindings, got %v", got.Bindings)
			}
		})
	}
}

// Overlap is what Race leaves for a test to go on with.
type Overlap struct {
	A, B   tgsync.Store
	StateA *tgsync.State // what a saved
	RevA   string        // a's revision after its save
	Err    error         // b's failed save
}

// Race runs two writers that plan from the same revision of p (after a
// first save of SampleState(1) when initial is set): a saves first, then
// between, if not nil, changes the place behind both of them, then b saves
// with its stale revision. Race checks that b's save fails with
// tgsync.ErrConflict, names the place and changes nothing.
func Race(t *testing.T, p Place, initial bool, between func(t *testing.T)) Overlap {
	t.Helper()
	ctx := testContext(t)
	a, b := p.Open(), p.Open()
	if initial {
		if _, err := a.Save(ctx, SampleState(1), ""); err != nil {
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
	if between != nil {
		between(t)
	}
	_, before, err := p.Open().Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Save(ctx, sb, revB)
	if !errors.Is(err, tgsync.ErrConflict) || !strings.Contains(err.Error(), p.Name) {
		t.Fatalf("second save with stale revision %q: got %v, want ErrConflict naming %s", revB, err, p.Name)
	}
	got, after, loadErr := p.Open().Load(ctx)
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	if after != before || got.Bindings["b"] != nil || (between == nil && got.Bindings["a"] == nil) {
		t.Fatalf("the losing save changed the state: revision %q, was %q; bindings %v", after, before, got.Bindings)
	}
	return Overlap{A: a, B: b, StateA: sa, RevA: newA, Err: err}
}

// testUnknownRevision saves into an empty place with revisions no Load
// returned.
func testUnknownRevision(t *testing.T, p Place) {
	ctx := testContext(t)
	s := p.Open()
	for _, rev := range []string{"1", "x", "0"} {
		if _, err := s.Save(ctx, tgsync.NewState(), rev); !errors.Is(err, tgsync.ErrConflict) {
			t.Errorf("save with revision %q into an empty place: got %v, want ErrConflict", rev, err)
		}
	}
}

func testNewerVersion(t *testing.T, p Place) {
	ctx := testContext(t)
	s := p.Open()
	newer := SampleState(1)
	newer.Version = tgsync.StateVersion + 1
	if _, err := s.Save(ctx, newer, ""); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "upgrade") || !strings.Contains(err.Error(), p.Name) {
		t.Fatalf("load of a newer state: got %v, want an error that names %s and says to upgrade", err, p.Name)
	}
}

func testBadInput(t *testing.T, p Place) {
	s := p.Open()
	if _, err := s.Save(testContext(t), nil, ""); err == nil || !strings.Contains(err.Error(), "state is nil") || !strings.Contains(err.Error(), p.Name) {
		t.Errorf("save of a nil state: got %v, want an error naming %s", err, p.Name)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Save(cancelled, tgsync.NewState(), ""); !errors.Is(err, context.Canceled) {
		t.Errorf("save with a cancelled context: got %v", err)
	}
	if _, _, err := s.Load(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("load with a cancelled context: got %v", err)
	}
	if _, rev, err := s.Load(testContext(t)); err != nil || rev != "" {
		t.Errorf("after the failed saves: load gave revision %q and %v, want \"\" and no error", rev, err)
	}
}
