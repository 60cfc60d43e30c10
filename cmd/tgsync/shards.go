package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
// schedules fire at the same moments. With one shard, the reconciler is
// the process's own.
type shardSet struct {
	n     int
	base  *tgsync.Reconciler
	store func(k int) (tgsync.Store, error)

	mu  sync.Mutex
	byK map[int]*tgsync.Reconciler
}

// newShardSet reads TGSYNC_SHARDS for a's bindings.
func newShardSet(a *app, getenv func(string) string, bucketRegion string) (*shardSet, error) {
	n := 1
	if v := strings.TrimSpace(getenv(envShards)); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		if err != nil || n < 1 || n > shard.Max {
			return nil, fmt.Errorf("%s=%q: want the number of shards, 1 to %d", envShards, clip(v, 20), shard.Max)
		}
	}
	if n > 1 && a.groups != nil {
		a.groups.Share(n)
	}
	return &shardSet{n: n, base: a.reconciler, byK: map[int]*tgsync.Reconciler{}, store: func(k int) (tgsync.Store, error) {
		if k == 1 {
			return a.store, nil
		}
		return newShardStore(a.cfg.State, a.awsConfig, bucketRegion, k)
	}}, nil
}

// of is the shard that runs a binding.
func (s *shardSet) of(b tgsync.Binding) int { return shard.Of(b.TargetGroupARN, s.n) }

// reconciler returns shard k's reconciler.
func (s *shardSet) reconciler(k int) (*tgsync.Reconciler, error) {
	if s.n == 1 {
		return s.base, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byK[k]; r != nil {
		return r, nil
	}
	st, err := s.store(k)
	if err != nil {
		return nil, fmt.Errorf("shard %d/%d: %w", k, s.n, err)
	}
	r := &tgsync.Reconciler{Groups: s.base.Groups, Store: st, Now: s.base.Now, Concurrency: s.base.Concurrency,
		DescribeEvery: s.base.DescribeEvery, SaveAttempts: s.base.SaveAttempts}
	for _, b := range s.base.Bindings {
		if s.of(b) == k {
			r.Bindings = append(r.Bindings, b)
		}
	}
	s.byK[k] = r
	return r, nil
}

// run runs shard k (0: every shard, one after the other, each on its own
// state) with the bindings opts.Only names, or all of them, and returns
// the runs as one.
func (s *shardSet) run(ctx context.Context, opts tgsync.RunOptions, k int) (tgsync.RunResult, error) {
	if s.n == 1 {
		return s.base.Run(ctx, opts)
	}
	shards := []int{k}
	if k == 0 {
		shards = nil
		for i := 1; i <= s.n; i++ {
			shards = append(shards, i)
		}
	}
	var out tgsync.RunResult
	var errs []error
	for _, k := range shards {
		r, err := s.reconciler(k)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o := opts
		if len(opts.Only) > 0 {
			o.Only = slices.DeleteFunc(slices.Clone(opts.Only), func(name string) bool {
				return !slices.ContainsFunc(r.Bindings, func(b tgsync.Binding) bool { return b.Name == name })
			})
			if len(o.Only) == 0 {
				continue
			}
		}
		res, err := r.Run(ctx, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %d/%d: %w", k, s.n, err))
		}
		out = joinResults(out, res)
	}
	if out.Bindings == nil {
		out.Bindings = []tgsync.BindingResult{}
		out.Started = time.Now()
	}
	return out, errors.Join(errs...)
}

// joinResults is two runs as one: the bindings of both, from the start of
// the first to the end of the second.
func joinResults(a, b tgsync.RunResult) tgsync.RunResult {
	if a.Started.IsZero() {
		return b
	}
	a.Bindings = append(a.Bindings, b.Bindings...)
	a.Duration = b.Started.Add(b.Duration).Sub(a.Started)
	a.StateWritten = a.StateWritten || b.StateWritten
	a.Conflicts += b.Conflicts
	a.State = mergeStates(a.State, b.State)
	return a
}

// loadState loads every shard's state, as one.
func (s *shardSet) loadState(ctx context.Context) (*tgsync.State, error) {
	var states []*tgsync.State
	for k := 1; k <= s.n; k++ {
		var st tgsync.Store = s.base.Store
		if s.n > 1 {
			r, err := s.reconciler(k)
			if err != nil {
				return nil, err
			}
			st = r.Store
		}
		state, _, err := st.Load(ctx)
		if err != nil {
			if s.n > 1 {
				err = fmt.Errorf("shard %d/%d: %w", k, s.n, err)
			}
			return nil, err
		}
		states = append(states, state)
	}
	return mergeStates(states...), nil
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
		if len(st.Groups) > 0 {
			if out.Groups == nil {
				out.Groups = map[string]tgsync.GroupInfo{}
			}
			maps.Copy(out.Groups, st.Groups)
		}
		if len(st.Observations) > 0 {
			if out.Observations == nil {
				out.Observations = map[string]*tgsync.Observation{}
			}
			maps.Copy(out.Observations, st.Observations)
		}
		if len(st.Drains) > 0 {
			if out.Drains == nil {
				out.Drains = map[string]tgsync.DrainRecord{}
			}
			maps.Copy(out.Drains, st.Drains)
		}
	}
	return out
}
