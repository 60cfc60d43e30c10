package testenv

import (
	"os"
	"strings"
	"testing"
)

func TestSkipReport(t *testing.T) {
	moto := "moto_server (not on PATH; " + installHints["moto_server"] + ")"
	chromium := "chromium or chromium-browser (not on PATH; " + installHints["chromium"] + ")"
	tests := []struct {
		name  string
		skips [][2]string // test name, reason
		want  string
	}{
		{"none", nil, ""},
		{"one test", [][2]string{{"TestA", moto}},
			"example.com/m/pkg: skipped 1 test: 1 needs " + moto + "; TGSYNC_REQUIRE_TOOLS=1 makes them fail"},
		{"subtests count, a test counts once per reason", [][2]string{{"TestA/x", moto}, {"TestA/y", moto}, {"TestA/y", moto}},
			"example.com/m/pkg: skipped 2 tests: 2 need " + moto + "; TGSYNC_REQUIRE_TOOLS=1 makes them fail"},
		{"most common reason first", [][2]string{{"TestPage", chromium}, {"TestA", moto}, {"TestB", moto}},
			"example.com/m/pkg: skipped 3 tests: 2 need " + moto + ", 1 needs " + chromium + "; TGSYNC_REQUIRE_TOOLS=1 makes them fail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log skipLog
			for _, s := range tc.skips {
				log.add(s[1], s[0])
			}
			if got := log.line("example.com/m/pkg"); got != tc.want {
				t.Errorf("report\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestInstallHintsAreCIs keeps the install hints of the skip report the
// commands and versions that .ci/run uses.
func TestInstallHintsAreCIs(t *testing.T) {
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for tool, hint := range installHints {
		spec := hint[strings.LastIndex(hint, " ")+1:]
		if !strings.Contains(string(ci), spec) {
			t.Errorf("%s: the hint %q names %s, which .ci/run does not", tool, hint, spec)
		}
	}
}

func TestPackagePath(t *testing.T) {
	if got, want := packagePath(), "github.com/tgsync/tgsync/internal/testenv"; got != want {
		t.Errorf("packagePath() = %q, want %q", got, want)
	}
}
