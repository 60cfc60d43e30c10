package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeStartsFromARelease checks the README's first steps: at most
// three commands (download and verify, config, deploy), the file names make
// release gives, and a config that tgsync deploy takes.
func TestReadmeStartsFromARelease(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, "## Start from a release")
	if start < 0 || start > strings.Index(readme, "## Contents") {
		t.Fatal("README.md has no '## Start from a release' above its contents")
	}
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(readme[start:])
	if block == nil {
		t.Fatal("no sh block in the section")
	}
	var commands []string
	var heredoc strings.Builder
	end := ""
	for _, line := range strings.Split(block[1], "\n") {
		switch {
		case end != "" && line == end:
			end = ""
		case end != "":
			heredoc.WriteString(line + "\n")
		case strings.TrimSpace(line) == "":
		default:
			commands = append(commands, line)
			if m := regexp.MustCompile(`<<'?(\w+)'?`).FindStringSubmatch(line); m != nil {
				end = m[1]
			}
		}
	}
	config := heredoc.String()
	if len(commands) > 3 {
		t.Errorf("the README starts with %d commands, want at most 3: %q", len(commands), commands)
	}
	// make release names the files tgsync_<version>_<os>_<arch> and SHA256SUMS.
	if !regexp.MustCompile(`tgsync_(v[0-9.]+)_linux_amd64,SHA256SUMS.*sha256sum -c .*tgsync_v[0-9.]+_linux_amd64 tgsync`).MatchString(commands[0]) {
		t.Errorf("the first command does not download, verify and install a release binary: %s", commands[0])
	}
	if !strings.HasPrefix(commands[len(commands)-1], "./tgsync deploy --config tgsync.yaml") {
		t.Errorf("the last command is %q, want ./tgsync deploy --config tgsync.yaml", commands[len(commands)-1])
	}
	// As written, the config holds the example's sample ARN, which deploy
	// refuses before it creates anything; with the user's ARN it is a
	// stack config.
	for _, tc := range []struct {
		name, config string
		code         int
		stderr       string
	}{
		{"as written", config, exitUsage, "sample ARN"},
		{"with your ARN", strings.ReplaceAll(config, "111122223333:targetgroup/os-dash/4ab4dba084c2bb5c",
			"123456789012:targetgroup/os-dash/0123456789abcdef"), exitOK, ""},
	} {
		path := writeFile(t, "tgsync.yaml", tc.config)
		res := runMain(t, nil, "validate", "--for-stack", "--config", path)
		if res.code != tc.code || !strings.Contains(res.stderr, tc.stderr) {
			t.Errorf("%s: the README's config: %s; want exit %d and %q on stderr\n%s", tc.name, res, tc.code, tc.stderr, tc.config)
		}
	}
}
