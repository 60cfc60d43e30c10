package web

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/status/statustest"
	"github.com/tgsync/tgsync/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPageInChromium loads the status page of the fixture in a real
// browser on a phone-sized window: the DOM must show every binding,
// target, state and reason, and the screenshot must be a real picture.
// Set TGSYNC_SCREENSHOT_DIR to keep the screenshot for a look.
func TestPageInChromium(t *testing.T) {
	browser := testenv.NeedChromium(t)
	url := startServer(t, newHandler(t, Options{Status: fixedStatus(statustest.Status()), Now: func() time.Time { return statustest.Now }}))

	dom := browser.DumpDOM(t, url+"/")
	text := visibleText(dom)
	for _, want := range []string{
		"opensearch-dashboards", "internal-alb-static-ip", "fargate-logstash",
		"10.0.1.11:443", "10.0.2.12:443", "10.0.3.13:443", "10.0.1.21:443", "10.0.3.23:443",
		"10.1.2.6:443", "10.1.9.9:80", "10.2.0.10:5044", "10.2.0.11:5044",
		"healthy", "unhealthy", "draining", "initial", "unused", "not registered",
		"Target.Timeout: Request timed out", "Elb.InitialHealthChecking", "Target.DeregistrationInProgress",
		statustest.ReasonMaxFraction, statustest.ReasonNotAllowed, statustest.ReasonSourceFailed, statustest.FargateError,
		"<script>alert(1)</script>", // shown as text, never run
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the browser does not show %q", want)
		}
	}
	if strings.Contains(dom, "<script>") {
		t.Error("the DOM holds a script element")
	}

	path := browser.Screenshot(t, url+"/", testenv.PhoneWidth, testenv.PhoneHeight)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG: % x", data[:min(8, len(data))])
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != testenv.PhoneWidth || b.Dy() != testenv.PhoneHeight {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), testenv.PhoneWidth, testenv.PhoneHeight)
	}
	// A blank page compresses to a few hundred bytes and has one colour.
	if len(data) < 20_000 {
		t.Errorf("screenshot is only %d bytes: is the page blank?", len(data))
	}
	colours := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>11<<10|g>>11<<5|bl>>11] = true
		}
	}
	if len(colours) < 12 {
		t.Errorf("screenshot has %d colours: want the state and event colours", len(colours))
	}
	if dir := os.Getenv("TGSYNC_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "status-phone.png"), data, 0o644); err != nil {
			t.Error(err)
		}
	}
}

var tags = regexp.MustCompile(`<[^>]*>`)

// visibleText drops the markup of a DOM dump and undoes its escaping, so
// that the test reads what a person reads.
func visibleText(dom string) string {
	s := tags.ReplaceAllString(dom, " ")
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&amp;", "&").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}
