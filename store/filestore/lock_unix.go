//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// openNonblock keeps the open of a FIFO from blocking.
const openNonblock = syscall.O_NONBLOCK

// lockPoll is how often Save retries a lock another process holds.
const lockPoll = 5 * time.Millisecond

// testHookLockBusy runs when Save first finds the lock held by another
// holder; process tests use it to signal a writer that is waiting.
var testHookLockBusy func()

// lock takes an exclusive flock on name, waiting for other processes until
// ctx ends, and returns the function that releases it. The lock file is
// never removed: removing it would let two writers lock different inodes.
// The wait polls with LOCK_NB rather than blocking in flock, which no
// context could interrupt.
func lock(ctx context.Context, name string) (func(), error) {
	f, _, err := openRegular(name, "lock file", "remove it, and tgsync creates it again as a regular file", os.O_CREATE|os.O_RDWR)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	fd := int(f.Fd())
	for busy := false; ; busy = true {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if !busy && testHookLockBusy != nil {
			testHookLockBusy()
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock %s: another process holds it: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
