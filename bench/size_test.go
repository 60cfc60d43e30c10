package bench

import (
	"os"
	"path/filepath"
	"testing"
)

// Size goals of the Lambda package: what Lambda downloads and unpacks at
// every cold start.
const (
	maxBootstrapMiB = 10
	maxZipMiB       = 4
)

// BenchmarkSize reports the sizes of what make build and make package
// produce: the bootstrap and its zip for each Lambda architecture, and the
// CLI binary for this machine. It fails when a Lambda package misses its
// goal. The figures are per build, not per iteration.
func BenchmarkSize(b *testing.B) {
	for _, arch := range packageArchs {
		b.Run("lambda-"+arch, func(b *testing.B) {
			zipPath := filepath.Join(builds(b), "tgsync-"+arch+".zip")
			var zipSize, binSize int64
			for b.Loop() {
				var err error
				if zipSize, binSize, err = unzipBootstrap(zipPath, ""); err != nil {
					b.Fatal(err)
				}
			}
			noTiming(b)
			b.ReportMetric(mib(binSize), "bootstrap-MiB")
			b.ReportMetric(mib(zipSize), "zip-MiB")
			if mib(binSize) > maxBootstrapMiB || mib(zipSize) > maxZipMiB {
				b.Fatalf("%s: bootstrap %.2f MiB (goal %d), zip %.2f MiB (goal %d)", arch, mib(binSize), maxBootstrapMiB, mib(zipSize), maxZipMiB)
			}
		})
	}
	b.Run("cli-make-build", func(b *testing.B) {
		bin := cliBinary(b)
		var size int64
		for b.Loop() {
			st, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			size = st.Size()
		}
		noTiming(b)
		b.ReportMetric(mib(size), "binary-MiB")
	})
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
