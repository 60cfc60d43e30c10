//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package filestore

import "context"

// openNonblock is 0 where there are no FIFOs to block an open.
const openNonblock = 0

// lock is a no-op where flock is not available: the revision check still
// catches a writer that finished before this one compared, but not one that
// renames between the compare and the rename.
func lock(ctx context.Context, name string) (func(), error) {
	return func() {}, ctx.Err()
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
