// Package filestore keeps tgsync state in a local JSON file, for the CLI and
// the daemon.
//
// Writes are atomic (temporary file in the same directory, fsync, rename,
// fsync of the directory), so a crash leaves either the old or the new file,
// never a torn one. The revision is the SHA-256 of the file's bytes: Save
// compares it with what is on disk, under an flock on "<path>.lock", so that
// two processes on one machine cannot overwrite each other's state.
package filestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tgsync/tgsync"
)

var _ tgsync.Store = (*Store)(nil)

// Store is a tgsync.Store in one file.
type Store struct {
	path string
}

// New returns a store for the file at path. Nothing is touched until the
// first Load or Save; Save creates the parent directory if it is missing.
func New(path string) *Store { return &Store{path: path} }

// testHookBeforeRename runs after the temporary file is written and synced
// and before it replaces the state file; tests use it to interrupt a write.
var testHookBeforeRename func(tmp string) error

// Load reads the state file. A missing file is a new, empty state with
// revision "". A file that cannot be decoded is an error: starting from
// empty state would forget miss counters and ownership.
func (s *Store) Load(ctx context.Context) (*tgsync.State, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("load state file %s: %w", s.path, err)
	}
	f, size, err := s.openState()
	if errors.Is(err, fs.ErrNotExist) {
		return tgsync.NewState(), "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("load state file: %w", err)
	}
	defer f.Close()
	// One buffer of the file's size: a state costs its size once.
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if err := s.readState(ctx, f, buf); err != nil {
		return nil, "", fmt.Errorf("load state file %s: %w", s.path, err)
	}
	data := buf.Bytes()
	st, err := s.decode(data)
	if err != nil {
		return nil, "", err
	}
	return st, revisionOf(data), nil
}

// Save writes st atomically if the file still has the given revision, and
// returns the new revision. When another writer changed the file since it
// was loaded, the error wraps tgsync.ErrConflict.
func (s *Store) Save(ctx context.Context, st *tgsync.State, revision string) (string, error) {
	if st == nil {
		return "", fmt.Errorf("save state file %s: state is nil", s.path)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("save state file %s: %w", s.path, err)
	}
	data, err := tgsync.EncodeState(st)
	if err != nil {
		return "", fmt.Errorf("save state file %s: %w", s.path, err)
	}
	if len(data) > tgsync.MaxStateBytes {
		// Written, it could not be loaded again; the file keeps the last
		// state that can.
		return "", fmt.Errorf("save state file %s: the state is %d bytes, more than the %d bytes (%d MiB) a tgsync state can be: split the bindings across configs with state files of their own",
			s.path, len(data), tgsync.MaxStateBytes, tgsync.MaxStateBytes>>20)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("save state file: create directory: %w", err)
	}
	unlock, err := lock(ctx, s.path+".lock")
	if err != nil {
		return "", fmt.Errorf("save state file %s: %w", s.path, err)
	}
	defer unlock()

	current, err := s.currentRevision(ctx)
	if err != nil {
		return "", fmt.Errorf("save state file: %w", err)
	}
	if current != revision {
		return "", fmt.Errorf("save state file %s: %s since it was loaded: %w", s.path, describeChange(revision, current), tgsync.ErrConflict)
	}
	if err := s.writeAtomic(ctx, dir, data); err != nil {
		return "", fmt.Errorf("save state file %s: %w", s.path, err)
	}
	return revisionOf(data), nil
}

// decode turns file bytes into state, telling a file from a newer tgsync
// (upgrade) apart from a damaged one (restore).
func (s *Store) decode(data []byte) (*tgsync.State, error) {
	st, err := tgsync.DecodeState(data)
	if errors.Is(err, tgsync.ErrNewerState) {
		return nil, fmt.Errorf("state file %s: %w", s.path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%w); tgsync will not start from empty state, which would forget miss counters and ownership: restore the file from a backup, or move it away to start over deliberately", s.path, err)
	}
	return st, nil
}

// currentRevision hashes the file as it is on disk now; "" when it is
// missing.
func (s *Store) currentRevision(ctx context.Context) (string, error) {
	f, _, err := s.openState()
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if err := s.readState(ctx, f, h); err != nil {
		return "", fmt.Errorf("read current state file %s: %w", s.path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeAtomic replaces the state file with data. It runs under the lock, so
// every temporary file it finds is the leftover of a crashed writer.
func (s *Store) writeAtomic(ctx context.Context, dir string, data []byte) (err error) {
	base := filepath.Base(s.path)
	prefix := "." + base + ".tmp-"
	removeLeftovers(dir, prefix)
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if testHookBeforeRename != nil {
		if err := testHookBeforeRename(tmp); err != nil {
			return err
		}
	}
	// The last moment to give up with nothing changed.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// removeLeftovers deletes temporary files of writers that crashed before
// their rename. It is best effort: a leftover is harmless, only untidy.
func removeLeftovers(dir, prefix string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func revisionOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func describeChange(loaded, current string) string {
	switch {
	case loaded == "":
		return "another writer created it"
	case current == "":
		return "another writer removed it"
	default:
		return "another writer changed it"
	}
}
