package config

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that Parse either
// returns a config that passes validation or a *ValidationError. The seed
// corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(Example())
	f.Add([]byte(minimal))
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a config and an error: %v", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error %T %q, want a *ValidationError with problems", err, err)
			}
			// An upper bound: YAML breaks lines at \n, \r and three
			// Unicode characters.
			lines := 1
			for _, brk := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
				lines += strings.Count(string(data), brk)
			}
			if !sort.SliceIsSorted(ve.Problems, func(i, j int) bool { return ve.Problems[i].Line < ve.Problems[j].Line }) {
				t.Fatalf("problems not sorted by line:\n%v", err)
			}
			for _, p := range ve.Problems {
				// The raw types take every node yaml.v3 hands them;
				// yamlFailed means one of them failed, or panicked.
				if p.Message == "" || p.Message == yamlFailed || p.Line < 0 || p.Line > lines {
					t.Fatalf("bad problem %+v in a %d-line input", p, lines)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config fails validation:\n%v", err)
		}
		for _, b := range cfg.Bindings {
			if err := b.Policy().Validate(); err != nil {
				t.Fatalf("binding %s: policy: %v", b.Name, err)
			}
			if len(b.PortsUint16()) != len(b.Ports) || len(b.Ports) == 0 {
				t.Fatalf("binding %s: ports %v", b.Name, b.Ports)
			}
			if b.Source.DNS == nil || len(b.Families()) == 0 {
				t.Fatalf("binding %s: source %+v", b.Name, b.Source)
			}
		}
	})
}

// TestSeedCorpus keeps the committed seeds meaningful: valid-* seeds parse
// and invalid-* seeds do not.
func TestSeedCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(raw), "\n", 3)
			if len(lines) < 2 || lines[0] != "go test fuzz v1" {
				t.Fatalf("not a corpus file: %q", raw)
			}
			quoted, ok := strings.CutPrefix(strings.TrimSuffix(lines[1], ")"), "[]byte(")
			data, err := strconv.Unquote(quoted)
			if !ok || err != nil {
				t.Fatalf("corpus value %q: %v", lines[1], err)
			}
			_, err = Parse([]byte(data))
			switch name := filepath.Base(file); {
			case strings.HasPrefix(name, "valid-") && err != nil:
				t.Errorf("valid seed fails:\n%v", err)
			case strings.HasPrefix(name, "invalid-") && err == nil:
				t.Error("invalid seed parses")
			}
		})
	}
}
