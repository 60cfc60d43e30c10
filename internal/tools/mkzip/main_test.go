package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(bin, bytes.Repeat([]byte("tgsync\x00"), 4096), 0o700); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "NOTICE")
	if err := os.WriteFile(doc, []byte("notice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	if err := run(a, []string{"bootstrap=" + bin, "NOTICE=" + doc}); err != nil {
		t.Fatal(err)
	}
	// A later mtime and another mode must not change the archive.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run(b, []string{"bootstrap=" + bin, "NOTICE=" + doc}); err != nil {
		t.Fatal(err)
	}
	za, _ := os.ReadFile(a)
	zb, _ := os.ReadFile(b)
	if !bytes.Equal(za, zb) {
		t.Fatalf("two archives of the same files differ (%d and %d bytes)", len(za), len(zb))
	}
	zr, err := zip.NewReader(bytes.NewReader(za), int64(len(za)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		mode os.FileMode
		body []byte
	}{
		{"bootstrap", 0o755, bytes.Repeat([]byte("tgsync\x00"), 4096)},
		{"NOTICE", 0o644, []byte("notice\n")},
	}
	if len(zr.File) != len(want) {
		t.Fatalf("archive holds %d entries, want %d", len(zr.File), len(want))
	}
	for i, w := range want {
		f := zr.File[i]
		if f.Name != w.name || f.Mode() != w.mode || !f.Modified.Equal(epoch) {
			t.Errorf("entry %d: %s mode %v modified %v; want %s mode %v modified %v", i, f.Name, f.Mode(), f.Modified, w.name, w.mode, epoch)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(body, w.body) {
			t.Errorf("entry %s holds %d bytes, want %d", f.Name, len(body), len(w.body))
		}
	}
}

func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.zip")
	tests := []struct {
		name string
		out  string
		args []string
		want string
	}{
		{"no output", "", []string{"f=" + file}, "-o is required"},
		{"no files", out, nil, "no files"},
		{"no name", out, []string{file}, "want name=path"},
		{"absolute name", out, []string{"/etc/x=" + file}, "clean relative path"},
		{"escaping name", out, []string{"../x=" + file}, "clean relative path"},
		{"duplicate", out, []string{"a=" + file, "a=" + file}, "given twice"},
		{"missing file", out, []string{"a=" + filepath.Join(dir, "absent")}, "no such file"},
		{"directory", out, []string{"a=" + dir}, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.out, tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q, %q) = %v, want an error saying %q", tc.out, tc.args, err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run left %s behind", out)
			}
		})
	}
}
