package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgsync/tgsync/dns/dnstest"
	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/testenv"
)

// runMain runs the CLI in process with env as the whole of what Getenv
// sees.
func runMain(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &CLI{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader(""),
		Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := c.Main(ctx, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// validConfig is a config that validates; nothing in it is ever dialled.
const validConfig = `dns:
  servers: ["10.0.0.2:53"]
bindings:
  - name: os
    source:
      dns: vpc-logs.cli.internal
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/os/0123456789abcdef
    ports: [443]
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// commandsOf lists the commands of the root command, help and completion
// included.
func commandsOf() []*cobra.Command {
	c := &CLI{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	root := c.rootCommand(&globals{})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root.Commands()
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			res := runMain(t, nil, args...)
			if res.code != exitOK {
				t.Fatalf("want exit 0, got %s", res)
			}
			for _, cmd := range commandsOf() {
				if !hasLine(res.stdout, "  "+cmd.Name()+" ", cmd.Short) {
					t.Errorf("help does not list %s with its summary %q:\n%s", cmd.Name(), cmd.Short, res.stdout)
				}
			}
			for _, want := range []string{"completion", "--version", "TGSYNC_CONFIG", "TGSYNC_INTERVAL", "TGSYNC_LOG_FORMAT",
				"AWS_ENDPOINT_URL", "Exit codes", "3  plan --detailed-exitcode", "Examples:"} {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("help does not mention %s", want)
				}
			}
			if res.stderr != "" {
				t.Errorf("help wrote to stderr: %s", res.stderr)
			}
		})
	}
}

// TestCLICommandHelp: every command answers --help with exit 0, examples,
// and only the flags that apply to it; the global ones where it uses them.
func TestCLICommandHelp(t *testing.T) {
	t.Parallel()
	config, logs := []string{"--config", "TGSYNC_CONFIG"}, []string{"--log-format", "--log-level", "TGSYNC_LOG_LEVEL"}
	output := []string{"-o, --output"}
	// The variables of the commands that run bindings (newApp), beside
	// their flags': the daemon's homes set them for run.
	app := []string{"TGSYNC_CONFIG_YAML", "TGSYNC_DNS_SERVERS", "TGSYNC_SHARDS"}
	flags := map[string][]string{
		"once":        slices.Concat(config, logs, output, app, []string{"--dry-run", "--binding"}),
		"plan":        slices.Concat(config, logs, output, app, []string{"--binding", "--detailed-exitcode"}),
		"run":         slices.Concat(config, logs, app, []string{"--interval", "TGSYNC_INTERVAL", "--min-interval", "TGSYNC_MIN_INTERVAL", "--listen", "TGSYNC_LISTEN"}),
		"status":      slices.Concat(config, logs, output, app, []string{"--exit-code", "--no-describe", "--events"}),
		"drain":       slices.Concat(config, logs, output, []string{"--event", "--dry-run", "--max-age"}),
		"validate":    slices.Concat(config, output, []string{"--example", "--for-stack"}),
		"deploy":      slices.Concat(config, output, []string{"--stack", "--subnets", "--security-groups", "--param", "--dry-run", "--delete", "--delete-state"}),
		"healthcheck": {"--url", "--timeout"},
		"demo":        slices.Concat(logs, []string{"--step", "--listen"}),
		"version":     output,
	}
	all := []string{"--config", "--log-format", "--output", "--dry-run", "--binding", "--interval", "--listen", "--exit-code", "--event", "--example", "--step",
		"--stack", "--url", "TGSYNC_SHARDS", "TGSYNC_DNS_SERVERS"}
	for _, cmd := range commandsOf() {
		want, ok := flags[cmd.Name()]
		if !ok {
			continue // help and completion are cobra's
		}
		t.Run(cmd.Name(), func(t *testing.T) {
			t.Parallel()
			res := runMain(t, nil, cmd.Name(), "--help")
			if res.code != exitOK || res.stderr != "" {
				t.Fatalf("want exit 0 and help on stdout only, got %s", res)
			}
			for _, w := range slices.Concat([]string{"Usage:\n  tgsync " + cmd.Name(), "Examples:\n  tgsync ", "Exit codes:\n  0  "}, want) {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("%s --help does not show %q:\n%s", cmd.Name(), w, res.stdout)
				}
			}
			for _, f := range all {
				if !slices.ContainsFunc(want, func(w string) bool { return strings.Contains(w, f) }) && strings.Contains(res.stdout, f+" ") {
					t.Errorf("%s --help lists %s, which does not apply to it:\n%s", cmd.Name(), f, res.stdout)
				}
			}
		})
	}
}

func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "tgsync.yaml", validConfig)
	cases := []struct {
		args []string
		want string // a substring of stderr
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `tgsync: unknown command "frobnicate" for "tgsync"`},
		{[]string{"pln"}, "unknown command \"pln\" for \"tgsync\"\n\nDid you mean this?\n\tplan\n"},
		{[]string{"vaildate"}, "Did you mean this?\n\tvalidate\n"},
		{[]string{"--nope", "version"}, "unknown flag: --nope"},
		{[]string{"version", "--nope"}, "tgsync version: unknown flag: --nope"},
		{[]string{"plan", "--outptu", "json"}, "tgsync plan: unknown flag: --outptu\n\nDid you mean this?\n\t--output\n"},
		{[]string{"version", "extra"}, `tgsync version: unexpected argument "extra"`},
		{[]string{"plan", "x"}, "tgsync plan: unexpected argument \"x\"\nRun 'tgsync plan --help' for usage."},
		{[]string{"validate", "--example", "extra"}, `unexpected argument "extra"`},
		{[]string{"--config", cfg, "once", "extra"}, `unexpected argument "extra"`},
		{[]string{"--config", cfg, "once", "--output", "yaml"}, `invalid argument "yaml" for "-o, --output" flag: want text or json`},
		{[]string{"--config", cfg, "plan", "-o", "yaml"}, `invalid argument "yaml" for "-o, --output" flag: want text or json`},
		{[]string{"--config", cfg, "deploy", "-o", "yaml"}, `invalid argument "yaml" for "-o, --output" flag: want text or json`},
		{[]string{"deploy", "--delete", "--output", "xml"}, `invalid argument "xml" for "-o, --output" flag: want text or json`},
		{[]string{"once", "--binding"}, "flag needs an argument: --binding"},
		{[]string{"run", "--interval", "soon"}, `invalid argument "soon" for "--interval" flag`},
		{[]string{"--config", cfg, "run", "--interval", "1s", "--min-interval", "2s"}, "want 0 < --min-interval (2s) <= --interval (1s)"},
		{[]string{"--config", cfg, "run", "--interval", "0s"}, "want 0 < --min-interval"},
		{[]string{"demo", "--step", "10s"}, "--step 10s: want 0 to 5s"},
		{[]string{"demo", "--step", "-1s"}, "--step -1s"},
		{[]string{"--log-format", "xml", "once"}, `--log-format "xml": want text or json`},
		{[]string{"once", "--log-format", "xml"}, `--log-format "xml": want text or json`},
		{[]string{"--log-level", "loud", "plan"}, `--log-level "loud"`},
		{[]string{"status", "--log-level", "loud"}, `--log-level "loud"`},
		// Flags only where they apply.
		{[]string{"version", "--log-format", "json"}, "tgsync version: unknown flag: --log-format"},
		{[]string{"validate", "--log-level", "debug"}, "tgsync validate: unknown flag: --log-level"},
		{[]string{"--config", cfg, "version"}, "tgsync version: unknown flag: --config"},
		{[]string{"demo", "--config", cfg}, "tgsync demo: unknown flag: --config"},
		{[]string{"run", "--output", "json"}, "tgsync run: unknown flag: --output"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			res := runMain(t, nil, tc.args...)
			if res.code != exitUsage {
				t.Errorf("want exit 2, got %s", res)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, res.stderr)
			}
			if strings.Contains(res.stderr, "tgsync tgsync") {
				t.Errorf("stderr names the command twice:\n%s", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("a usage error wrote to stdout: %s", res.stdout)
			}
		})
	}
}

func TestCLIValidate(t *testing.T) {
	t.Parallel()
	valid := writeFile(t, "valid.yaml", validConfig)
	invalid := writeFile(t, "invalid.yaml", validConfig+"    deregister:\n      maxFraction: 1.5\n")
	spot := writeFile(t, "spot.yaml", validConfig+"spotDrain:\n  targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ls/0123456789abcdef]\n")
	public := writeFile(t, "public.yaml", validConfig+"    allowedCidrs:\n      - 10.0.0.0/8\n      - 0.0.0.0/0\n      - 8.8.8.0/24\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	cases := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{"flag before the command", nil, []string{"--config", valid, "validate"}, 0, valid + ": valid: 1 binding(s)\n", nil},
		{"flag after the command", nil, []string{"validate", "--config", valid}, 0, valid + ": valid: 1 binding(s)\n", nil},
		{"flag after overrides flag before", nil, []string{"--config", missing, "validate", "--config", valid}, 0, valid + ": valid: 1 binding(s)\n", nil},
		{"TGSYNC_CONFIG", map[string]string{"TGSYNC_CONFIG": valid}, []string{"validate"}, 0, valid + ": valid: 1 binding(s)\n", nil},
		{"flag overrides TGSYNC_CONFIG", map[string]string{"TGSYNC_CONFIG": missing}, []string{"validate", "--config", valid}, 0, valid + ": valid: 1 binding(s)\n", nil},
		{"spot drain is counted", nil, []string{"validate", "--config", spot}, 0, spot + ": valid: 1 binding(s), spot drain for 1 target group(s)\n", nil},
		{"public ranges warn but validate", nil, []string{"validate", "--config", public}, 0, public + ": valid: 1 binding(s), 2 warning(s)\n",
			[]string{"tgsync: warning: " + public + ":11: bindings[0].allowedCidrs[1]: 0.0.0.0/0 is wider than the private ranges",
				"tgsync: warning: " + public + ":12: bindings[0].allowedCidrs[2]: 8.8.8.0/24 is outside the private ranges"}},
		{"invalid", nil, []string{"validate", "--config", invalid}, 2, "",
			[]string{invalid + ":10: bindings[0].deregister.maxFraction: must be in (0, 1], got 1.5"}},
		{"invalid via TGSYNC_CONFIG", map[string]string{"TGSYNC_CONFIG": invalid}, []string{"validate"}, 2, "",
			[]string{"bindings[0].deregister.maxFraction"}},
		{"missing", nil, []string{"validate", "--config", missing}, 2, "",
			[]string{"read config", missing, "no such file", "tgsync validate --example"}},
		{"missing default", nil, []string{"validate"}, 2, "",
			[]string{"read config", "./tgsync.yaml", "TGSYNC_CONFIG"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runMain(t, tc.env, tc.args...)
			if res.code != tc.wantCode || res.stdout != tc.wantStdout {
				t.Errorf("want exit %d and stdout %q, got %s", tc.wantCode, tc.wantStdout, res)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
				}
			}
			if tc.wantCode == 0 && strings.Count(res.stderr, "\n") != len(tc.wantStderr) {
				t.Errorf("a valid config wrote to stderr more than its %d warnings: %s", len(tc.wantStderr), res.stderr)
			}
		})
	}
	// An invalid config gets no hint about writing one: the problems are
	// the message.
	if res := runMain(t, nil, "validate", "--config", invalid); strings.Contains(res.stderr, "--example") {
		t.Errorf("an invalid config got the hint for a missing one:\n%s", res.stderr)
	}
}

// TestCLIValidateExample: the example, as printed, fails validation only
// for its sample ARN, named with its key and line, and so does every
// command that acts on it, before any AWS call; with the user's ARN in its
// place it is valid.
func TestCLIValidateExample(t *testing.T) {
	t.Parallel()
	res := runMain(t, nil, "validate", "--example")
	if res.code != exitOK || res.stderr != "" {
		t.Fatalf("want exit 0 and no stderr, got %s", res)
	}
	path := writeFile(t, "tgsync.yaml", res.stdout)
	line := 1 + strings.Count(res.stdout[:strings.Index(res.stdout, "targetGroupArn: arn")], "\n")
	want := fmt.Sprintf("%s:%d: bindings[0].targetGroupArn: is the example's sample ARN", path, line)
	for _, args := range [][]string{{"validate"}, {"plan"}, {"once"}, {"status"}, {"run"}} {
		res := runMain(t, map[string]string{"TGSYNC_CONFIG": path}, args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, want) || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
			t.Errorf("%s on the example: want exit 2 and the one line %q, got %s", args[0], want, res)
		}
		if strings.Contains(res.stderr, "AWS_REGION") {
			t.Errorf("%s on the example sends the user to AWS_REGION:\n%s", args[0], res.stderr)
		}
	}
	mine := strings.Replace(res.stdout, "111122223333:targetgroup/os-dash/4ab4dba084c2bb5c", "123456789012:targetgroup/os-dash/0123456789abcdef", 1)
	if res := runMain(t, nil, "validate", "--config", writeFile(t, "mine.yaml", mine)); res.code != exitOK || res.stderr != "" {
		t.Errorf("the example with the user's ARN: %s", res)
	}
	if _, err := config.Parse([]byte(mine)); err != nil {
		t.Errorf("the example with the user's ARN: %v", err)
	}
}

// isolateAWS points the SDK, which reads the process environment rather
// than the CLI's Getenv, at a closed loopback port with dummy credentials
// and no shared config, for in-process runs that must not reach AWS.
func isolateAWS(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME":                        home,
		"AWS_CONFIG_FILE":             filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "us-east-1",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

// failingDNSConfig writes a config whose DNS name answers SERVFAIL, so that
// once fails before any AWS call. Its dns.servers is a closed loopback
// port: only TGSYNC_DNS_SERVERS set to the returned address leads to the
// DNS server.
func failingDNSConfig(t *testing.T) (path, dnsAddr string) {
	t.Helper()
	srv := testenv.DNS(t)
	srv.SetA("svc.cli.internal", 60, netip.MustParseAddr("10.0.9.1"))
	srv.SetFault("svc.cli.internal", dnstest.FaultServFail)
	dir := t.TempDir()
	path = writeFile(t, "tgsync.yaml", fmt.Sprintf(`dns:
  servers: ["127.0.0.1:1"]
  timeout: 300ms
state:
  file: %q
bindings:
  - name: cli-binding
    source:
      dns: svc.cli.internal
    targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cli/0123456789abcdef
    ports: [443]
`, filepath.Join(dir, "state.json")))
	return path, srv.Addr()
}

// textMsg returns the msg of a slog text line, "" when it has none.
func textMsg(line string) string {
	_, rest, ok := strings.Cut(line, " msg=")
	if !ok {
		return ""
	}
	if q, err := strconv.QuotedPrefix(rest); err == nil {
		msg, _ := strconv.Unquote(q)
		return msg
	}
	msg, _, _ := strings.Cut(rest, " ")
	return msg
}

// TestCLILogFormat runs once in process on a failing DNS source and checks
// the log format and level flags, before and after the command.
func TestCLILogFormat(t *testing.T) {
	isolateAWS(t)
	cfg, dnsAddr := failingDNSConfig(t)
	env := map[string]string{"TGSYNC_DNS_SERVERS": " " + dnsAddr + " ,"}
	cases := []struct {
		name      string
		args      []string
		json      bool
		wantMsgs  []string // messages that must be logged
		wantNoMsg []string // messages that must not be
	}{
		{"default text", []string{"--config", cfg, "once"}, false, []string{"refused", "binding failed", "run finished"}, nil},
		{"json before", []string{"--log-format", "json", "--config", cfg, "once"}, true, []string{"refused", "binding failed", "run finished"}, nil},
		{"json after", []string{"once", "--config", cfg, "--log-format", "json"}, true, []string{"refused", "binding failed", "run finished"}, nil},
		{"JSON in capitals", []string{"--log-format", "JSON", "once", "--config", cfg}, true, []string{"binding failed"}, nil},
		{"level error hides warnings", []string{"--log-format", "json", "--log-level", "error", "once", "--config", cfg}, true,
			[]string{"binding failed", "run finished"}, []string{"refused"}},
		{"level after the command", []string{"--log-level", "debug", "once", "--config", cfg, "--log-level", "error", "--log-format", "json"}, true,
			[]string{"binding failed"}, []string{"refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runMain(t, env, tc.args...)
			if res.code != exitFailed {
				t.Fatalf("want exit 1 for a failed lookup, got %s", res)
			}
			var msgs []string
			for _, line := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
				if !tc.json {
					msg := textMsg(line)
					if !strings.HasPrefix(line, "time=") || msg == "" {
						t.Errorf("not a text log line: %s", line)
					}
					msgs = append(msgs, msg)
					continue
				}
				var rec struct {
					Time    time.Time
					Level   string
					Msg     string
					Binding string
					Error   string
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("not a JSON log line (%v): %s", err, line)
					continue
				}
				if rec.Time.IsZero() || rec.Level == "" {
					t.Errorf("JSON log line without time or level: %s", line)
				}
				if rec.Msg == "binding failed" && (rec.Binding != "cli-binding" || !strings.Contains(rec.Error, "SERVFAIL")) {
					t.Errorf("binding failed without the binding and the cause: %s", line)
				}
				msgs = append(msgs, rec.Msg)
			}
			for _, m := range tc.wantMsgs {
				if !slices.Contains(msgs, m) {
					t.Errorf("no %q in the log:\n%s", m, res.stderr)
				}
			}
			for _, m := range tc.wantNoMsg {
				if slices.Contains(msgs, m) {
					t.Errorf("%q logged at this level:\n%s", m, res.stderr)
				}
			}
			// The lookup went to TGSYNC_DNS_SERVERS, not the configured
			// server.
			if !strings.Contains(res.stderr, "via "+dnsAddr+": SERVFAIL") {
				t.Errorf("the lookup did not go to TGSYNC_DNS_SERVERS:\n%s", res.stderr)
			}
		})
	}
}

// TestCLIUnknownBinding: --binding with a name the config does not have is
// a usage error, found before any lookup or AWS call.
func TestCLIUnknownBinding(t *testing.T) {
	isolateAWS(t)
	cfg, dnsAddr := failingDNSConfig(t)
	env := map[string]string{"TGSYNC_DNS_SERVERS": dnsAddr}
	for _, cmd := range []string{"once", "plan"} {
		res := runMain(t, env, "--config", cfg, cmd, "--binding", "cli-binding", "--binding", "nope")
		if res.code != exitUsage || !strings.Contains(res.stderr, `unknown binding "nope"`) {
			t.Errorf("%s: want exit 2 naming the binding, got %s", cmd, res)
		}
		if strings.Contains(res.stderr, "SERVFAIL") {
			t.Errorf("%s: looked up DNS before checking the bindings:\n%s", cmd, res.stderr)
		}
	}
}

// TestLoadConfigLogsWarnings: the commands that act on a config log its
// warnings, with the key and line, and go on.
func TestLoadConfigLogsWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, allowed string
		want          []string // one log line each
	}{
		{"private ranges", "", nil},
		{"a public range", "    allowedCidrs: [10.0.0.0/8, 0.0.0.0/0]\n",
			[]string{`level=WARN msg="config warning" config=PATH line=9 key=bindings[0].allowedCidrs[1] warning="0.0.0.0/0 is wider than the private ranges`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "tgsync.yaml", validConfig+tc.allowed)
			var logs, stderr bytes.Buffer
			g := &globals{config: path, log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}}))}
			cfg, ok := loadConfig(&CLI{Stderr: &stderr}, g)
			if !ok || cfg == nil || stderr.Len() != 0 {
				t.Fatalf("loadConfig = %v, %v; stderr %q", cfg, ok, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(tc.want) == 0 && logs.Len() != 0 {
				t.Errorf("logged %q, want nothing", logs.String())
			}
			if len(tc.want) > 0 && len(lines) != len(tc.want) {
				t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(tc.want), logs.String())
			}
			for i, w := range tc.want {
				if w = strings.ReplaceAll(w, "PATH", path); !strings.HasPrefix(lines[i], w) {
					t.Errorf("log line %d = %s\nwant it to start with %s", i, lines[i], w)
				}
			}
		})
	}
}
