// Package memstore keeps tgsync state in memory. It is what tests and the
// demo use in place of a file or an S3 object: it stores the encoded form,
// so that the schema and its version check are exercised exactly as by the
// durable stores, and it detects conflicting writers the same way.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/tgsync/tgsync"
)

var _ tgsync.Store = (*Store)(nil)

// Store is a tgsync.Store in memory. Revisions are counters ("1", "2", ...);
// the empty revision means nothing was saved yet. It is safe for concurrent
// use.
type Store struct {
	mu   sync.Mutex
	data []byte
	rev  int
}

// New returns an empty store.
func New() *Store { return &Store{} }

// Load returns the saved state, or a new empty state and revision "" when
// nothing was saved yet.
func (m *Store) Load(ctx context.Context) (*tgsync.State, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("load memory state: %w", err)
	}
	m.mu.Lock()
	data, rev := m.data, m.rev
	m.mu.Unlock()
	if rev == 0 {
		return tgsync.NewState(), "", nil
	}
	s, err := tgsync.DecodeState(data)
	if err != nil {
		return nil, "", fmt.Errorf("load memory state at revision %d: %w", rev, err)
	}
	return s, strconv.Itoa(rev), nil
}

// Save stores s if revision is still the current one, and returns the new
// revision. A stale revision fails with an error wrapping tgsync.ErrConflict.
func (m *Store) Save(ctx context.Context, s *tgsync.State, revision string) (string, error) {
	if s == nil {
		return "", errors.New("save memory state: state is nil")
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("save memory state: %w", err)
	}
	data, err := tgsync.EncodeState(s)
	if err != nil {
		return "", fmt.Errorf("save memory state: %w", err)
	}
	if len(data) > tgsync.MaxStateBytes {
		return "", fmt.Errorf("save memory state: the state is %d bytes, more than the %d bytes a tgsync state can be", len(data), tgsync.MaxStateBytes)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if current := m.revision(); revision != current {
		return "", fmt.Errorf("save memory state: loaded at revision %q, now at %q: %w", revision, current, tgsync.ErrConflict)
	}
	m.data = data
	m.rev++
	return strconv.Itoa(m.rev), nil
}

// Snapshot returns a deep copy of the saved state, or a new empty state when
// nothing was saved, for assertions. It returns nil if the saved bytes do
// not decode (for example a state of a newer version); Load reports why.
func (m *Store) Snapshot() *tgsync.State {
	s, _, err := m.Load(context.Background())
	if err != nil {
		return nil
	}
	return s
}

// Bytes returns a copy of the saved state in its stored form, nil when
// nothing was saved; the demo shows it and benchmarks measure it.
func (m *Store) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}

// Revision returns the current revision, "" when nothing was saved.
func (m *Store) Revision() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revision()
}

func (m *Store) revision() string {
	if m.rev == 0 {
		return ""
	}
	return strconv.Itoa(m.rev)
}
