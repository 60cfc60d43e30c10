package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLambdaPackage packages the function twice with the Makefile and
// checks that the zips are byte-identical and hold exactly an executable
// bootstrap. It logs the sizes (go test -run TestLambdaPackage -v).
func TestLambdaPackage(t *testing.T) {
	archs := []string{"arm64", "amd64"}
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	makePackage(t, a, archs...)
	makePackage(t, b, archs...)
	for _, arch := range archs {
		name := "tgsync-" + arch + ".zip"
		za, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		zb, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(za, zb) {
			t.Errorf("%s: two packagings of the same source differ (%d and %d bytes)", name, len(za), len(zb))
		}
		zr, err := zip.NewReader(bytes.NewReader(za), int64(len(za)))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode() != 0o755 {
			var got []string
			for _, f := range zr.File {
				got = append(got, fmt.Sprintf("%s %v", f.Name, f.Mode()))
			}
			t.Fatalf("%s holds %v, want exactly bootstrap -rwxr-xr-x", name, got)
		}
		t.Logf("%s: bootstrap %d bytes = %.2f MiB (goal 11 MB), zip %d bytes = %.2f MiB (goal 4.5 MB)", arch,
			zr.File[0].UncompressedSize64, float64(zr.File[0].UncompressedSize64)/(1<<20), len(za), float64(len(za))/(1<<20))
	}
}

// BenchmarkLambdaColdStart measures the time from starting the bootstrap
// to its first GET next, that is its whole init: the config, the SDK
// configuration and the AWS clients. Reported as the median.
func BenchmarkLambdaColdStart(b *testing.B) {
	w := newLambdaWorld(b)
	tg := w.targetGroup(b, 443)
	yaml := fmt.Sprintf("state: {s3: s3://%s/cold/}\nbindings:\n  - {name: web, source: {dns: %s}, targetGroupArn: %s, ports: [443]}\n",
		w.bucket, w.name("web", "10.50.0.1"), tg)
	env := append(lambdaEnv(b, w.moto), "TGSYNC_CONFIG_YAML="+yaml, "TGSYNC_DNS_SERVERS="+w.dns.Addr())
	lambdaBootstrap(b) // not timed
	var samples []time.Duration
	b.ResetTimer()
	for b.Loop() {
		p := startLambda(b, env)
		samples = append(samples, p.ready(b).Sub(p.started))
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-to-next/median")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "ms-to-next/max")
}

// BenchmarkLambdaScheduledRun10Bindings measures a scheduled run over ten
// bindings of four addresses each, and the process's peak RSS after the
// runs (goal 30 MB).
func BenchmarkLambdaScheduledRun10Bindings(b *testing.B) {
	w := newLambdaWorld(b)
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "state: {s3: s3://%s/ten/}\nbindings:\n", w.bucket)
	for i := range 10 {
		tg := w.targetGroup(b, 443)
		ips := make([]string, 4)
		for j := range ips {
			ips[j] = fmt.Sprintf("10.60.%d.%d", i, j+1)
		}
		fmt.Fprintf(&yaml, "  - {name: b%d, source: {dns: %s}, targetGroupArn: %s, ports: [443]}\n", i, w.name(fmt.Sprintf("b%d", i), ips...), tg)
	}
	p := startLambda(b, append(lambdaEnv(b, w.moto), "TGSYNC_CONFIG_YAML="+yaml.String(), "TGSYNC_DNS_SERVERS="+w.dns.Addr()))
	p.ready(b)
	b.ResetTimer()
	for b.Loop() {
		res := p.invoke(b, scheduledEvent, 60*time.Second)
		if res.Error != nil {
			b.Fatalf("%s: %s", res.Error.Type, res.Error.Message)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(p.peakRSS(b))/(1<<20), "MB-peak-RSS")
}
