// Command mkzip writes a zip archive whose bytes depend only on the files
// it holds: entries in the order given, a fixed modification time, modes
// 0755 for executables and 0644 otherwise, no directory entries. Lambda
// deployment packages built from the same source are then byte-identical,
// whatever the clock, umask or zip tool of the machine.
//
// Usage:
//
//	go run ./internal/tools/mkzip -o dist/tgsync-arm64.zip bootstrap=dist/arm64/bootstrap
package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// epoch is the modification time of every entry: the earliest time the
// zip format's MS-DOS fields can hold.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("o", "", "the zip `file` to write")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkzip -o out.zip name=path [name=path ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "mkzip: %v\n", err)
		os.Exit(1)
	}
}

// entry is one file to store: its name in the archive and on disk.
type entry struct{ name, path string }

func parseEntries(args []string) ([]entry, error) {
	if len(args) == 0 {
		return nil, errors.New("no files: give name=path arguments")
	}
	var out []entry
	seen := map[string]bool{}
	for _, a := range args {
		name, p, ok := strings.Cut(a, "=")
		if !ok || name == "" || p == "" {
			return nil, fmt.Errorf("argument %q: want name=path", a)
		}
		if path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") || name == ".." {
			return nil, fmt.Errorf("entry name %q: want a clean relative path", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("entry name %q given twice", name)
		}
		seen[name] = true
		out = append(out, entry{name, p})
	}
	return out, nil
}

// run writes the archive to a temporary file and renames it into place,
// so that a failed run leaves no half-written zip behind.
func run(out string, args []string) error {
	if out == "" {
		return errors.New("-o is required")
	}
	entries, err := parseEntries(args)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := write(&buf, entries); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".mkzip-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func write(w io.Writer, entries []entry) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for _, e := range entries {
		if err := add(zw, e); err != nil {
			return err
		}
	}
	return zw.Close()
}

func add(zw *zip.Writer, e entry) error {
	f, err := os.Open(e.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", e.path)
	}
	mode := fs.FileMode(0o644)
	if st.Mode().Perm()&0o100 != 0 {
		mode = 0o755
	}
	h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: epoch}
	h.SetMode(mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("%s: %w", e.path, err)
	}
	return nil
}
