package main

import (
	"bufio"
	"image/png"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/testenv"
)

// TestDemoStatusPageInChromium runs 'tgsync demo --listen' on loopback, as a
// person would, and renders its status page in headless Chromium once the
// story has played: the page alone must explain what happened.
func TestDemoStatusPageInChromium(t *testing.T) {
	t.Parallel()
	chrome := testenv.NeedChromium(t)
	cmd := exec.Command(testenv.CLI(t), "demo", "--step", "0", "--listen", "127.0.0.1:0")
	cmd.Env = testenv.ChildEnv(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// The demo prints the page's address first and announces the end of
	// the story; after that the page holds the final state.
	var pageURL string
	var story strings.Builder
	lines := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for lines.Scan() {
		line := lines.Text()
		story.WriteString(line + "\n")
		if u, ok := strings.CutPrefix(line, "Status page: "); ok {
			pageURL = u
		}
		if strings.Contains(line, "stays up until interrupted") {
			break
		}
	}
	if pageURL == "" || !strings.Contains(story.String(), "removed while still in DNS: 0") {
		t.Fatalf("the demo did not announce its page or did not finish:\n%s", story.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	dom := chrome.DumpDOM(t, pageURL)
	for _, want := range []string{
		"opensearch-dashboards",
		"vpc-logs-abc123.ap-northeast-1.es.amazonaws.com",
		"10.0.1.21:443", "10.0.2.22:443", "10.0.3.23:443", // the new nodes
		"10.0.1.11:443",       // an old node, draining
		"healthy", "draining", // states
		"missed by 3 consecutive answers", // why the old nodes left
		"SERVFAIL",                        // why the outage removed nothing
		"removing nothing",
		"in the answer for", // why the new nodes came
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page does not show %q", want)
		}
	}

	shot := chrome.Screenshot(t, pageURL, testenv.PhoneWidth, testenv.PhoneHeight)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != testenv.PhoneWidth || b.Dy() != testenv.PhoneHeight {
		t.Errorf("screenshot is %dx%d, want the phone's %dx%d", b.Dx(), b.Dy(), testenv.PhoneWidth, testenv.PhoneHeight)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("demo after interrupt: %v, want exit 0", err)
	}
}
