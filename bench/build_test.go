package bench

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	buildDir  string
	buildErr  error
)

// builds runs `make build package` once per test process into a temporary
// DIST, exactly as a release would, and returns that directory: dist/tgsync
// (the CLI for this machine) and dist/tgsync-<arch>.zip.
func builds(b testing.TB) string {
	b.Helper()
	testenv.NeedTool(b, "make")
	if runtime.GOOS != "linux" {
		b.Skip("the Lambda package is built for Linux and run here; this host is " + runtime.GOOS)
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tgsync-bench-dist-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("make", "-C", "..", "DIST="+buildDir, "VERSION=bench", "build", "package").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make build package: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return buildDir
}

// removeBuilds deletes what builds made; TestMain calls it.
func removeBuilds() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
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
	if _, _, err := unzipBootstrap(zipPath, dst); err != nil {
		b.Fatal(err)
	}
	return dst
}

// unzipBootstrap checks that the zip holds exactly an executable bootstrap
// and, when dst is not empty, writes it there. It returns the sizes of the
// zip and of the bootstrap.
func unzipBootstrap(zipPath, dst string) (zipSize, binSize int64, err error) {
	st, err := os.Stat(zipPath)
	if err != nil {
		return 0, 0, err
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return 0, 0, err
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode()&0o111 == 0 {
		return 0, 0, fmt.Errorf("%s: want exactly one entry, an executable bootstrap", zipPath)
	}
	f := zr.File[0]
	if dst == "" {
		return st.Size(), int64(f.UncompressedSize64), nil
	}
	rc, err := f.Open()
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return 0, 0, err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return 0, 0, err
	}
	return st.Size(), int64(f.UncompressedSize64), out.Close()
}
