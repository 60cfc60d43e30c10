package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput: every mistake gets an error that names what to fix, and
// no tarball is written.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	args, _ := fakeBinaries(t, dir)
	notExec := filepath.Join(dir, "notexec")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(o *options)
		args   []string
		want   string
	}{
		{"no output", func(o *options) { o.out = "" }, args, "-o is required"},
		{"no name", func(o *options) { o.name = "" }, args, "-name is required"},
		{"no version", func(o *options) { o.version = "" }, args, "-version is required"},
		{"no revision", func(o *options) { o.revision = " " }, args, "-revision is required"},
		{"no source", func(o *options) { o.source = "" }, args, "-source is required"},
		{"no created", func(o *options) { o.created = "" }, args, "-created is required"},
		{"name without registry", func(o *options) { o.name = "tgsync" }, args, `-name "tgsync"`},
		{"name in capitals", func(o *options) { o.name = "ghcr.io/TGSync/tgsync" }, args, `-name "ghcr.io/TGSync/tgsync"`},
		{"version no tag can be", func(o *options) { o.version = "v1.2.3+build.1" }, args, `-version "v1.2.3+build.1" is not a valid image tag`},
		{"created not seconds", func(o *options) { o.created = "2026-01-01" }, args, `-created "2026-01-01": want Unix seconds`},
		{"created before 1970", func(o *options) { o.created = "-1" }, args, `-created "-1"`},
		{"no binaries", nil, nil, "no binaries: give os/arch=path arguments"},
		{"platform not shipped", nil, []string{"linux/386=" + notExec}, `argument "linux/386=`},
		{"not os/arch=path", nil, []string{"amd64"}, `argument "amd64": want linux/amd64=path`},
		{"platform twice", nil, []string{args[0], args[0]}, "platform linux/amd64 given twice"},
		{"missing binary", nil, []string{"linux/amd64=" + filepath.Join(dir, "nope")}, "no such file"},
		{"directory", nil, []string{"linux/amd64=" + dir}, "not a regular file"},
		{"not executable", nil, []string{"linux/amd64=" + notExec}, "not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t.TempDir())
			if tc.change != nil {
				tc.change(&o)
			}
			err := run(o, tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one that says %q", err, tc.want)
			}
			if o.out != "" {
				if _, err := os.Stat(o.out); !os.IsNotExist(err) {
					t.Errorf("a tarball was written: %v", err)
				}
				if left, _ := filepath.Glob(filepath.Join(filepath.Dir(o.out), ".mkimage-*")); len(left) > 0 {
					t.Errorf("left behind: %v", left)
				}
			}
		})
	}
}
