package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tgsync/tgsync"
)

// readChunk is how much is read between two looks at the context.
const readChunk = 256 << 10

// openRegular opens path for reading, refusing anything but a regular
// file: a FIFO would block the open, and a device such as /dev/zero never
// ends. The type is checked before the open, for a clear message, and
// again on the open file, which O_NONBLOCK keeps from blocking should a
// FIFO take the file's place in between. what names the file in errors.
// A missing file is an error wrapping fs.ErrNotExist.
func openRegular(path, what, fix string, flag int) (*os.File, fs.FileInfo, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, nil, notRegular(path, what, fix, fi.Mode())
	}
	f, err := os.OpenFile(path, flag|openNonblock, 0o600)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = notRegular(path, what, fix, fi.Mode())
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func notRegular(path, what, fix string, mode fs.FileMode) error {
	kind := "not a regular file"
	switch {
	case mode.IsDir():
		kind = "a directory"
	case mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		kind = "a socket"
	case mode&fs.ModeCharDevice != 0:
		kind = "a character device"
	case mode&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return fmt.Errorf("%s %s is %s, not a regular file: %s", what, path, kind, fix)
}

// fixStatePath is what to do about a state path that is not a regular file.
const fixStatePath = "point state.file at a regular file, or at a path that does not exist yet, which tgsync then creates"

// readState copies the open state file into w a chunk at a time, and
// stops when ctx ends or the file turns out larger than
// tgsync.MaxStateBytes, as one that grows while being read can.
func (s *Store) readState(ctx context.Context, f *os.File, w io.Writer) error {
	buf := make([]byte, readChunk)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.Read(buf)
		total += int64(n)
		if total > tgsync.MaxStateBytes {
			return s.tooLarge(total, true)
		}
		if _, werr := w.Write(buf[:n]); werr != nil {
			return werr
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// openState opens the state file and checks its size; a missing file is
// an error wrapping fs.ErrNotExist.
func (s *Store) openState() (*os.File, int64, error) {
	f, fi, err := openRegular(s.path, "state file", fixStatePath, os.O_RDONLY)
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() > tgsync.MaxStateBytes {
		f.Close()
		return nil, 0, s.tooLarge(fi.Size(), false)
	}
	return f, fi.Size(), nil
}

// tooLarge says that the state file holds more than a state can be, which
// most likely means that the path is wrong: Save never writes that much.
// atLeast is set when the file grew while being read and size is only what
// was read so far.
func (s *Store) tooLarge(size int64, atLeast bool) error {
	what := fmt.Sprintf("%d bytes", size)
	if atLeast {
		what = fmt.Sprintf("more than %d bytes", tgsync.MaxStateBytes)
	}
	return fmt.Errorf("state file %s is %s, larger than the %d bytes (%d MiB) a tgsync state can be (100 bindings with full histories take about 1 MB), so state.file probably names the wrong file: point it at tgsync's state file",
		s.path, what, tgsync.MaxStateBytes, tgsync.MaxStateBytes>>20)
}
