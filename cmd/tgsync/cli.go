package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/obs"
)

// Exit codes, the same for every command. plan --detailed-exitcode adds
// exitChanges.
const (
	exitOK      = 0 // every binding succeeded
	exitFailed  = 1 // a binding, a source or an AWS call failed
	exitUsage   = 2 // bad flags, bad config, bad input
	exitChanges = 3 // plan --detailed-exitcode: the plan has changes
)

// CLI is the command line, with its environment injected so that tests can
// run it in process.
type CLI struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
}

// commandFuncs build the commands, in the order help lists them. A command
// lives in its own file and adds itself from an init function:
//
//	func init() { addCommand(deployCommand) }
var commandFuncs []func(*CLI, *globals) *cobra.Command

// addCommand registers commands; see commandFuncs.
func addCommand(f ...func(*CLI, *globals) *cobra.Command) {
	commandFuncs = append(commandFuncs, f...)
}

func init() {
	addCommand(onceCommand, planCommand, runCommand, statusCommand, drainCommand, validateCommand, demoCommand, versionCommand)
	// Help lists the commands in helpOrder.
	cobra.EnableCommandSorting = false
}

// helpOrder is the order help lists the commands in: a first run (once,
// plan, run), then what inspects, deploys and helps.
var helpOrder = []string{"once", "plan", "run", "status", "drain", "validate", "deploy", "healthcheck", "demo", "version"}

// helpRank places a command in helpOrder; one not listed goes last.
func helpRank(name string) int {
	if i := slices.Index(helpOrder, name); i >= 0 {
		return i
	}
	return len(helpOrder)
}

// globals are the settings several commands share. A command declares
// only the flags it uses (configFlag, logFlags, outputFlag); Main builds
// one globals per invocation.
type globals struct {
	config    string
	configSet bool // --config was given (TGSYNC_CONFIG_YAML applies only without it)
	logFormat string
	logLevel  string
	output    outputFormat
	log       *slog.Logger
}

// exitStatus ends a command with a code; the command has already said why
// on stderr (or, with msg, Main says it).
type exitStatus struct {
	code int
	msg  string
}

func (e *exitStatus) Error() string { return e.msg }

// exit returns the error that makes Main return code.
func exit(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitStatus{code: code}
}

// usageErrorf is a usage error that Main prints with the hint to --help.
func usageErrorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// Main runs one command and returns its exit code.
func (c *CLI) Main(ctx context.Context, args []string) int {
	g := &globals{}
	root := c.rootCommand(g)
	// A nil slice would make cobra read os.Args.
	root.SetArgs(append([]string{}, singleDashLongFlags(root, args)...))
	root.SetOut(c.Stdout)
	root.SetErr(c.Stderr)
	root.SetIn(c.Stdin)
	cmd, err := root.ExecuteContextC(ctx)
	var st *exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &st):
		if st.msg != "" {
			fmt.Fprintf(c.Stderr, "%s: %s\n", cmd.CommandPath(), st.msg)
		}
		return st.code
	default:
		// cobra's own errors and usageErrorf: an unknown command or flag,
		// a bad flag value, an unexpected argument.
		fmt.Fprintf(c.Stderr, "%s: %v\n", cmd.CommandPath(), err)
		fmt.Fprintf(c.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
}

func (c *CLI) rootCommand(g *globals) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "tgsync",
		Short: "keep ELB target groups of type ip equal to the addresses of DNS names and network interfaces",
		Long: `tgsync keeps ELB target groups of type ip equal to the addresses of DNS names and
network interfaces, without ever emptying a group because a lookup failed, and says
why it changes anything.

Start with 'tgsync validate --example > tgsync.yaml', then 'tgsync plan'.`,
		Example: `  tgsync validate --example > tgsync.yaml
  tgsync plan --config tgsync.yaml
  tgsync once
  tgsync run --interval 60s --listen 127.0.0.1:9090
  source <(tgsync completion bash)`,
		// No Args: cobra then answers an unknown command with "did you
		// mean".
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if showVersion {
				return printVersion(c, g)
			}
			// No command: the help, as a mistake.
			cmd.SetOut(c.Stderr)
			_ = cmd.Help()
			return exit(exitUsage)
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return c.prepare(cmd, g) },
	}
	root.Flags().BoolVar(&showVersion, "version", false, "print the version, the commit and the Go release (as 'tgsync version')")
	root.SetFlagErrorFunc(flagError)
	cmds := make([]*cobra.Command, 0, len(commandFuncs))
	for _, f := range commandFuncs {
		cmds = append(cmds, f(c, g))
	}
	// Commands that add themselves from other files take their place in
	// the order of a first run rather than that of file names.
	slices.SortStableFunc(cmds, func(a, b *cobra.Command) int { return cmp.Compare(helpRank(a.Name()), helpRank(b.Name())) })
	root.AddCommand(cmds...)
	defaultHelp := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		defaultHelp(cmd, args)
		writeHelpFooter(cmd.OutOrStdout(), cmd)
	})
	return root
}

// prepare applies the environment to the flags left unset and builds the
// logger, before any command runs.
func (c *CLI) prepare(cmd *cobra.Command, g *globals) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		env := flagEnv(f)
		if err != nil || env == "" || f.Changed {
			return
		}
		if v := c.Getenv(env); v != "" {
			if serr := f.Value.Set(v); serr != nil {
				err = usageErrorf("%s=%q (for --%s): %v", env, v, f.Name, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	if f := cmd.Flags().Lookup("config"); f != nil {
		g.configSet = f.Changed
	}
	if f := cmd.Flags().Lookup("output"); f != nil {
		g.output = *f.Value.(*outputFormat)
	}
	if cmd.Flags().Lookup("log-format") == nil {
		return nil
	}
	format, ok := obs.ParseFormat(g.logFormat, false)
	if !ok {
		return usageErrorf("--log-format %q: want text or json", g.logFormat)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	g.log = obs.NewLogger(c.Stderr, format, level)
	return nil
}

// envAnnotation names the environment variable a flag falls back to.
const envAnnotation = "tgsync_env"

// withEnv makes the flag fall back to the environment variable env when it
// is not given: flag > environment > default. Its help says so.
func withEnv(fs *pflag.FlagSet, name, env string) {
	f := fs.Lookup(name)
	f.Usage += " (env " + env + ")"
	_ = fs.SetAnnotation(name, envAnnotation, []string{env})
}

func flagEnv(f *pflag.Flag) string {
	if v := f.Annotations[envAnnotation]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// configFlag declares --config, for the commands that read a config.
func configFlag(cmd *cobra.Command, g *globals) {
	cmd.Flags().StringVarP(&g.config, "config", "c", "./tgsync.yaml", "config `file`; without it and TGSYNC_CONFIG, the YAML itself in TGSYNC_CONFIG_YAML")
	withEnv(cmd.Flags(), "config", "TGSYNC_CONFIG")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
}

// logFlags declares --log-format and --log-level, for the commands that log.
func logFlags(cmd *cobra.Command, g *globals) {
	fs := cmd.Flags()
	fs.StringVar(&g.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.StringVar(&g.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	withEnv(fs, "log-format", "TGSYNC_LOG_FORMAT")
	withEnv(fs, "log-level", "TGSYNC_LOG_LEVEL")
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
}

// outputFormat is -o/--output: text or json.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }
func (o *outputFormat) Type() string   { return "format" }
func (o *outputFormat) Set(s string) error {
	switch strings.ToLower(s) {
	case "text", "json":
		*o = outputFormat(strings.ToLower(s))
		return nil
	}
	return errors.New("want text or json")
}

func (o outputFormat) json() bool { return o == "json" }

// outputFlag declares -o/--output with its default and what each format
// prints.
// The command's own value is copied to globals.output before it runs
// (prepare), so that each command keeps its own default.
func outputFlag(cmd *cobra.Command, def outputFormat, what string) {
	cmd.Flags().VarP(&def, "output", "o", "what stdout gets: text or json; "+what)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// noArgs refuses positional arguments, naming the first.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	return nil
}

// flagError adds a "did you mean" to an unknown flag, as cobra does for
// an unknown command.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return err
	}
	var best string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if best == "" && (config.EditDistance(name, f.Name) <= 2 || strings.HasPrefix(f.Name, name)) {
			best = f.Name
		}
	})
	if best == "" {
		return err
	}
	return fmt.Errorf("%s\n\nDid you mean this?\n\t--%s", msg, best)
}

// singleDashLongFlags rewrites -name and -name=value to --name for the
// long flags tgsync has, which earlier versions (Go's flag package)
// accepted with one dash. Arguments after "--" are left alone.
func singleDashLongFlags(root *cobra.Command, args []string) []string {
	long := map[string]bool{"help": true}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && long[name] {
			out[i] = "-" + a
		}
	}
	return out
}

// helpFooter is the environment and the exit codes a command's help ends
// with.
const (
	annotationExitCodes = "tgsync_exit_codes"
	annotationAWS       = "tgsync_aws"
	annotationApp       = "tgsync_app"
)

// appEnv is the environment of the commands that run bindings (newApp),
// beside their flags'.
var appEnv = []string{
	"  TGSYNC_CONFIG_YAML   the config itself, without --config and TGSYNC_CONFIG",
	"  TGSYNC_DNS_SERVERS   the resolvers to ask (host:port,...), instead of dns.servers",
	"  TGSYNC_SHARDS        the shards of a deployment, each with its own state (default 1)",
}

// exitCodesText is the exit codes of the commands that act on a config.
const exitCodesText = `  0  every binding succeeded
  1  a binding failed (a lookup, an AWS call, the state store); nothing was removed because of it
  2  usage or config error; nothing was done`

func writeHelpFooter(w io.Writer, cmd *cobra.Command) {
	var envs []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if env := flagEnv(f); env != "" {
			envs = append(envs, fmt.Sprintf("  %-20s --%s", env, f.Name))
		}
	})
	if cmd.Annotations[annotationApp] != "" {
		envs = append(envs, appEnv...)
	}
	if !cmd.HasParent() {
		envs = append(envs,
			"  TGSYNC_CONFIG        --config",
			"  TGSYNC_LOG_FORMAT    --log-format",
			"  TGSYNC_LOG_LEVEL     --log-level",
			"  TGSYNC_INTERVAL      run --interval",
			"  TGSYNC_MIN_INTERVAL  run --min-interval",
			"  TGSYNC_LISTEN        run --listen")
		envs = append(envs, appEnv...)
	}
	aws := !cmd.HasParent() || cmd.Annotations[annotationAWS] != ""
	if len(envs) > 0 || aws {
		fmt.Fprintf(w, "\nEnvironment (a flag wins over its variable, the variable over the default):\n")
		for _, e := range envs {
			fmt.Fprintln(w, e)
		}
		if aws {
			fmt.Fprintln(w, "  AWS credentials, Region and endpoint come from the SDK's standard sources:\n  AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...")
		}
	}
	codes := cmd.Annotations[annotationExitCodes]
	if !cmd.HasParent() {
		codes = exitCodesText + "\n  3  plan --detailed-exitcode: the plan has changes"
	}
	if codes != "" {
		fmt.Fprintf(w, "\nExit codes:\n%s\n", codes)
	}
}

// runTimeout bounds one reconcile run of the CLI: a run that hangs must
// not hold the next one back forever.
const runTimeout = 5 * time.Minute
