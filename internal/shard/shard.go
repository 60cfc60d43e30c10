// Package shard splits a deployment's bindings among N shards, each run by
// its own schedule with its own state, for when one function cannot hold
// every binding inside its time.
//
// A binding goes to the shard of its target group, so that bindings that
// share a group, and must see each other's claims, always run together.
// The shard is chosen by rendezvous (highest random weight) hashing of the
// target group's ARN: every shard scores the ARN and the highest score
// wins. The choice depends on the ARN and N alone, so adding or removing
// bindings moves no other binding, and going from N to N+1 shards moves
// only the groups the new shard wins, about 1/(N+1) of them, while a
// modulo of the hash would move about N/(N+1).
package shard

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Max is the most shards a deployment may have.
const Max = 64

// Spec names one shard: K of N, K in 1..N.
type Spec struct {
	K, N int
}

// Parse reads "K/N", such as "2/4".
func Parse(s string) (Spec, error) {
	k, n, ok := strings.Cut(s, "/")
	sp := Spec{}
	var errK, errN error
	sp.K, errK = strconv.Atoi(k)
	sp.N, errN = strconv.Atoi(n)
	if !ok || errK != nil || errN != nil {
		return Spec{}, fmt.Errorf("shard %q: want K/N, such as 2/4", clip(s))
	}
	if err := sp.Check(); err != nil {
		return Spec{}, err
	}
	return sp, nil
}

// Check reports what is wrong with a spec.
func (s Spec) Check() error {
	switch {
	case s.N < 1 || s.N > Max:
		return fmt.Errorf("shard %d/%d: the number of shards must be 1 to %d", s.K, s.N, Max)
	case s.K < 1 || s.K > s.N:
		return fmt.Errorf("shard %d/%d: the shard must be 1 to %d", s.K, s.N, s.N)
	}
	return nil
}

func (s Spec) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Holds reports whether the shard runs the bindings of a target group.
func (s Spec) Holds(targetGroupARN string) bool { return Of(targetGroupARN, s.N) == s.K }

// Of is the shard, 1 to n, that runs the bindings of a target group.
func Of(targetGroupARN string, n int) int {
	best, bestScore := 1, uint64(0)
	for k := 1; k <= n; k++ {
		if sc := score(targetGroupARN, k); k == 1 || sc > bestScore {
			best, bestScore = k, sc
		}
	}
	return best
}

// score is shard k's weight for key: FNV-1a of the key and k, mixed by
// SplitMix64's finalizer so that nearby inputs give unrelated scores.
func score(key string, k int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte{0, byte(k), byte(k >> 8)})
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// ObjectName is the name of shard k's state object or file, beside the
// unsharded one, name: shard 1 keeps name itself, so that a deployment
// that starts sharding keeps the state of the bindings that stay in shard
// 1, and shard k > 1 uses name with "-shard-K" before its extension. N is
// not part of the name: when N changes, the bindings that keep their
// shard keep their state.
func ObjectName(name string, k int) string {
	if k <= 1 {
		return name
	}
	base, ext := name, ""
	if i := strings.LastIndex(name, "."); i > strings.LastIndex(name, "/") {
		base, ext = name[:i], name[i:]
	}
	return base + "-shard-" + strconv.Itoa(k) + ext
}

func clip(s string) string {
	if r := []rune(s); len(r) > 20 {
		return string(r[:20]) + "…"
	}
	return s
}
