package testenv

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Tests build what ships with the Makefile, never with a go build of their
// own, so that they check the release's flags and tags.

// NeedMake skips the test when make is missing (fails it when tools are
// required), and off Linux, where the Lambda package is not built.
func NeedMake(t testing.TB) {
	t.Helper()
	NeedTool(t, "make")
	if runtime.GOOS != "linux" {
		skipped.skip(t, "a Linux host (the Lambda package is built for Linux and run here; this host is "+runtime.GOOS+")")
	}
}

// Make runs make's goals in the repository root with DIST=dist and
// VERSION=version, as a release would. go test puts its own go first on
// PATH, so make builds with it.
func Make(dist, version string, goals ...string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if dist, err = filepath.Abs(dist); err != nil {
		return err
	}
	args := append([]string{"-C", root, "DIST=" + dist, "VERSION=" + version}, goals...)
	cmd := exec.Command("make", args...)
	// The environment the test process started with: a test that points
	// HOME at a temporary directory (to keep the SDK off ~/.aws) would
	// otherwise give go a cold build and module cache, and a build of
	// minutes.
	cmd.Env = startEnv
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make %s: %v\n%s", strings.Join(goals, " "), err, out)
	}
	return nil
}

// startEnv is the environment as the test process started, before any
// t.Setenv.
var startEnv = os.Environ()

// repoRoot is the directory of go.mod above the test's package.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// UnzipBootstrap checks that the zip at zipPath holds what Lambda's
// provided runtimes run, exactly one executable entry named bootstrap, and
// unless dst is empty writes it to dst. It returns the bootstrap's size.
func UnzipBootstrap(zipPath, dst string) (int64, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode()&0o111 == 0 {
		var got []string
		for _, f := range zr.File {
			got = append(got, fmt.Sprintf("%s %v", f.Name, f.Mode()))
		}
		return 0, fmt.Errorf("%s holds %v, want exactly one entry, an executable bootstrap", zipPath, got)
	}
	f := zr.File[0]
	if dst == "" {
		return int64(f.UncompressedSize64), nil
	}
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return 0, err
	}
	return int64(f.UncompressedSize64), out.Close()
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// BuildDir returns the directory for what this test process builds, made
// on first use. Run removes it after the tests.
func BuildDir() (string, error) {
	buildOnce.Do(func() { buildDir, buildErr = os.MkdirTemp("", "tgsync-test-build-") })
	return buildDir, buildErr
}

// removeBuilds deletes BuildDir; Run calls it after the tests.
func removeBuilds() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// Version is the VERSION the tests build with.
const Version = "test"

// built memoizes what this test process made, *makeRun by the path make
// writes.
var built sync.Map

type makeRun struct {
	once sync.Once
	err  error
}

// made runs make's goal once per test process with DIST=<BuildDir>/dist
// and VERSION=Version, and returns the path out under DIST. Goals for
// different outputs may run at once.
func made(t testing.TB, goal, out string) string {
	t.Helper()
	NeedMake(t)
	dir, err := BuildDir()
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(dir, "dist")
	path := filepath.Join(dist, out)
	if goal == "" {
		goal = path // the file's own rule
	}
	v, _ := built.LoadOrStore(path, &makeRun{})
	r := v.(*makeRun)
	r.once.Do(func() { r.err = Make(dist, Version, goal) })
	if r.err != nil {
		t.Fatal(r.err)
	}
	return path
}

// CLI is the tgsync binary of make build for this machine.
func CLI(t testing.TB) string {
	t.Helper()
	return made(t, "build", "tgsync")
}

// LambdaZip is the Lambda package for arch (arm64 or amd64) as make
// package writes it, <dist>/tgsync-<arch>.zip.
func LambdaZip(t testing.TB, arch string) string {
	t.Helper()
	return made(t, "", "tgsync-"+arch+".zip")
}

// Package is this machine's Lambda deployment package.
type Package struct {
	// Zip is <dist>/tgsync-<GOARCH>.zip, as make package writes it.
	Zip string
	// Bootstrap is the executable taken out of Zip.
	Bootstrap string
}

var (
	unzipOnce sync.Once
	unzipErr  error
)

// LambdaPackage is LambdaZip for this machine's architecture, with its
// bootstrap unpacked.
func LambdaPackage(t testing.TB) Package {
	t.Helper()
	p := Package{Zip: LambdaZip(t, runtime.GOARCH)}
	p.Bootstrap = filepath.Join(filepath.Dir(p.Zip), "bootstrap-"+runtime.GOARCH)
	unzipOnce.Do(func() { _, unzipErr = UnzipBootstrap(p.Zip, p.Bootstrap) })
	if unzipErr != nil {
		t.Fatal(unzipErr)
	}
	return p
}
