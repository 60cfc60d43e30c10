package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/lambdatest"
	"github.com/tgsync/tgsync/internal/testenv"
)

// maxRSSMiB is the goal for a process's peak resident set, the same
// as the Lambda benchmarks set for a function of 128 MB.
const maxRSSMiB = 30

// BenchmarkOnce runs the binary of make build as `tgsync once` against
// moto and dnstest, each iteration a new process doing its first run in
// steady state (a first, untimed process registered the targets), with
// the S3 state store, as the Lambda has it:
//
//   - ms-to-exit: wall time from exec to exit, that is process start,
//     configuration, SDK setup, the run (one DescribeTargetGroups per
//     group on top of a warm run's calls) and exit;
//   - run-ms: the run's own duration, from the binary's "run finished"
//     log line;
//   - MiB-peak-RSS: the child's peak resident set (rusage maxrss), which
//     must stay under maxRSSMiB.
//
// bindings=100 raises the client-side rate limits in its config: at the
// defaults the describe limiter alone would hold the run for 36 s.
func BenchmarkOnce(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			bin := testenv.CLI(b)
			w := newWorld(b)
			config := w.onceConfig(b, n)
			first := onceRun(b, bin, w, config)
			if !strings.Contains(first.stderr, `"msg":"register"`) {
				b.Fatalf("the first run registered nothing:\n%s", first.stderr)
			}
			var wall, runs []time.Duration
			var rss []int64
			b.ResetTimer()
			for b.Loop() {
				r := onceRun(b, bin, w, config)
				if strings.Contains(r.stderr, `"msg":"register"`) || strings.Contains(r.stderr, `"msg":"deregister"`) {
					b.Fatalf("a steady-state run changed the group:\n%s", r.stderr)
				}
				wall, runs, rss = append(wall, r.wall), append(runs, r.run), append(rss, r.maxRSS)
			}
			b.StopTimer()
			b.ReportMetric(ms(median(wall)), "ms-to-exit/median")
			b.ReportMetric(ms(slices.Max(wall)), "ms-to-exit/max")
			b.ReportMetric(ms(median(runs)), "run-ms/median")
			peak := float64(slices.Max(rss)) / (1 << 20)
			b.ReportMetric(peak, "MiB-peak-RSS/max")
			if peak > maxRSSMiB {
				b.Fatalf("peak RSS %.1f MiB over %d bindings, goal %d MiB", peak, n, maxRSSMiB)
			}
		})
	}
}

// onceConfig writes a config of n bindings, each on its own target group
// with addrsPerBinding addresses, and returns its path.
func (w *world) onceConfig(b *testing.B, n int) string {
	b.Helper()
	var pool addrPool
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "dns:\n  servers: [%q]\n  timeout: 1s\nstate:\n  s3: s3://%s/%s/\n", w.DNS.Addr(), w.Bucket, testenv.UniqueName("once"))
	if n > 20 {
		cfg.WriteString(noLimits)
	}
	cfg.WriteString("bindings:\n")
	for i := range n {
		name := w.name(fmt.Sprintf("b%d", i), pool.take(addrsPerBinding))
		fmt.Fprintf(&cfg, "  - {name: b%d, source: {dns: %s}, targetGroupArn: %s, ports: [%d]}\n", i, name, w.targetGroup(b), port)
	}
	path := filepath.Join(b.TempDir(), "tgsync.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// onceResult is what one `tgsync once` process did.
type onceResult struct {
	wall, run time.Duration
	maxRSS    int64 // bytes
	stderr    string
}

func onceRun(b *testing.B, bin string, w *world, config string) onceResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", config, "--log-format", "json", "once")
	cmd.Env = testenv.ChildEnv(b, w.Moto.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("tgsync once: %v\n%s", err, stderr.String())
	}
	d, err := runDuration(stderr.Bytes())
	if err != nil {
		b.Fatalf("%v\n%s", err, stderr.String())
	}
	res := onceResult{wall: wall, run: d, stderr: stderr.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSS = ru.Maxrss << 10 // Linux reports KiB
	}
	return res
}

// runDuration finds the "run finished" line of a JSON log and returns its
// duration (tgsync logs durations in seconds, as durationSeconds).
func runDuration(log []byte) (time.Duration, error) {
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg      string   `json:"msg"`
			Duration *float64 `json:"durationSeconds"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "run finished" {
			continue
		}
		if line.Duration == nil {
			return 0, errors.New(`the "run finished" log line has no duration`)
		}
		return time.Duration(math.Round(*line.Duration * float64(time.Second))), nil
	}
	return 0, errors.New(`no "run finished" line in the log`)
}

// scheduledEvent is what an EventBridge rule on a schedule sends.
const scheduledEvent = `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",` +
	`"source":"aws.events","account":"123456789012","time":"2026-11-21T00:00:00Z","region":"us-east-1",` +
	`"resources":["arn:aws:events:us-east-1:123456789012:rule/tgsync"],"detail":{}}`

// noLimits is a config's limits section that lifts the client-side rate
// limits; see unlimited.
const noLimits = "limits: {describePerSecond: 10000, describeBurst: 10000, changesPerSecond: 10000, changesBurst: 10000}\n"

// BenchmarkLambdaSteadyRun drives the packaged bootstrap through a Runtime
// API on loopback with scheduled events, against moto and dnstest with the
// S3 state store, and measures what a steady-state invocation writes to
// CloudWatch Logs, the inputs of the logging and metrics cost:
//
//   - EMF-bytes/run and log-bytes/run: stdout (the EMF metric lines) and
//     stderr (the JSON log) per invocation; log-lines/run both together;
//   - metrics/binding and metrics/deployment: the distinct metric and
//     dimension-value combinations the EMF lines define, for the lines of
//     a binding and for the rest. CloudWatch bills each combination as one
//     custom metric.
//
// Lambda's own START, END and REPORT lines are not included.
func BenchmarkLambdaSteadyRun(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			w := newWorld(b)
			var pool addrPool
			var yaml strings.Builder
			// Invocations follow each other at once, not a minute apart:
			// at the default rate limits the describe bucket would run dry.
			fmt.Fprintf(&yaml, "state: {s3: s3://%s/%s/}\n%sbindings:\n", w.Bucket, testenv.UniqueName("lambda"), noLimits)
			for i := range n {
				name := w.name(fmt.Sprintf("b%d", i), pool.take(addrsPerBinding))
				fmt.Fprintf(&yaml, "  - {name: b%d, source: {dns: %s}, targetGroupArn: %s, ports: [%d]}\n", i, name, w.targetGroup(b), port)
			}
			f := startFunction(b, w, "TGSYNC_CONFIG_YAML="+yaml.String())
			f.invoke(b) // registers
			f.invoke(b) // settles
			var emfBytes, logBytes, lines int
			perBinding, perDeployment := map[string]bool{}, map[string]bool{}
			b.ResetTimer()
			for b.Loop() {
				out, errOut := f.invoke(b)
				emfBytes += len(out)
				logBytes += len(errOut)
				lines += bytes.Count(out, []byte("\n")) + bytes.Count(errOut, []byte("\n"))
				if err := emfMetrics(out, perBinding, perDeployment); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(perRun(emfBytes, b.N), "EMF-bytes/run")
			b.ReportMetric(perRun(logBytes, b.N), "log-bytes/run")
			b.ReportMetric(perRun(lines, b.N), "log-lines/run")
			b.ReportMetric(perRun(len(perBinding), n), "metrics/binding")
			b.ReportMetric(float64(len(perDeployment)), "metrics/deployment")
			if emfBytes == 0 {
				b.Fatal("the function wrote no EMF lines")
			}
		})
	}
}

// function is the packaged bootstrap running against a Runtime API
// harness, its stdout and stderr going to files, so that what it wrote
// before answering is there when the answer arrives.
type function struct {
	api            *lambdatest.Server
	stdout, stderr *os.File
}

func startFunction(b *testing.B, w *world, env ...string) *function {
	b.Helper()
	bin := testenv.LambdaPackage(b).Bootstrap
	api, err := lambdatest.Start()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	f := &function{api: api}
	for _, p := range []struct {
		name string
		dst  **os.File
	}{{"stdout", &f.stdout}, {"stderr", &f.stderr}} {
		if *p.dst, err = os.Create(filepath.Join(dir, p.name)); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = testenv.ChildEnv(b, slices.Concat(w.Moto.Env(), []string{
		"AWS_LAMBDA_RUNTIME_API=" + api.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME=tgsync",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"LAMBDA_TASK_ROOT=/var/task",
		"TGSYNC_DNS_SERVERS=" + w.DNS.Addr(),
	}, env)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f.stdout, f.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		api.Close()
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		api.Close()
		f.stdout.Close()
		f.stderr.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := api.WaitNext(ctx); err != nil {
		b.Fatalf("bootstrap init: %v\n%s", err, readAll(f.stderr))
	}
	return f
}

// invoke sends a scheduled event with the deployed function's 50 s
// timeout and returns what the function wrote to stdout and stderr while
// handling it.
func (f *function) invoke(b *testing.B) (stdout, stderr []byte) {
	b.Helper()
	outAt, errAt := size(b, f.stdout), size(b, f.stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	res, err := f.api.Invoke(ctx, lambdatest.Invocation{Payload: []byte(scheduledEvent), Timeout: 50 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	if res.Error != nil {
		b.Fatalf("%s: %s", res.Error.Type, res.Error.Message)
	}
	return readFrom(b, f.stdout, outAt), readFrom(b, f.stderr, errAt)
}

func size(b *testing.B, f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

func readFrom(b *testing.B, f *os.File, at int64) []byte {
	out, err := io.ReadAll(io.NewSectionReader(f, at, size(b, f)-at))
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func readAll(f *os.File) string {
	out, _ := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	return string(out)
}

// emfMetrics adds the metrics that EMF lines define to perBinding (lines
// with a Binding dimension) or perDeployment (the others), each as
// namespace, metric name and dimension values: what CloudWatch counts as
// one custom metric.
func emfMetrics(lines []byte, perBinding, perDeployment map[string]bool) error {
	sc := bufio.NewScanner(bytes.NewReader(lines))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			return fmt.Errorf("EMF line %q: %w", sc.Text(), err)
		}
		var meta struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal(sc.Bytes(), &meta); err != nil || len(meta.AWS.CloudWatchMetrics) == 0 {
			return fmt.Errorf("line %q is not an EMF document", sc.Text())
		}
		for _, d := range meta.AWS.CloudWatchMetrics {
			for _, set := range d.Dimensions {
				var dims []string
				for _, k := range slices.Sorted(slices.Values(set)) {
					dims = append(dims, fmt.Sprintf("%s=%v", k, doc[k]))
				}
				into := perDeployment
				if slices.Contains(set, "Binding") {
					into = perBinding
				}
				for _, m := range d.Metrics {
					into[d.Namespace+" "+m.Name+" "+strings.Join(dims, ",")] = true
				}
			}
		}
	}
	return sc.Err()
}
