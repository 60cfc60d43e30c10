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
		t.Skip("the Lambda package is built for Linux and run here; this host is " + runtime.GOOS)
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
	if out, err := exec.Command("make", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("make %s: %v\n%s", strings.Join(goals, " "), err, out)
	}
	return nil
}

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
// on first use. A TestMain that lets it be made calls RemoveBuilds.
func BuildDir() (string, error) {
	buildOnce.Do(func() { buildDir, buildErr = os.MkdirTemp("", "tgsync-test-build-") })
	return buildDir, buildErr
}

// RemoveBuilds deletes BuildDir; call it from TestMain after m.Run.
func RemoveBuilds() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// Package is this machine's Lambda deployment package.
type Package struct {
	// Zip is <dist>/tgsync-<GOARCH>.zip, as make package writes it.
	Zip string
	// Bootstrap is the executable taken out of Zip.
	Bootstrap string
}

var (
	pkgOnce sync.Once
	pkg     Package
	pkgErr  error
)

// LambdaPackage builds the package for this machine's architecture with
// the rule behind make package, once per test process and under BuildDir,
// and unpacks its bootstrap.
func LambdaPackage(t testing.TB) Package {
	t.Helper()
	NeedMake(t)
	pkgOnce.Do(func() { pkg, pkgErr = buildPackage() })
	if pkgErr != nil {
		t.Fatal(pkgErr)
	}
	return pkg
}

func buildPackage() (Package, error) {
	dir, err := BuildDir()
	if err != nil {
		return Package{}, err
	}
	dist := filepath.Join(dir, "package")
	p := Package{Zip: filepath.Join(dist, "tgsync-"+runtime.GOARCH+".zip"), Bootstrap: filepath.Join(dist, "bootstrap")}
	if err := Make(dist, "test", p.Zip); err != nil {
		return Package{}, err
	}
	_, err = UnzipBootstrap(p.Zip, p.Bootstrap)
	return p, err
}

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// CLI builds the tgsync binary of make build, once per test process and
// under BuildDir, and returns its path: the CLI and daemon a release ships
// for this machine.
func CLI(t testing.TB) string {
	t.Helper()
	NeedTool(t, "make")
	cliOnce.Do(func() {
		dir, err := BuildDir()
		if err != nil {
			cliErr = err
			return
		}
		dist := filepath.Join(dir, "cli")
		if cliErr = Make(dist, "test", "build"); cliErr == nil {
			cliPath = filepath.Join(dist, "tgsync")
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}
