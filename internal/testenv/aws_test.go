package testenv

import (
	"strings"
	"testing"
)

func TestUniqueName(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := UniqueName("faults-replaced-group")
		if !strings.HasPrefix(n, "faults-replaced-group-") || len(n) > 32 {
			t.Fatalf("UniqueName = %q: want the prefix, a dash and at most 32 characters", n)
		}
		if seen[n] {
			t.Fatalf("UniqueName gave %q twice", n)
		}
		seen[n] = true
	}
}
