package mock

import (
	"context"
	"sync"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/store/memstore"
)

// MemStore is a memstore.Store that counts the saves it accepts and, on
// demand, loses saves to another writer, as S3 answers 412 to a run when
// another run saved first. It is safe for concurrent use.
type MemStore struct {
	*memstore.Store

	mu    sync.Mutex
	saves int
	lose  int
}

var _ tgsync.Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{Store: memstore.New()} }

// LoseSaves makes each of the next n saves lose to another writer that
// saves just before it.
func (s *MemStore) LoseSaves(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

// OtherWriter saves the stored state again, unchanged, as another run
// that changed nothing would: the revision moves on, so that a save from
// the revision before conflicts.
func (s *MemStore) OtherWriter(ctx context.Context) error {
	st, rev, err := s.Store.Load(ctx)
	if err != nil {
		return err
	}
	_, err = s.Store.Save(ctx, st, rev)
	return err
}

// Save saves st if revision is still the current one, after another
// writer when LoseSaves asked for it.
func (s *MemStore) Save(ctx context.Context, st *tgsync.State, revision string) (string, error) {
	s.mu.Lock()
	lose := s.lose > 0
	if lose {
		s.lose--
	}
	s.mu.Unlock()
	if lose {
		if err := s.OtherWriter(ctx); err != nil {
			return "", err
		}
	}
	next, err := s.Store.Save(ctx, st, revision)
	if err == nil {
		s.mu.Lock()
		s.saves++
		s.mu.Unlock()
	}
	return next, err
}

// Saves counts the saves the store accepted, other writers' left out.
func (s *MemStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}
