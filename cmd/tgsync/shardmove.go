package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tgsync/tgsync"
)

// movingStore is one shard's store that takes in the bindings that came
// to the shard when the number of shards changed. Without it a moved
// shared binding would start afresh and forget what it registered, which
// then stays in its group for good. When the shard's own state lacks a
// binding the shard runs, Load looks for it in the other shards' states
// and hands the reconciler that entry marked as removed: the reconciler
// puts it back as it puts back any binding that returns to the config,
// and its save moves the entry here. The shard it left keeps its copy as
// removed until BindingRetention drops it.
type movingStore struct {
	tgsync.Store
	others []tgsync.Store
	names  []string // the bindings the shard runs
}

// movedMark is the removal time of an adopted entry that its old shard
// had not yet marked removed: any time will do, the run clears it.
var movedMark = time.Unix(0, 0).UTC()

func (m *movingStore) Load(ctx context.Context) (*tgsync.State, string, error) {
	st, rev, err := m.Store.Load(ctx)
	if err != nil {
		return st, rev, err
	}
	var missing []string
	for _, name := range m.names {
		if st.Bindings[name] == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return st, rev, nil
	}
	found := map[string]*tgsync.BindingState{}
	for i, other := range m.others {
		o, _, err := other.Load(ctx)
		if err != nil {
			// A binding moved here must not start afresh because its old
			// shard could not be read: this run fails, the next tries again.
			return nil, "", fmt.Errorf("look for bindings moved to this shard (other shard %d of %d): %w", i+1, len(m.others), err)
		}
		for _, name := range missing {
			b := o.Bindings[name]
			if b == nil {
				continue
			}
			if prev := found[name]; prev == nil || fresher(b, prev) {
				found[name] = b
			}
		}
	}
	if len(found) == 0 {
		return st, rev, nil
	}
	st = st.Clone()
	if st.Bindings == nil {
		st.Bindings = map[string]*tgsync.BindingState{}
	}
	for name, b := range found {
		moved := *b
		if moved.RemovedAt.IsZero() {
			moved.RemovedAt = movedMark
		}
		st.Bindings[name] = &moved
	}
	return st, rev, nil
}

// fresher says whether a is the entry of the shard that ran the binding
// last: one not marked removed, or the one removed most recently.
func fresher(a, b *tgsync.BindingState) bool {
	switch {
	case b.RemovedAt.IsZero():
		return false
	case a.RemovedAt.IsZero():
		return true
	}
	return a.RemovedAt.After(b.RemovedAt)
}
