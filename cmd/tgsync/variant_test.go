package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/testenv"
)

// The Lambda package's size limits, for the arm64 package that the stack
// deploys: a small bootstrap starts faster and a small zip uploads
// quickly. The command line (cobra with its shell completion, and pflag,
// 0.33 MB) and the EC2 client of the network-interface sources
// (DescribeNetworkInterfaces alone, 0.32 MB) took the bootstrap from 9.90
// to 10.55 MB and the zip from 3.80 to 4.03 MB, with no change in the
// cold start (5.5 ms median either way, BenchmarkLambdaColdStart); the STS
// client and AssumeRole provider of cross-account roles (0.19 MB), with
// shards, took them to 10.81 and 4.10 MB. The limits, 11 MB and 4.5 MB,
// leave room for little more.
const (
	maxBootstrapBytes = 11_000_000
	maxZipBytes       = 4_500_000
)

// makefileVar returns a simple variable of the Makefile, so that the tests
// build with exactly the tags that make package uses.
func makefileVar(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("the Makefile has no %s := ...", name)
	}
	return string(m[1])
}

// TestBootstrapDeps keeps out of the binaries the packages that made the
// Lambda package big. go list -deps names every package a build links;
// go tool nm, every function that the linker kept.
func TestBootstrapDeps(t *testing.T) {
	t.Parallel()
	// Why each package must stay out.
	why := map[string]string{
		// html/template runs on text/template; internal/status writes its
		// page by hand instead.
		"html/template": "it runs on text/template, whose executor keeps every AWS client whole",
		// The daemon's /metrics (Prometheus with protobuf, 1.8 MB) and the
		// demo's embedded world are not part of the Lambda package.
		"github.com/prometheus/":                   "the daemon's /metrics is not part of the Lambda package: whatever imports it needs //go:build !tgsync_lambda",
		"google.golang.org/protobuf/":              "Prometheus's wire format: the daemon's /metrics only",
		"github.com/tgsync/tgsync/elbv2/elbv2fake": "the demo is not part of the Lambda package",
		"github.com/tgsync/tgsync/dns/dnstest":     "the demo is not part of the Lambda package",
	}
	for _, tc := range []struct {
		build, tags string
		forbidden   []string
	}{
		{"make build", "lambda.norpc", []string{"html/template"}},
		{"make package", makefileVar(t, "PKGTAGS"), []string{"html/template", "github.com/prometheus/",
			"google.golang.org/protobuf/", "github.com/tgsync/tgsync/elbv2/elbv2fake", "github.com/tgsync/tgsync/dns/dnstest"}},
	} {
		t.Run(tc.build, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-tags", tc.tags, ".").CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps -tags %s: %v\n%s", tc.tags, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) < 100 {
				t.Fatalf("go list -deps names only %d packages: %q", len(deps), deps)
			}
			for _, f := range tc.forbidden {
				for _, d := range deps {
					if d == f || strings.HasPrefix(d, f) {
						t.Errorf("%s links %s: %s", tc.build, d, why[f])
						break
					}
				}
			}
			// text/template comes with cobra, which executes a template only
			// for a usage, help or version template set by the program;
			// tgsync sets none. Its executor calls methods by name
			// (reflect's MethodByName); a binary that can do that makes the
			// linker keep every exported method of every reachable type, so
			// each AWS client stays whole with all its operations: 23 MB
			// instead of 14 MB. The executor must not be linked.
			bin := filepath.Join(t.TempDir(), "tgsync")
			if out, err := exec.Command("go", "build", "-tags", tc.tags, "-o", bin, ".").CombinedOutput(); err != nil {
				t.Fatalf("go build -tags %s: %v\n%s", tc.tags, err, out)
			}
			syms, err := exec.Command("go", "tool", "nm", bin).CombinedOutput()
			if err != nil {
				t.Fatalf("go tool nm: %v\n%s", err, syms)
			}
			if !strings.Contains(string(syms), "github.com/spf13/cobra.(*Command).ExecuteC") {
				t.Fatalf("go tool nm lists no cobra: not the symbols of the tgsync binary?")
			}
			for _, line := range strings.Split(string(syms), "\n") {
				if strings.Contains(line, "text/template.(*state).") {
					t.Errorf("%s links text/template's executor (%s): a template reaches it, and it keeps every AWS client whole", tc.build, strings.TrimSpace(line))
					break
				}
			}
		})
	}
}

// TestVetLambdaPackage vets this package as make package builds it, test
// files included, so that the Lambda variant never rots unbuilt.
func TestVetLambdaPackage(t *testing.T) {
	t.Parallel()
	tags := makefileVar(t, "PKGTAGS")
	if out, err := exec.Command("go", "vet", "-tags", tags, ".").CombinedOutput(); err != nil {
		t.Fatalf("go vet -tags %s: %v\n%s", tags, err, out)
	}
}

// TestLambdaPackageSize keeps the arm64 package that make builds under
// its limits.
func TestLambdaPackageSize(t *testing.T) {
	t.Parallel()
	zipPath := testenv.LambdaZip(t, "arm64")
	st, err := os.Stat(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := testenv.UnzipBootstrap(zipPath, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("arm64: bootstrap %d bytes (limit %d), zip %d bytes (limit %d)", bin, maxBootstrapBytes, st.Size(), maxZipBytes)
	if bin > maxBootstrapBytes {
		t.Errorf("bootstrap is %d bytes, more than %d: see TestBootstrapDeps and what the Makefile's PKGTAGS leave out", bin, maxBootstrapBytes)
	}
	if st.Size() > maxZipBytes {
		t.Errorf("the zip is %d bytes, more than %d", st.Size(), maxZipBytes)
	}
}

// TestLambdaPackageCommands runs the packaged bootstrap as a CLI: every
// command is there, and what the package leaves out says where it is.
func TestLambdaPackageCommands(t *testing.T) {
	bin := lambdaBootstrap(t)
	w := newE2EWorld(t)
	w.answer("10.0.9.1")
	config := w.writeConfig(t, "tgsync.yaml", configOpts{})
	noKeys := testenv.ChildEnv(t, "AWS_REGION=us-east-1", "AWS_PROFILE=admin", "AWS_EC2_METADATA_DISABLED=true")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want []string // in stdout and stderr
	}{
		{"version", w.env, []string{"version"}, exitOK, []string{"tgsync test"}},
		{"validate", w.env, []string{"--config", config, "validate"}, exitOK, []string{"valid: 1 binding(s)"}},
		{"plan", w.env, []string{"--config", config, "plan"}, exitOK, nil},
		{"demo", w.env, []string{"demo"}, exitUsage, []string{"not part of the Lambda package", "go run ./cmd/tgsync demo"}},
		{"demo with its flags", w.env, []string{"demo", "--step", "0", "--listen", "127.0.0.1:0"}, exitUsage, []string{"go run ./cmd/tgsync demo"}},
		{"no credentials in the environment", noKeys, []string{"--config", config, "plan"}, exitUsage,
			[]string{"AWS_ACCESS_KEY_ID", "environment only", "full build (make build"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runBinary(t, bin, tc.env, tc.args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", res.code, tc.code, res)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.stdout+res.stderr, want) {
					t.Errorf("no %q in the output:\n%s", want, res)
				}
			}
		})
	}
}

// TestDaemonMetricsByBuild runs 'run --listen' from both builds: the full
// build serves Prometheus metrics on /metrics, the Lambda package answers
// 404 there and names the build that has them; the page and /api/status
// are in both.
func TestDaemonMetricsByBuild(t *testing.T) {
	w := newE2EWorld(t)
	w.answer("10.0.8.1")
	config := w.writeConfig(t, "tgsync.yaml", configOpts{})
	for _, tc := range []struct {
		build   string
		bin     func(testing.TB) string
		code    int
		metrics []string
	}{
		{"full build", testenv.CLI, http.StatusOK, []string{"tgsync_run_duration_seconds_count 1", `tgsync_desired_targets{binding="` + w.binding + `"} 1`,
			// The build's identity, and a rule that never refused at 0.
			`tgsync_build_info{commit="`, `goversion="` + runtime.Version() + `"`,
			`tgsync_refused_total{binding="` + w.binding + `",rule="` + tgsync.RuleMaxFraction + `"} 0`}},
		{"Lambda package", lambdaBootstrap, http.StatusNotFound, []string{"not part of the Lambda package", "make build"}},
	} {
		t.Run(tc.build, func(t *testing.T) {
			cmd := exec.Command(tc.bin(t), "--config", config, "run", "--interval", "1h", "--listen", "127.0.0.1:0")
			cmd.Env, cmd.Dir = w.env, w.dir
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			base := listeningURL(t, stderr)

			// The first run has finished when /api/status has a last run.
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, body := testenv.Send(t, http.MethodGet, base+"/api/status")
				if resp.StatusCode == http.StatusOK && strings.Contains(body, `"lastRun"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no run finished within 20s: /api/status = %d %s", resp.StatusCode, body)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if resp, body := testenv.Send(t, http.MethodGet, base+"/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, w.binding) {
				t.Errorf("GET / = %d, want 200 with the binding:\n%s", resp.StatusCode, body)
			}
			resp, body := testenv.Send(t, http.MethodGet, base+"/metrics")
			if resp.StatusCode != tc.code {
				t.Errorf("GET /metrics = %d, want %d:\n%s", resp.StatusCode, tc.code, body)
			}
			for _, want := range tc.metrics {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

// listeningURL reads the log on r until the status server says where it
// listens, and keeps draining r after that.
func listeningURL(t *testing.T, r io.Reader) string {
	t.Helper()
	addr := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := addr.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "status server listening") {
				found <- "http://" + m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(15 * time.Second):
		t.Fatal("the status server did not say where it listens within 15s")
		return ""
	}
}
