package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestVersionText: tgsync version names the version, the commit and the Go
// toolchain, and only a build make release stamped from a clean tagged tree
// passes for a release.
func TestVersionText(t *testing.T) {
	t.Parallel()
	const hash = "0123456789abcdef0123456789abcdef01234567"
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name, version, commit string
		want                  string
	}{
		{"release", "v1.2.3", hash,
			"tgsync v1.2.3\ncommit: " + hash + "\ngo: go1.99.1 " + platform + "\n"},
		{"release candidate", "v1.2.3-rc.1", hash,
			"tgsync v1.2.3-rc.1\ncommit: " + hash + "\ngo: go1.99.1 " + platform + "\n"},
		{"go build", "dev", "",
			"tgsync dev (not a release build)\ncommit: unknown\ngo: go1.99.1 " + platform + "\n"},
		{"make build between tags", "v1.2.3-4-g0123456", "",
			"tgsync v1.2.3-4-g0123456 (not a release build)\ncommit: unknown\ngo: go1.99.1 " + platform + "\n"},
		{"make build on a tag", "v1.2.3", "",
			"tgsync v1.2.3 (not a release build)\ncommit: unknown\ngo: go1.99.1 " + platform + "\n"},
		{"uncommitted changes", "v1.2.3", hash + "-dirty",
			"tgsync v1.2.3 (not a release build)\ncommit: " + hash + "-dirty\ngo: go1.99.1 " + platform + "\n"},
		{"describe of a dirty tree", "v1.2.3-dirty", hash,
			"tgsync v1.2.3-dirty (not a release build)\ncommit: " + hash + "\ngo: go1.99.1 " + platform + "\n"},
		{"short commit", "v1.2.3", hash[:12],
			"tgsync v1.2.3 (not a release build)\ncommit: " + hash[:12] + "\ngo: go1.99.1 " + platform + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionText(tc.version, tc.commit, "go1.99.1"); got != tc.want {
				t.Errorf("versionText(%q, %q):\n got %q\nwant %q", tc.version, tc.commit, got, tc.want)
			}
		})
	}
}

// TestCLIVersionNotRelease: a test binary is no release, and says so.
func TestCLIVersionNotRelease(t *testing.T) {
	t.Parallel()
	res := runMain(t, nil, "version")
	first, _, _ := strings.Cut(res.stdout, "\n")
	if res.code != exitOK || first != "tgsync "+version+" (not a release build)" {
		t.Errorf("want exit 0 and a first line that says this is not a release build, got %s", res)
	}
	if !strings.Contains(res.stdout, "\ngo: "+runtime.Version()+" ") {
		t.Errorf("want the Go version %s, got %q", runtime.Version(), res.stdout)
	}
}

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	want := versionText(version, commit, runtime.Version())
	for _, args := range [][]string{{"version"}, {"--version"}, {"version", "-o", "text"}, {"-version"}} {
		res := runMain(t, nil, args...)
		if res.code != exitOK || res.stdout != want || res.stderr != "" {
			t.Errorf("%q: want exit 0 and %q, got %s", args, want, res)
		}
	}
	res := runMain(t, nil, "version", "-o", "json")
	var got versionInfo
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || res.code != exitOK {
		t.Fatalf("version -o json: %v\n%s", err, res)
	}
	if w := (versionInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}); got != w {
		t.Errorf("version -o json = %+v, want %+v", got, w)
	}
}
