package tgsync_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tgsync/tgsync"
)

// TestRulesListsEveryRule reads the package's source for its Rule*
// constants: a new rule must join Rules, or its counter would appear only
// after its first refusal.
func TestRulesListsEveryRule(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Rule") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						consts = append(consts, v)
					}
				}
			}
			return true
		})
	}
	slices.Sort(consts)
	got := slices.Sorted(slices.Values(tgsync.Rules))
	if len(consts) == 0 || !slices.Equal(got, consts) {
		t.Errorf("Rules = %q, want every Rule constant %q", got, consts)
	}
}
