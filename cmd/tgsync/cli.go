package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tgsync/tgsync/internal/obs"
)

// Exit codes, the same for every command.
const (
	exitOK     = 0 // every binding succeeded
	exitFailed = 1 // a binding, a source or an AWS call failed
	exitUsage  = 2 // bad flags, bad config, bad input
)

// CLI is the command line, with its environment injected so that tests can
// run it in process.
type CLI struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
}

// globals are the flags every command accepts, before or after its name.
type globals struct {
	config    string
	configSet bool // --config was given, before or after the command
	logFormat string
	logLevel  string
	log       *slog.Logger
}

func (g *globals) register(fs *flag.FlagSet, getenv func(string) string) {
	def := getenv("TGSYNC_CONFIG")
	if def == "" {
		def = "./tgsync.yaml"
	}
	fs.StringVar(&g.config, "config", def, "config `file` (env TGSYNC_CONFIG; without either, the YAML itself in env TGSYNC_CONFIG_YAML)")
	fs.StringVar(&g.logFormat, "log-format", "", "log format: text or json (default text, json in Lambda)")
	fs.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

type command struct {
	name    string
	args    string
	summary string
	// flags registers the command's own flags; run gets the rest.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *CLI, g *globals, args []string) int
}

func commands() []command {
	return []command{
		{"once", "[--dry-run] [--binding NAME]... [--output text|json]", "reconcile every binding once and exit", onceFlags(false)},
		{"plan", "[--binding NAME]... [--output text|json]", "show what once would change and why; change nothing", onceFlags(true)},
		{"run", "[--interval 60s] [--min-interval 10s] [--listen ADDR]", "reconcile every interval, sooner when a DNS TTL runs out, until SIGTERM", runFlags},
		{"status", "[--output text|json] [--events 5] [--no-describe]", "show what each binding believes, holds, waits for and refused, from the state and the target groups", statusFlags},
		{"drain", "--event FILE|- [--dry-run] [--max-age 5m]", "deregister a Fargate Spot task's targets on its ECS interruption event", drainFlags},
		{"validate", "[--example] [--for-stack]", "check the config and report every problem with its key", validateFlags},
		{"deploy", "[--stack NAME] [--subnets IDS --security-groups IDS] [--dry-run] [--delete [--delete-state]]", "create or update the Lambda stack from the config, and show its first run", deployFlags},
		{"healthcheck", "[--url http://127.0.0.1:9090/healthz]", "exit 0 when the daemon's /healthz answers 200 (a container health check)", healthcheckFlags},
		{"demo", "[--step 400ms] [--listen ADDR]", "play an OpenSearch node move on an embedded world; needs no AWS and no config", demoFlags},
		{"version", "", "print the version", versionFlags},
	}
}

func (c *CLI) usage(w io.Writer) {
	fmt.Fprintf(w, `tgsync keeps ELB target groups of type ip equal to the addresses of DNS names,
without ever emptying a group because a lookup failed, and says why it changes anything.

Usage:
  tgsync [global flags] <command> [flags]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, `
Global flags (also accepted after the command):
  --config FILE       config file (default ./tgsync.yaml, or $TGSYNC_CONFIG;
                      without either, the YAML itself in $TGSYNC_CONFIG_YAML)
  --log-format FMT    text or json (default text; json in Lambda)
  --log-level LEVEL   debug, info, warn or error (default info)

AWS credentials, region and endpoint come from the SDK's standard sources
(AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ...).

Exit codes: 0 every binding succeeded, 1 a binding or AWS call failed,
2 usage or config error.

Run 'tgsync <command> --help' for a command's flags.
`)
}

// Main runs one command and returns its exit code.
func (c *CLI) Main(ctx context.Context, args []string) int {
	var g globals
	root := flag.NewFlagSet("tgsync", flag.ContinueOnError)
	root.SetOutput(io.Discard)
	g.register(root, c.Getenv)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(c.Stdout)
			return exitOK
		}
		fmt.Fprintf(c.Stderr, "tgsync: %v\n\n", err)
		c.usage(c.Stderr)
		return exitUsage
	}
	rest := root.Args()
	if len(rest) == 0 {
		c.usage(c.Stderr)
		return exitUsage
	}
	name := rest[0]
	if name == "help" {
		c.usage(c.Stdout)
		return exitOK
	}
	i := slices.IndexFunc(commands(), func(cmd command) bool { return cmd.name == name })
	if i < 0 {
		fmt.Fprintf(c.Stderr, "tgsync: unknown command %q\n\n", name)
		c.usage(c.Stderr)
		return exitUsage
	}
	cmd := commands()[i]
	fs := flag.NewFlagSet("tgsync "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	// Flags given before the command are the defaults after it.
	sub := g
	sub.register(fs, func(string) string { return g.config })
	fs.Lookup("log-format").DefValue, fs.Lookup("log-level").DefValue = g.logFormat, g.logLevel
	_ = fs.Set("log-format", g.logFormat)
	_ = fs.Set("log-level", g.logLevel)
	run := cmd.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tgsync %s %s\n\n%s.\n\nFlags:\n", cmd.name, cmd.args, cmd.summary)
		fs.PrintDefaults()
	}
	// Help asked for goes to stdout, help after a mistake to stderr.
	var parseOut bytes.Buffer
	fs.SetOutput(&parseOut)
	err := fs.Parse(rest[1:])
	fs.SetOutput(c.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = parseOut.WriteTo(c.Stdout)
			return exitOK
		}
		_, _ = parseOut.WriteTo(c.Stderr)
		return exitUsage
	}
	sub.configSet = flagGiven(root, "config") || flagGiven(fs, "config")
	format, ok := obs.ParseFormat(sub.logFormat, false)
	if !ok {
		fmt.Fprintf(c.Stderr, "tgsync: --log-format %q: want text or json\n", sub.logFormat)
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(sub.logLevel)); err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: --log-level %q: want debug, info, warn or error\n", sub.logLevel)
		return exitUsage
	}
	sub.log = obs.NewLogger(c.Stderr, format, level)
	return run(ctx, c, &sub, fs.Args())
}

// flagGiven reports whether the command line set the flag name.
func flagGiven(fs *flag.FlagSet, name string) (given bool) {
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func noArgs(c *CLI, name string, args []string) bool {
	if len(args) > 0 {
		fmt.Fprintf(c.Stderr, "tgsync %s: unexpected argument %q\n", name, args[0])
		return false
	}
	return true
}

func versionFlags(*flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
	return func(_ context.Context, c *CLI, _ *globals, args []string) int {
		if !noArgs(c, "version", args) {
			return exitUsage
		}
		fmt.Fprint(c.Stdout, versionText(version, commit, runtime.Version()))
		return exitOK
	}
}

// releaseVersion is the form of VERSION that make release accepts (the
// Makefile's RELEASE_VERSION_RE says the same): a tag, never git describe's
// "v1.2.3-4-gabcdef0" or "-dirty".
var releaseVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)(\.[0-9]+)?)?$`)

// fullCommit is the commit make release stamps: a whole hash, which a tree
// with uncommitted changes never gets (it gets "<hash>-dirty").
var fullCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// versionText is what tgsync version prints: the version, the commit and
// the Go toolchain, so that a bug report names the exact build. A build
// that make release did not make from a clean tagged tree says so, so that
// nobody mistakes a local build for a published one.
func versionText(version, commit, goVersion string) string {
	var b strings.Builder
	b.WriteString("tgsync " + version)
	if !releaseVersion.MatchString(version) || !fullCommit.MatchString(commit) {
		b.WriteString(" (not a release build)")
	}
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(&b, "\ncommit: %s\ngo: %s %s/%s\n", commit, goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// runTimeout bounds one reconcile run of the CLI: a run that hangs must
// not hold the next one back forever.
const runTimeout = 5 * time.Minute
