package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Chromium is a headless Chromium (Debian's chromium package) that loads
// pages from loopback servers only.
type Chromium struct {
	// Path is the browser binary.
	Path string
	// Timeout bounds one browser run; 0 means 90s.
	Timeout time.Duration
}

// NeedChromium returns the browser, or skips the test when it is missing
// (fails it when TGSYNC_REQUIRE_TOOLS=1).
func NeedChromium(t testing.TB) *Chromium {
	t.Helper()
	return &Chromium{Path: NeedTool(t, "chromium", "chromium-browser")}
}

// Phone is the window of a common phone in CSS pixels.
const PhoneWidth, PhoneHeight = 412, 915

// DumpDOM loads the page and returns the DOM as serialised after loading.
func (c *Chromium) DumpDOM(t testing.TB, pageURL string) string {
	t.Helper()
	out := c.run(t, pageURL, "--dump-dom")
	return string(out)
}

// Screenshot loads the page in a window of width x height CSS pixels and
// returns the path of the PNG it took, inside the test's temp dir.
func (c *Chromium) Screenshot(t testing.TB, pageURL string, width, height int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "page.png")
	c.run(t, pageURL, "--screenshot="+path, fmt.Sprintf("--window-size=%d,%d", width, height),
		"--hide-scrollbars", "--force-device-scale-factor=1")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("chromium wrote no screenshot of %s: %v", pageURL, err)
	}
	return path
}

// run starts the browser on a page with the flags that keep it off the
// network: everything not on loopback goes to a closed proxy port and no
// name resolves, so a stray request fails instead of leaving the machine.
func (c *Chromium) run(t testing.TB, pageURL string, extra ...string) []byte {
	t.Helper()
	if err := checkLoopback(pageURL); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
		"--disable-domain-reliability", "--disable-client-side-phishing-detection",
		"--no-default-browser-check", "--no-pings", "--metrics-recording-only",
		"--proxy-server=http://127.0.0.1:9", // loopback bypasses a proxy by default
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
		"--user-data-dir=" + t.TempDir(),
	}
	args = append(append(args, extra...), pageURL)
	cmd := exec.CommandContext(ctx, c.Path, args...)
	// The browser forks helpers; kill the whole group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\nstderr:\n%s", pageURL, err, tail(stderr.String(), 4000))
	}
	return stdout.Bytes()
}

// checkLoopback refuses any page that is not on a loopback address.
func checkLoopback(pageURL string) error {
	u, err := url.Parse(pageURL)
	if err != nil {
		return fmt.Errorf("page %q: %w", pageURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("page %q: want an http or https URL", pageURL)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("page %q: tests load pages from loopback addresses only", pageURL)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
