//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package filestore

import "context"

// lock is a no-op where flock is not available: the revision check still
// catches a writer that finished before this one compared, but not one that
// renames between the compare and the rename.
func lock(ctx context.Context, name string) (func(), error) {
	return func() {}, ctx.Err()
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
