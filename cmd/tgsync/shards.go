package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/shard"
)

// envShards is the number of shards a deployment runs; the stack sets it
// from its Shards parameter.
const envShards = "TGSYNC_SHARDS"

// shardSet is a deployment's shards as one process sees them. Each shard
// is a reconciler of the bindings it holds (shard.Of their target group)
// with a state of its own, built on first use; they share the process's
// adapters, whose budget each process takes 1/N of, since the shards'
// schedules fire at the same moments. The process's own reconciler, of
// every binding, sees the shards' states as one (shardedStore), so that
// the CLI, the status page and an event that names no shard work on a
// sharded deployment as on any other.
type shardSet struct {
	n      int
	base   *tgsync.Reconciler
	stores []tgsync.Store // shard k's at k-1

	mu  sync.Mutex
	byK map[int]*tgsync.Reconciler
}

// newShardSet reads TGSYNC_SHARDS for a's bindings, and with more than
// one shard puts the shards' stores under a's reconciler.
func newShardSet(a *app, getenv func(string) string, bucketRegion string) (*shardSet, error) {
	n := 1
	if v := strings.TrimSpace(getenv(envShards)); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		if err != nil || n < 1 || n > shard.Max {
			return nil, fmt.Errorf("%s=%q: want the number of shards, 1 to %d", envShards, clip(v, 20), shard.Max)
		}
	}
	s := &shardSet{n: n, base: a.reconciler, byK: map[int]*tgsync.Reconciler{}}
	if n == 1 {
		return s, nil
	}
	s.stores = []tgsync.Store{a.store}
	for k := 2; k <= n; k++ {
		st, err := newShardStore(a.cfg.State, a.awsConfig, bucketRegion, k)
		if err != nil {
			return nil, err
		}
		s.stores = append(s.stores, st)
	}
	if a.groups != nil {
		a.groups.Share(n)
	}
	a.reconciler.Store = newShardedStore(s.stores, a.reconciler.Bindings)
	return s, nil
}

// of is the shard that runs a binding.
func (s *shardSet) of(b tgsync.Binding) int { return shard.Of(b.TargetGroupARN, s.n) }

// reconciler returns shard k's reconciler; 0 is every binding's.
func (s *shardSet) reconciler(k int) *tgsync.Reconciler {
	if s.n == 1 || k == 0 {
		return s.base
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byK[k]; r != nil {
		return r
	}
	r := &tgsync.Reconciler{Groups: s.base.Groups, Now: s.base.Now, Concurrency: s.base.Concurrency,
		DescribeEvery: s.base.DescribeEvery, SaveAttempts: s.base.SaveAttempts}
	moving := &movingStore{Store: s.stores[k-1]}
	for i, st := range s.stores {
		if i != k-1 {
			moving.others = append(moving.others, st)
		}
	}
	for _, b := range s.base.Bindings {
		if s.of(b) == k {
			r.Bindings = append(r.Bindings, b)
			moving.names = append(moving.names, b.Name)
		}
	}
	r.Store = moving
	s.byK[k] = r
	return r
}

// shardedStore is the stores of a deployment's shards as one Store: Load
// merges their states, Save splits the state by shard (a binding, a
// group's observation and what is kept of it go to the shard of the
// group; what is kept of Spot drains, and bindings no longer configured,
// to shard 1) and saves the parts that changed, each on its own revision.
// A conflict on one shard is a conflict of the whole: the reconciler
// loads again and plans on what every writer saved.
type shardedStore struct {
	stores []tgsync.Store
	groups map[string]string // target group ARN by binding name

	mu     sync.Mutex
	loaded map[string][]*tgsync.State // the parts of recent loads, by revision
	order  []string
}

func newShardedStore(stores []tgsync.Store, bindings []tgsync.Binding) *shardedStore {
	s := &shardedStore{stores: stores, groups: map[string]string{}, loaded: map[string][]*tgsync.State{}}
	for _, b := range bindings {
		s.groups[b.Name] = b.TargetGroupARN
	}
	return s
}

// keptLoads bounds the loads whose parts a store keeps to tell which
// parts a save changed: one per run in flight.
const keptLoads = 8

func (s *shardedStore) Load(ctx context.Context) (*tgsync.State, string, error) {
	parts := make([]*tgsync.State, len(s.stores))
	revs := make([]string, len(s.stores))
	for i, st := range s.stores {
		var err error
		if parts[i], revs[i], err = st.Load(ctx); err != nil {
			return nil, "", fmt.Errorf("shard %d/%d: %w", i+1, len(s.stores), err)
		}
	}
	rev := joinRevisions(revs)
	kept := make([]*tgsync.State, len(parts))
	for i, p := range parts {
		kept[i] = p.Clone() // the merged state shares the parts' bindings
	}
	s.mu.Lock()
	if _, ok := s.loaded[rev]; !ok {
		s.order = append(s.order, rev)
		if len(s.order) > keptLoads {
			delete(s.loaded, s.order[0])
			s.order = s.order[1:]
		}
	}
	s.loaded[rev] = kept
	s.mu.Unlock()
	return mergeStates(parts...), rev, nil
}

func (s *shardedStore) Save(ctx context.Context, st *tgsync.State, rev string) (string, error) {
	revs, err := splitRevisions(rev, len(s.stores))
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	before := s.loaded[rev]
	s.mu.Unlock()
	for i, part := range s.split(st) {
		if before != nil && part.Equal(before[i]) {
			continue
		}
		if revs[i], err = s.stores[i].Save(ctx, part, revs[i]); err != nil {
			return "", fmt.Errorf("shard %d/%d: %w", i+1, len(s.stores), err)
		}
	}
	return joinRevisions(revs), nil
}

// split is a state's parts, one per shard.
func (s *shardedStore) split(st *tgsync.State) []*tgsync.State {
	n := len(s.stores)
	parts := make([]*tgsync.State, n)
	for i := range parts {
		parts[i] = tgsync.NewState()
	}
	for name, b := range st.Bindings {
		k := 1
		if arn, ok := s.groups[name]; ok {
			k = shard.Of(arn, n)
		}
		parts[k-1].Bindings[name] = b
	}
	for arn, o := range st.Observations {
		p := parts[shard.Of(arn, n)-1]
		if p.Observations == nil {
			p.Observations = map[string]*tgsync.Observation{}
		}
		p.Observations[arn] = o
	}
	for arn, g := range st.Groups {
		p := parts[shard.Of(arn, n)-1]
		if p.Groups == nil {
			p.Groups = map[string]tgsync.GroupInfo{}
		}
		p.Groups[arn] = g
	}
	parts[0].Drains, parts[0].DrainLog = st.Drains, st.DrainLog
	return parts
}

// joinRevisions and splitRevisions carry the shards' revisions in one.
func joinRevisions(revs []string) string {
	b, _ := json.Marshal(revs)
	return string(b)
}

func splitRevisions(rev string, n int) ([]string, error) {
	if rev == "" {
		return make([]string, n), nil
	}
	var revs []string
	if err := json.Unmarshal([]byte(rev), &revs); err != nil || len(revs) != n {
		return nil, fmt.Errorf("save sharded state: revision %q is not one this store gave", clip(rev, 80))
	}
	return revs, nil
}

// mergeStates is the states of the shards as one. Their bindings are
// disjoint but for a binding that moved to another shard when the number
// of shards changed: the shard it left keeps it for a while as removed,
// and the entry of the shard that runs it wins.
func mergeStates(states ...*tgsync.State) *tgsync.State {
	out := tgsync.NewState()
	for _, st := range states {
		if st == nil {
			continue
		}
		for name, b := range st.Bindings {
			if prev, ok := out.Bindings[name]; ok && prev.RemovedAt.IsZero() {
				continue
			}
			out.Bindings[name] = b
		}
		for arn, o := range st.Observations {
			if out.Observations == nil {
				out.Observations = map[string]*tgsync.Observation{}
			}
			out.Observations[arn] = o
		}
		for arn, g := range st.Groups {
			if out.Groups == nil {
				out.Groups = map[string]tgsync.GroupInfo{}
			}
			out.Groups[arn] = g
		}
		for task, d := range st.Drains {
			if out.Drains == nil {
				out.Drains = map[string]tgsync.DrainRecord{}
			}
			out.Drains[task] = d
		}
		out.DrainLog = append(out.DrainLog, st.DrainLog...)
	}
	// Shard 1 keeps the drain log; one written before the shards were
	// changed may be elsewhere too.
	slices.SortStableFunc(out.DrainLog, func(a, b tgsync.DrainEntry) int { return a.At.Compare(b.At) })
	return out
}
