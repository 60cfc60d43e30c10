package storetest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tgsync/tgsync"
)

// testOversizedSave saves a state whose stored form is over the cap: the
// save fails, says how large the state is and what the cap is, and the
// place keeps what it had, which a later Load can still read.
func testOversizedSave(t *testing.T, p Place) {
	ctx := testContext(t)
	s := p.Open()
	rev, err := s.Save(ctx, SampleState(1), "")
	if err != nil {
		t.Fatal(err)
	}
	big := SampleState(1)
	big.Binding("big").LastError = strings.Repeat("x", tgsync.MaxStateBytes)
	size := encodedSize(t, big)
	_, err = s.Save(ctx, big, rev)
	if err == nil {
		t.Fatalf("save of a state of %d bytes: want an error, the cap is %d", size, tgsync.MaxStateBytes)
	}
	for _, want := range []string{p.Name, fmt.Sprint(size), fmt.Sprint(tgsync.MaxStateBytes)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	got, after, err := p.Open().Load(ctx)
	if err != nil || after != rev || !got.Equal(SampleState(1)) {
		t.Fatalf("after the refused save: load gave revision %q (want %q) and %v", after, rev, err)
	}
}

// testSizeCap puts stored forms of a valid state padded to sizes around
// the cap into places of their own: up to MaxStateBytes loads, past it
// Load fails with an error that says how large the place is, what the cap
// is, and that the path or key is probably wrong.
func testSizeCap(t *testing.T, newPlace func(t *testing.T) Place) {
	tests := []struct {
		name string
		size int
		ok   bool
	}{
		{"exactly the cap", tgsync.MaxStateBytes, true},
		{"one byte over", tgsync.MaxStateBytes + 1, false},
		{"twice the cap", 2 * tgsync.MaxStateBytes, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlace(t)
			if p.Write == nil {
				t.Skip("the place cannot be written around the store; its Save keeps it under the cap")
			}
			data, err := tgsync.EncodeState(SampleState(1))
			if err != nil {
				t.Fatal(err)
			}
			// JSON allows any amount of white space after the value.
			p.Write(t, append(data, bytes.Repeat([]byte{' '}, tt.size-len(data))...))
			st, rev, err := p.Open().Load(testContext(t))
			if tt.ok {
				if err != nil || rev == "" || !st.Equal(SampleState(1)) {
					t.Fatalf("load of %d bytes: got revision %q and %v, want the state", tt.size, rev, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("load of %d bytes: want an error, the cap is %d", tt.size, tgsync.MaxStateBytes)
			}
			for _, want := range []string{p.Name, fmt.Sprint(tt.size), fmt.Sprint(tgsync.MaxStateBytes), "probably"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func encodedSize(t *testing.T, s *tgsync.State) int {
	t.Helper()
	data, err := tgsync.EncodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	return len(data)
}
