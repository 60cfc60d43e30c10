package shard

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
)

func arns(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web-%d/%016x", i, i*7919))
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		wantErr string
	}{
		{"1/1", Spec{1, 1}, ""},
		{"2/4", Spec{2, 4}, ""},
		{"64/64", Spec{64, 64}, ""},
		{"0/4", Spec{}, "the shard must be 1 to 4"},
		{"5/4", Spec{}, "the shard must be 1 to 4"},
		{"1/0", Spec{}, "the number of shards must be 1 to 64"},
		{"1/65", Spec{}, "the number of shards must be 1 to 64"},
		{"2", Spec{}, "want K/N"},
		{"a/b", Spec{}, "want K/N"},
		{"", Spec{}, "want K/N"},
		{" 2/4", Spec{}, "want K/N"},
		{strings.Repeat("ä", 40), Spec{}, `"` + strings.Repeat("ä", 20) + `…"`},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestStableWhenBindingsAdded: adding bindings (their groups) moves none
// of the others, whatever their number.
func TestStableWhenBindingsAdded(t *testing.T) {
	for _, n := range []int{2, 4, 5} {
		before := map[string]int{}
		for _, a := range arns(0, 1000) {
			before[a] = Of(a, n)
		}
		// The assignment sees only the ARN and n; recompute with others
		// around, as a config with more bindings would.
		for _, a := range append(arns(1000, 1500), arns(0, 1000)...) {
			if k, ok := before[a]; ok && Of(a, n) != k {
				t.Fatalf("n=%d: %s moved from shard %d to %d when bindings were added", n, a, k, Of(a, n))
			}
		}
	}
}

// TestStableWhenShardAdded: going from N to N+1 shards moves only the
// groups the new shard takes, about 1/(N+1); a modulo of a hash would
// move most of them.
func TestStableWhenShardAdded(t *testing.T) {
	t.Parallel()
	modulo := func(a string, n int) int {
		h := fnv.New64a()
		_, _ = h.Write([]byte(a))
		return int(h.Sum64()%uint64(n)) + 1
	}
	all := arns(0, 4000)
	for n := 1; n <= 8; n++ {
		kept, keptModulo := 0, 0
		for _, a := range all {
			from, to := Of(a, n), Of(a, n+1)
			switch {
			case from == to:
				kept++
			case to != n+1:
				t.Fatalf("%d→%d shards: %s moved from shard %d to %d, not to the new shard", n, n+1, a, from, to)
			}
			if modulo(a, n) == modulo(a, n+1) {
				keptModulo++
			}
		}
		want := float64(n) / float64(n+1)
		got := float64(kept) / float64(len(all))
		if got < want-0.03 || got > want+0.03 {
			t.Errorf("%d→%d shards: %.1f%% of groups kept their shard, want about %.1f%%", n, n+1, 100*got, 100*want)
		}
		t.Logf("%d→%d shards: %.1f%% kept (a modulo: %.1f%%)", n, n+1, 100*got, 100*float64(keptModulo)/float64(len(all)))
	}
}

func TestBalanced(t *testing.T) {
	t.Parallel()
	all := arns(0, 10000)
	for _, n := range []int{2, 3, 4, 5, 16} {
		counts := make([]int, n+1)
		for _, a := range all {
			counts[Of(a, n)]++
		}
		for k := 1; k <= n; k++ {
			want := len(all) / n
			if d := counts[k] - want; d < -want/10 || d > want/10 {
				t.Errorf("n=%d: shard %d holds %d groups, want %d ± 10%%", n, k, counts[k], want)
			}
		}
		if s := (Spec{K: 1, N: n}); s.Holds(all[0]) != (Of(all[0], n) == 1) {
			t.Errorf("Holds disagrees with Of")
		}
	}
}

func TestObjectName(t *testing.T) {
	tests := []struct {
		name string
		k    int
		want string
	}{
		{"tgsync-state.json", 1, "tgsync-state.json"},
		{"tgsync-state.json", 2, "tgsync-state-shard-2.json"},
		{"prefix/tgsync-state.json", 12, "prefix/tgsync-state-shard-12.json"},
		{"./state", 3, "./state-shard-3"},
		{"/var/lib/tg.sync/state", 2, "/var/lib/tg.sync/state-shard-2"},
	}
	for _, tc := range tests {
		if got := ObjectName(tc.name, tc.k); got != tc.want {
			t.Errorf("ObjectName(%q, %d) = %q, want %q", tc.name, tc.k, got, tc.want)
		}
	}
}
