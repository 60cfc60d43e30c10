package tgsync_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	. "github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

func TestDecodeState(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"current", `{"version":1,"bindings":{"a":{"azAll":true}}}`, ""},
		{"no bindings", `{"version":1}`, ""},
		{"no version", `{}`, "no version field"},
		{"null", `null`, "no version field"},
		{"newer", `{"version":99}`, "upgrade tgsync"},
		{"not json", `{"version":`, "decode state"},
		{"bad target key", `{"version":1,"bindings":{"a":{"owned":{"nope":"2026-01-01T00:00:00Z"}}}}`, "want ip:port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeState([]byte(tc.data))
			if tc.wantErr == "" {
				if err != nil || s.Bindings == nil {
					t.Fatalf("DecodeState = %v, %v", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := NewState()
	b := s.Binding("db")
	b.Misses = map[Target]Miss{mock.Target("10.0.0.1:443"): missed(2, 0), mock.Target("[fd00::1]:80"): missed(1, 0)}
	b.Record(Event{Time: t0, Action: ActionRegister, Target: "10.0.0.2:443", Reason: "r"})
	data, err := EncodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) {
		t.Fatalf("round trip changed the state:\n%s", data)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	var b BindingState
	for i := 0; i < 3*HistoryLimit; i++ {
		b.Record(Event{Reason: strconv.Itoa(i)})
	}
	if len(b.History) != HistoryLimit || b.History[HistoryLimit-1].Reason != strconv.Itoa(3*HistoryLimit-1) {
		t.Fatalf("history len %d, last %+v", len(b.History), b.History[len(b.History)-1])
	}
}

func TestRefusalKeyRoundTrip(t *testing.T) {
	for _, f := range []Refusal{
		{Action: ActionDeregister, Target: mock.Target("10.0.0.1:443"), Rule: RuleMaxFraction},
		{Action: ActionRegister, Target: mock.Target("[fd00::1]:80"), Rule: RuleNotAllowed},
		{Action: ActionDeregister, Rule: RuleSourceFailed},
	} {
		back, err := ParseRefusalKey(f.Key())
		if err != nil || back != f {
			t.Errorf("ParseRefusalKey(%q) = %+v, %v; want %+v", f.Key(), back, err, f)
		}
	}
	for _, bad := range []string{"", "register 10.0.0.1:443", "register nope not-allowed", "a b c d"} {
		if _, err := ParseRefusalKey(bad); err == nil {
			t.Errorf("ParseRefusalKey(%q) accepted", bad)
		}
	}
}

// TestDecodeStateNewer: a newer tgsync's state asks for an upgrade, even
// when its fields no longer decode here, and says so with ErrNewerState.
func TestDecodeStateNewer(t *testing.T) {
	for _, data := range []string{`{"version":2}`, `{"version":2,"bindings":["a list now"]}`} {
		if _, err := DecodeState([]byte(data)); !errors.Is(err, ErrNewerState) || !strings.Contains(err.Error(), "upgrade") {
			t.Errorf("DecodeState(%s) = %v, want ErrNewerState asking for an upgrade", data, err)
		}
	}
	if _, err := DecodeState([]byte(`{"version":1,"version":null}`)); err == nil || errors.Is(err, ErrNewerState) {
		t.Errorf("a version that ends up null was accepted or taken for a newer one: %v", err)
	}
}
