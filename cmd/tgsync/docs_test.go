package main

import (
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docFiles are the documents that show the command line.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append(files, "../../README.md", "../../deploy/eventbridge/README.md")
}

// codeBlocks returns the lines of each fenced code block of a Markdown
// file.
func codeBlocks(t *testing.T, file string) [][]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if in {
				blocks = append(blocks, cur)
			}
			in, cur = !in, nil
			continue
		}
		if in {
			cur = append(cur, line)
		}
	}
	return blocks
}

// invocation is one run of tgsync in a shell line: the program as
// written and its arguments.
type invocation struct {
	line, program string
	args          []string
}

var (
	envAssign = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
	// tgsyncProgram is a tgsync binary as a path ends: tgsync, or a
	// release's tgsync_v1.2.3_linux_amd64.
	tgsyncProgram = regexp.MustCompile(`(^|/)tgsync(_v[0-9]+\.[0-9]+\.[0-9]+[^./*]*)?$`)
	shellSep      = regexp.MustCompile(`\|\||&&|[|;]`)
)

// invocations finds the runs of tgsync in a block: in each command of
// each line (after "|", ";", "&&"), a tgsync binary as the program (after
// variables set for it) or as the first word of a command substitution,
// and its words up to a redirection. Lines ending in a backslash go on.
// A block with "$ " prompts is commands and output: only the prompted
// lines are commands.
func invocations(block []string) []invocation {
	var lines []string
	for i := 0; i < len(block); i++ {
		l := strings.TrimSpace(block[i])
		for strings.HasSuffix(l, "\\") && i+1 < len(block) {
			i++
			l = strings.TrimSuffix(l, "\\") + " " + strings.TrimSpace(block[i])
		}
		lines = append(lines, l)
	}
	prompted := false
	for _, l := range lines {
		prompted = prompted || strings.HasPrefix(l, "$ ")
	}
	var out []invocation
	for _, l := range lines {
		if prompted {
			var ok bool
			if l, ok = strings.CutPrefix(l, "$ "); !ok {
				continue
			}
		}
		if i := strings.Index(" "+l, " #"); i >= 0 {
			l = l[:max(i-1, 0)]
		}
		for _, part := range shellSep.Split(l, -1) {
			words := strings.Fields(part)
			k := 0
			for k < len(words) && envAssign.MatchString(words[k]) {
				k++
			}
			for j, w := range words {
				if sub := strings.TrimPrefix(strings.TrimPrefix(w, "<("), "$("); sub != w {
					k, words[j] = j, sub
					break
				}
			}
			if k >= len(words) || !tgsyncProgram.MatchString(words[k]) {
				continue
			}
			inv := invocation{line: l, program: words[k]}
			for _, a := range words[k+1:] {
				if strings.ContainsAny(a[:1], "<>") || strings.HasPrefix(a, "2>") {
					break
				}
				inv.args = append(inv.args, strings.TrimSuffix(a, ")"))
			}
			out = append(out, inv)
		}
	}
	return out
}

// TestDocsCommandLines: every tgsync command line the documents show names
// a command and flags that exist, with values they take.
func TestDocsCommandLines(t *testing.T) {
	t.Parallel()
	n := 0
	for _, file := range docFiles(t) {
		for _, block := range codeBlocks(t, file) {
			for _, inv := range invocations(block) {
				n++
				c := &CLI{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
				root := c.rootCommand(&globals{})
				root.InitDefaultHelpCmd()
				root.InitDefaultCompletionCmd()
				args := singleDashLongFlags(root, inv.args)
				cmd, rest, err := root.Find(args)
				if err == nil {
					err = cmd.ParseFlags(rest)
				}
				if err == nil {
					err = cmd.ValidateArgs(cmd.Flags().Args())
				}
				if err != nil {
					t.Errorf("%s: %q: %v", file, inv.line, err)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found only %d tgsync command lines in the documents", n)
	}
}

// TestReadmeRunsWhatItBuilds: the README's "Run it" runs the binary where
// its build command puts it (make build writes $(DIST)/tgsync).
func TestReadmeRunsWhatItBuilds(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	dist := regexp.MustCompile(`(?m)^DIST\s*\?=\s*(\S+)`).FindSubmatch(mk)
	if dist == nil || !regexp.MustCompile(`(?m)^build:\n(\t.*\n)*\t.*-o \$\(DIST\)/tgsync `).Match(mk) {
		t.Fatal("the Makefile's build target does not write $(DIST)/tgsync")
	}
	made := string(dist[1]) + "/tgsync"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, runIt, _ := strings.Cut(string(readme), "\n## Run it\n")
	var block []string
	for _, b := range codeBlocks(t, "../../README.md") {
		if strings.Contains(runIt, strings.Join(b, "\n")) {
			block = b
			break
		}
	}
	built := map[string]bool{}
	onPath := false
	for _, l := range block {
		if strings.Contains(l, "make build") {
			built[made] = true
		}
		if m := regexp.MustCompile(`go build -o (\S+)`).FindStringSubmatch(l); m != nil {
			built[strings.TrimPrefix(m[1], "./")] = true
		}
		onPath = onPath || strings.Contains(l, "PATH=$PWD/"+path.Dir(made)+":")
	}
	if len(built) != 1 {
		t.Fatalf("the Run it block builds %v; want one binary, where make build writes it (%s)", built, made)
	}
	runs := invocations(block)
	if len(runs) == 0 {
		t.Fatal("the Run it block runs no tgsync")
	}
	for _, inv := range runs {
		if p := strings.TrimPrefix(inv.program, "./"); p != made && !(p == "tgsync" && onPath) {
			t.Errorf("the Run it block runs %s, but builds %s: %q", inv.program, made, inv.line)
		}
	}
}
