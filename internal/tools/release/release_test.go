package release

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// version is what the tests release: a tag's form, so that make release
// takes it, though no tag of the repository has it.
const version = "v0.0.0"

// repoRoot is the directory of go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// git runs git in the repository and returns its output, trimmed.
func git(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// makeRelease runs make release into dist. ALLOW_DIRTY lets it run on a
// tree with uncommitted changes, as a developer's often is; it then stamps
// <commit>-dirty.
func makeRelease(t *testing.T, root, dist string, vars ...string) ([]byte, error) {
	args := append([]string{"-C", root, "release", "DIST=" + dist}, vars...)
	return exec.Command("make", args...).CombinedOutput()
}

// TestRelease runs make release twice, into two directories, and compares
// them; then it checks what the first made. The second run reuses Go's
// build cache, so it proves the determinism of everything around the
// compiler (stamps, zips, image, SBOMs); the compiler's own is Go's promise
// (-trimpath, -buildvcs=false, no cgo). docs/release.md tells how to check
// with an empty cache.
//
// It builds the Linux CLI (which the image needs) and the Lambda zips, so
// that a first run on an empty build cache stays well inside ten minutes
// on two cores; TGSYNC_RELEASE_ALL=1 adds the darwin builds, as make
// release has them. It runs only with TGSYNC_RELEASE_TEST=1.
func TestRelease(t *testing.T) {
	if os.Getenv("TGSYNC_RELEASE_TEST") != "1" {
		// Two releases take minutes: CI runs this test as a step of its
		// own (.ci/run), not inside go test ./..., whose packages run
		// side by side under one ten-minute timeout.
		t.Skip("builds two releases: set TGSYNC_RELEASE_TEST=1 to run it (CI does, in a step of its own)")
	}
	testenv.NeedMake(t)
	testenv.NeedTool(t, "git")
	root := repoRoot(t)
	head := git(t, root, "rev-parse", "HEAD")
	dirty := git(t, root, "status", "--porcelain") != ""
	commit := head
	if dirty {
		commit += "-dirty"
	}
	platforms := []string{"linux_amd64", "linux_arm64"}
	if os.Getenv("TGSYNC_RELEASE_ALL") == "1" {
		platforms = append(platforms, "darwin_amd64", "darwin_arm64")
	}
	a, b := t.TempDir(), t.TempDir()
	for _, dist := range []string{a, b} {
		start := time.Now()
		if out, err := makeRelease(t, root, dist, "VERSION="+version, "ALLOW_DIRTY=1",
			"RELEASE_PLATFORMS="+strings.Join(platforms, " ")); err != nil {
			t.Fatalf("make release: %v\n%s", err, out)
		}
		t.Logf("make release into %s: %s", dist, time.Since(start).Round(time.Second))
	}
	if now := git(t, root, "status", "--porcelain") != ""; now != dirty {
		t.Fatalf("the tree changed during the test (uncommitted changes: %v, then %v): the two releases are not of one state", dirty, now)
	}
	sumsA, err := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sumsB, err := os.ReadFile(filepath.Join(b, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sumsA, sumsB) {
		t.Errorf("two releases of one commit differ:\n%s\n%s", sumsA, sumsB)
	}
	names := checkSums(t, a, sumsA)
	checkSums(t, b, sumsB)
	want := []string{
		"tgsync_v0.0.0_image.tar",
		"tgsync_v0.0.0_lambda_amd64.cdx.json", "tgsync_v0.0.0_lambda_amd64.zip",
		"tgsync_v0.0.0_lambda_arm64.cdx.json", "tgsync_v0.0.0_lambda_arm64.zip",
	}
	for _, p := range platforms {
		want = append(want, "tgsync_v0.0.0_"+p, "tgsync_v0.0.0_"+p+".cdx.json")
	}
	slices.Sort(want)
	if slices.Sort(names); !slices.Equal(names, want) {
		t.Errorf("SHA256SUMS lists\n%v\nwant\n%v", names, want)
	}
	for _, name := range names {
		if st, err := os.Stat(filepath.Join(a, name)); err == nil {
			t.Logf("%-40s %10d bytes", name, st.Size())
		}
	}
	wantVersion := versionOutput(commit, releaseGo(t, root))
	t.Run("binaries", func(t *testing.T) { checkBinaries(t, a, platforms, commit, wantVersion) })
	t.Run("lambda", func(t *testing.T) { checkLambda(t, a) })
	t.Run("image", func(t *testing.T) { checkImage(t, a, commit, wantVersion) })
	t.Run("sboms", func(t *testing.T) { checkSBOMs(t, a, platforms) })
}

// versionOutput is what tgsync version of this release prints on this
// machine.
func versionOutput(commit, goVersion string) string {
	first := "tgsync " + version
	if strings.HasSuffix(commit, "-dirty") {
		first += " (not a release build)"
	}
	return fmt.Sprintf("%s\ncommit: %s\ngo: %s linux/%s\n", first, commit, goVersion, runtime.GOARCH)
}

// releaseGo is the Go release make release builds with: go.mod's.
func releaseGo(t *testing.T, root string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return "go" + v
		}
	}
	t.Fatal("go.mod has no go line")
	return ""
}

// checkSums checks every line of SHA256SUMS against its file, as
// sha256sum -c does, and returns the names.
func checkSums(t *testing.T, dir string, sums []byte) []string {
	t.Helper()
	var names []string
	for line := range strings.Lines(string(sums)) {
		sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok || len(sum) != 64 || strings.Contains(name, "/") {
			t.Errorf("SHA256SUMS: line %q is not <sha256>  <name>", line)
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("SHA256SUMS lists %s: %v", name, err)
			continue
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s", name, got, sum)
		}
		names = append(names, name)
	}
	return names
}

// run runs a binary and returns its stdout.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = testenv.ChildEnv(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return string(out)
}

// checkBinaries: each CLI binary is for its platform, static, stamped
// with the version and the commit, built without VCS state and with
// trimmed paths, and carries the arm64 Lambda zip; this machine's runs
// and says so.
func checkBinaries(t *testing.T, dist string, platforms []string, commit, wantVersion string) {
	lambdaZip, err := os.ReadFile(filepath.Join(dist, "tgsync_"+version+"_lambda_arm64.zip"))
	if err != nil {
		t.Fatal(err)
	}
	for _, platform := range platforms {
		goos, goarch, _ := strings.Cut(platform, "_")
		bin := filepath.Join(dist, "tgsync_"+version+"_"+platform)
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		for k, want := range map[string]string{"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0", "-trimpath": "true", "-tags": "lambda.norpc,tgsync_bundle"} {
			if settings[k] != want {
				t.Errorf("%s: build setting %s=%q, want %q", filepath.Base(bin), k, settings[k], want)
			}
		}
		// -trimpath keeps -ldflags out of the build info: look for the
		// stamped strings themselves.
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(commit)) || !bytes.Contains(data, []byte(version)) {
			t.Errorf("%s: the version %s or the commit %s is not stamped", filepath.Base(bin), version, commit)
		}
		// tgsync deploy uploads the arm64 zip the binary carries: the
		// release's own, byte for byte.
		if !bytes.Contains(data, lambdaZip) {
			t.Errorf("%s does not carry tgsync_%s_lambda_arm64.zip", filepath.Base(bin), version)
		}
		if _, ok := settings["vcs.revision"]; ok {
			t.Errorf("%s: the build read VCS state (vcs.revision is set)", filepath.Base(bin))
		}
		if goos == "linux" {
			checkStaticELF(t, bin)
		} else {
			checkMachO(t, bin, goarch)
		}
	}
	host := filepath.Join(dist, "tgsync_"+version+"_linux_"+runtime.GOARCH) // testenv.NeedMake: on Linux
	if got := run(t, host, "version"); got != wantVersion {
		t.Errorf("tgsync version:\n got %q\nwant %q", got, wantVersion)
	}
}

// checkStaticELF: no interpreter and no shared libraries, so the binary
// runs on any Linux and in an image with nothing else.
func checkStaticELF(t *testing.T, bin string) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: not static (program header %s)", filepath.Base(bin), p.Type)
		}
	}
}

func checkMachO(t *testing.T, bin, goarch string) {
	f, err := macho.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
	if f.Cpu != want || f.Type != macho.TypeExec {
		t.Errorf("%s: Mach-O %s %s, want an executable for %s", filepath.Base(bin), f.Cpu, f.Type, want)
	}
}

// checkLambda: the release's zips are make package's, byte for byte.
func checkLambda(t *testing.T, dist string) {
	for _, arch := range []string{"amd64", "arm64"} {
		rel, err := os.ReadFile(filepath.Join(dist, "tgsync_"+version+"_lambda_"+arch+".zip"))
		if err != nil {
			t.Fatal(err)
		}
		pkg, err := os.ReadFile(filepath.Join(dist, "tgsync-"+arch+".zip"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rel, pkg) {
			t.Errorf("the release's %s zip is not make package's", arch)
		}
		if _, err := testenv.UnzipBootstrap(filepath.Join(dist, "tgsync-"+arch+".zip"), ""); err != nil {
			t.Error(err)
		}
	}
}

// TestReleaseRefuses: make release builds nothing from a version that is
// not a tag's, or from a tree with uncommitted changes, and says what to
// fix.
func TestReleaseRefuses(t *testing.T) {
	testenv.NeedMake(t)
	testenv.NeedTool(t, "git")
	root := repoRoot(t)
	// A clone with the Makefile under test and a file git does not track.
	clone := t.TempDir()
	git(t, root, "clone", "--quiet", "--no-hardlinks", ".", clone)
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clone, "Makefile"), makefile, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clone, "untracked.go"), []byte("package tgsync\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars []string
		want string
	}{
		{"no version", nil, "is not a release tag: give VERSION=vMAJOR.MINOR.PATCH"},
		{"dev", []string{"VERSION=dev"}, "VERSION=dev is not a release tag"},
		{"git describe between tags", []string{"VERSION=v1.2.3-4-g0123abc"}, "VERSION=v1.2.3-4-g0123abc is not a release tag"},
		{"git describe of a dirty tree", []string{"VERSION=v1.2.3-dirty"}, "VERSION=v1.2.3-dirty is not a release tag"},
		{"no v", []string{"VERSION=1.2.3"}, "VERSION=1.2.3 is not a release tag"},
		{"no patch", []string{"VERSION=v1.2"}, "VERSION=v1.2 is not a release tag"},
		{"uncommitted changes", []string{"VERSION=v1.2.3"}, "the tree has uncommitted changes; commit or stash them"},
		{"uncommitted changes, ALLOW_DIRTY=0", []string{"VERSION=v1.2.3-rc.1", "ALLOW_DIRTY=0"}, "the tree has uncommitted changes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dist := t.TempDir()
			out, err := makeRelease(t, clone, dist, tc.vars...)
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("make release: %v, want a failure that says %q:\n%s", err, tc.want, out)
			}
			if left, _ := os.ReadDir(dist); len(left) > 0 {
				t.Errorf("a refused release wrote %d files to DIST", len(left))
			}
		})
	}
}
