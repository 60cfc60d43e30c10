package testenv

import (
	"archive/zip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnzipBootstrap(t *testing.T) {
	type entry struct {
		name string
		mode fs.FileMode
		body string
	}
	tests := []struct {
		name    string
		entries []entry
		wantErr string
	}{
		{"an executable bootstrap", []entry{{"bootstrap", 0o755, "#!/bin/true\n"}}, ""},
		{"not executable", []entry{{"bootstrap", 0o644, "x"}}, "[bootstrap -rw-r--r--], want exactly one entry"},
		{"another name", []entry{{"main", 0o755, "x"}}, "[main -rwxr-xr-x]"},
		{"a second entry", []entry{{"bootstrap", 0o755, "x"}, {"README", 0o644, "y"}}, "want exactly one entry"},
		{"empty", nil, "holds [], want"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			zipPath := filepath.Join(dir, "p.zip")
			f, err := os.Create(zipPath)
			if err != nil {
				t.Fatal(err)
			}
			zw := zip.NewWriter(f)
			for _, e := range tc.entries {
				h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
				h.SetMode(e.mode)
				w, err := zw.CreateHeader(h)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write([]byte(e.body)); err != nil {
					t.Fatal(err)
				}
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			dst := filepath.Join(dir, "bootstrap")
			size, err := UnzipBootstrap(zipPath, dst)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if _, err := os.Stat(dst); !os.IsNotExist(err) {
					t.Errorf("a refused package still wrote %s (%v)", dst, err)
				}
				return
			}
			body := tc.entries[0].body
			got, err := os.ReadFile(dst)
			if err != nil || string(got) != body || size != int64(len(body)) {
				t.Fatalf("wrote %q (%v), size %d; want %q, size %d", got, err, size, body, len(body))
			}
			if st, err := os.Stat(dst); err != nil {
				t.Error(err)
			} else if st.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v, want -rwxr-xr-x", dst, st.Mode())
			}
			if size, err := UnzipBootstrap(zipPath, ""); err != nil || size != int64(len(body)) {
				t.Errorf("with no destination: size %d, %v; want %d", size, err, len(body))
			}
		})
	}
}
