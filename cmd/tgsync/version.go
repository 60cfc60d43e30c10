package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

func versionCommand(c *CLI, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version [flags]",
		Short: "print the version, the commit and the Go release",
		Example: `  tgsync version
  tgsync version -o json | jq -r .version
  tgsync --version`,
		Args:        noArgs,
		RunE:        func(*cobra.Command, []string) error { return printVersion(c, g) },
		Annotations: map[string]string{annotationExitCodes: "  0  printed\n  2  usage error"},
	}
	outputFlag(cmd, "text", "json prints {version, commit, go, platform, release}")
	return cmd
}

// versionInfo is tgsync version -o json.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Release is false for any build that make release did not make from
	// a clean tagged tree.
	Release bool `json:"release"`
}

func printVersion(c *CLI, g *globals) error {
	if g.output.json() {
		return writeJSON(c, versionInfo{Version: version, Commit: commit, Go: runtime.Version(),
			Platform: runtime.GOOS + "/" + runtime.GOARCH, Release: isRelease(version, commit)})
	}
	fmt.Fprint(c.Stdout, versionText(version, commit, runtime.Version()))
	return nil
}

// writeJSON writes v on stdout, indented.
func writeJSON(c *CLI, v any) error {
	enc := json.NewEncoder(c.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return &exitStatus{code: exitFailed, msg: "write the output: " + err.Error()}
	}
	return nil
}

// releaseVersion is the form of VERSION that make release accepts (the
// Makefile's RELEASE_VERSION_RE says the same): a tag, never git describe's
// "v1.2.3-4-gabcdef0" or "-dirty".
var releaseVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)(\.[0-9]+)?)?$`)

// fullCommit is the commit make release stamps: a whole hash, which a tree
// with uncommitted changes never gets (it gets "<hash>-dirty").
var fullCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// isRelease reports whether make release stamped the build from a clean
// tagged tree.
func isRelease(version, commit string) bool {
	return releaseVersion.MatchString(version) && fullCommit.MatchString(commit)
}

// versionText is what tgsync version prints: the version, the commit and
// the Go toolchain, so that a bug report names the exact build. A build
// that make release did not make from a clean tagged tree says so, so that
// nobody mistakes a local build for a published one.
func versionText(version, commit, goVersion string) string {
	var b strings.Builder
	b.WriteString("tgsync " + version)
	if !isRelease(version, commit) {
		b.WriteString(" (not a release build)")
	}
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(&b, "\ncommit: %s\ngo: %s %s/%s\n", commit, goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
