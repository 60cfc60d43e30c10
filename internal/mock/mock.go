// Package mock holds the test doubles of tgsync's domain interfaces, so
// that tests share one of each instead of writing their own.
//
// Each interface has a mock whose methods call its function fields
// (ResolveFn, DescribeFn, SaveFn, ...). A test sets the functions it
// expects to be called; one that is not set panics when called, which
// shows a call the test did not expect. SourceOf, TargetGroupsOf and
// StoreOf fill every function with a call to a base, so that a test
// changes one behaviour (a slow save, a counted call, a failure after a
// call) and keeps the rest.
//
// Where many tests need the same state, it is ready-made: Answers, a
// source whose answer the test sets; MemGroups, target groups in memory;
// MemStore, a memstore.Store that counts saves and loses them to another
// writer on demand.
package mock

import (
	"context"

	"github.com/tgsync/tgsync"
)

var (
	_ tgsync.Source       = (*Source)(nil)
	_ tgsync.TargetGroups = (*TargetGroups)(nil)
	_ tgsync.Store        = (*Store)(nil)
)

// Source is a tgsync.Source named Name whose Resolve calls ResolveFn.
type Source struct {
	Name      string
	ResolveFn func(ctx context.Context) (tgsync.Answer, error)
}

// Resolve calls ResolveFn.
func (s *Source) Resolve(ctx context.Context) (tgsync.Answer, error) { return s.ResolveFn(ctx) }

// String returns Name.
func (s *Source) String() string { return s.Name }

// SourceOf returns a Source with base's name that resolves with base.
func SourceOf(base tgsync.Source) *Source {
	return &Source{Name: base.String(), ResolveFn: base.Resolve}
}

// TargetGroups is a tgsync.TargetGroups whose methods call its functions.
type TargetGroups struct {
	DescribeFn   func(ctx context.Context, arn string) ([]tgsync.ObservedTarget, error)
	RegisterFn   func(ctx context.Context, arn string, targets []tgsync.Change) ([]tgsync.Change, error)
	DeregisterFn func(ctx context.Context, arn string, targets []tgsync.Change) ([]tgsync.Change, error)
}

// Describe calls DescribeFn.
func (g *TargetGroups) Describe(ctx context.Context, arn string) ([]tgsync.ObservedTarget, error) {
	return g.DescribeFn(ctx, arn)
}

// Register calls RegisterFn.
func (g *TargetGroups) Register(ctx context.Context, arn string, targets []tgsync.Change) ([]tgsync.Change, error) {
	return g.RegisterFn(ctx, arn, targets)
}

// Deregister calls DeregisterFn.
func (g *TargetGroups) Deregister(ctx context.Context, arn string, targets []tgsync.Change) ([]tgsync.Change, error) {
	return g.DeregisterFn(ctx, arn, targets)
}

// TargetGroupsOf returns a TargetGroups whose every call goes to base.
func TargetGroupsOf(base tgsync.TargetGroups) *TargetGroups {
	return &TargetGroups{DescribeFn: base.Describe, RegisterFn: base.Register, DeregisterFn: base.Deregister}
}

// Store is a tgsync.Store whose methods call its functions.
type Store struct {
	LoadFn func(ctx context.Context) (*tgsync.State, string, error)
	SaveFn func(ctx context.Context, s *tgsync.State, revision string) (string, error)
}

// Load calls LoadFn.
func (s *Store) Load(ctx context.Context) (*tgsync.State, string, error) { return s.LoadFn(ctx) }

// Save calls SaveFn.
func (s *Store) Save(ctx context.Context, st *tgsync.State, revision string) (string, error) {
	return s.SaveFn(ctx, st, revision)
}

// StoreOf returns a Store whose every call goes to base.
func StoreOf(base tgsync.Store) *Store {
	return &Store{LoadFn: base.Load, SaveFn: base.Save}
}
