package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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
			bin := cliBinary(b)
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
	fmt.Fprintf(&cfg, "dns:\n  servers: [%q]\n  timeout: 1s\nstate:\n  s3: s3://%s/%s/\n", w.dns.Addr(), w.bucket, testenv.UniqueName("once"))
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
	cmd.Env = testenv.ChildEnv(b, w.moto.Env()...)
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
