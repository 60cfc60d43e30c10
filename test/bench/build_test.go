package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/tgsync/tgsync/internal/testenv"
)

// packageArchs are the architectures make package builds.
var packageArchs = []string{"arm64", "amd64"}

var (
	buildOnce sync.Once
	buildDist string
	buildErr  error
)

// builds runs `make build package` once per test process with
// testenv.BuildDir as DIST, exactly as a release would, and returns that
// directory: dist/tgsync (the CLI for this machine) and
// dist/tgsync-<arch>.zip.
func builds(b testing.TB) string {
	b.Helper()
	testenv.NeedMake(b)
	buildOnce.Do(func() {
		if buildDist, buildErr = testenv.BuildDir(); buildErr == nil {
			buildErr = testenv.Make(buildDist, "bench", "build", "package")
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return buildDist
}

// cliBinary is the tgsync binary of make build.
func cliBinary(b testing.TB) string {
	return filepath.Join(builds(b), "tgsync")
}

// bootstrap is the bootstrap of this machine's Lambda package, taken out
// of the zip.
func bootstrap(b testing.TB) string {
	b.Helper()
	dst := filepath.Join(builds(b), "bootstrap-"+runtime.GOARCH)
	if _, err := os.Stat(dst); err == nil {
		return dst
	}
	zipPath := filepath.Join(builds(b), "tgsync-"+runtime.GOARCH+".zip")
	if _, err := testenv.UnzipBootstrap(zipPath, dst); err != nil {
		b.Fatal(err)
	}
	return dst
}
