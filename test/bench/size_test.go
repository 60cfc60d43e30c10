package bench

import (
	"os"
	"testing"

	"github.com/tgsync/tgsync/internal/testenv"
)

// Size goals of the Lambda package as deployed (arm64), in bytes, as
// cmd/tgsync's TestLambdaPackageSize sets them: a smaller bootstrap starts
// faster and a small zip uploads quickly (cmd/tgsync/variant_test.go says
// what the limits are made of).
const (
	maxBootstrapBytes = 11_000_000
	maxZipBytes       = 4_500_000
	deployedArch      = "arm64"
)

// packageArchs are the architectures make package builds.
var packageArchs = []string{"arm64", "amd64"}

// BenchmarkSize reports the sizes (MB of 10^6 bytes) of what make build
// and make package produce: the bootstrap and its zip for each Lambda
// architecture, and the CLI binary for this machine. It fails when the
// deployed architecture's package misses its goal. The figures are per
// build, not per iteration.
func BenchmarkSize(b *testing.B) {
	for _, arch := range packageArchs {
		b.Run("lambda-"+arch, func(b *testing.B) {
			zipPath := testenv.LambdaZip(b, arch)
			var zipSize, binSize int64
			for b.Loop() {
				st, err := os.Stat(zipPath)
				if err != nil {
					b.Fatal(err)
				}
				if binSize, err = testenv.UnzipBootstrap(zipPath, ""); err != nil {
					b.Fatal(err)
				}
				zipSize = st.Size()
			}
			noTiming(b)
			b.ReportMetric(mb(binSize), "bootstrap-MB")
			b.ReportMetric(mb(zipSize), "zip-MB")
			if arch == deployedArch && (binSize > maxBootstrapBytes || zipSize > maxZipBytes) {
				b.Fatalf("%s: bootstrap %d bytes (goal %d), zip %d bytes (goal %d)", arch, binSize, maxBootstrapBytes, zipSize, maxZipBytes)
			}
		})
	}
	b.Run("cli-make-build", func(b *testing.B) {
		bin := testenv.CLI(b)
		var size int64
		for b.Loop() {
			st, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			size = st.Size()
		}
		noTiming(b)
		b.ReportMetric(mb(size), "binary-MB")
	})
}

func mb(n int64) float64 { return float64(n) / 1e6 }
