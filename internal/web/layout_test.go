package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tgsync/tgsync/internal/status/statustest"
	"github.com/tgsync/tgsync/internal/testenv"
)

// layoutFacts are what the measuring frame reports of the page.
type layoutFacts struct {
	// Viewport is the frame's width; Width is that less a scroll bar,
	// which the page's content must not pass: ScrollWidth.
	Viewport    float64 `json:"viewport"`
	Width       float64 `json:"width"`
	ScrollWidth float64 `json:"scrollWidth"`
	// Overflowing names the elements whose right edge passes the
	// viewport's.
	Overflowing []string `json:"overflowing"`
	Charts      []struct {
		Width, Height, Right float64
		Lines                int
	} `json:"charts"`
	Bars []float64 `json:"bars"` // the filled part of each bar, in pixels
}

// measurer is a test page, never served by tgsync, that loads the status
// page in a frame of the given size and writes what its layout measures
// into the DOM, for --dump-dom to read: a headless window cannot be made
// narrower than 500 pixels, a frame can. The page itself keeps its
// Content-Security-Policy, which forbids scripts and frames; the test
// serves its bytes unchanged from a route of its own for the frame.
const measurer = `<!doctype html><html><body style="margin:0">
<iframe id="f" src="/page" style="border:0;width:%dpx;height:%dpx"></iframe><pre id="facts"></pre>
<script>
window.addEventListener('load', function () {
  var f = document.getElementById('f'), d = f.contentDocument, w = d.documentElement.clientWidth, out = {
    viewport: f.contentWindow.innerWidth, width: w, scrollWidth: d.documentElement.scrollWidth, overflowing: [], charts: [], bars: []};
  d.querySelectorAll('body *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 0.5 && !e.closest('svg')) out.overflowing.push(e.tagName + '.' + e.className + ' ' + r.right);
  });
  d.querySelectorAll('.chart svg').forEach(function (s) {
    var r = s.getBoundingClientRect();
    out.charts.push({Width: r.width, Height: r.height, Right: r.right, Lines: s.querySelectorAll('polyline,polygon').length});
  });
  d.querySelectorAll('.bar span').forEach(function (s) { out.bars.push(s.getBoundingClientRect().width); });
  document.getElementById('facts').textContent = JSON.stringify(out);
});
</script></body></html>`

var factsRE = regexp.MustCompile(`(?s)<pre id="facts">(.*?)</pre>`)

// TestPageLayoutInChromium renders the fixture's page at a phone's and a
// desktop's size and checks what a person sees: nothing wider than the
// screen, every binding's chart drawn across the width, the countdown
// bars filled as far as their grace ran. Set TGSYNC_SCREENSHOT_DIR to keep
// the screenshots.
func TestPageLayoutInChromium(t *testing.T) {
	browser := testenv.NeedChromium(t)
	h := newHandler(t, Options{Status: fixedStatus(statustest.Status()), Now: func() time.Time { return statustest.Now }})
	page := startServer(t, h)
	resp, body := testenv.Send(t, http.MethodGet, page+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	for _, size := range []struct {
		name          string
		width, height int
	}{
		{"phone", 390, 844},
		{"desktop", 1440, 900},
	} {
		t.Run(size.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", ContentTypeHTML)
				_, _ = w.Write([]byte(body))
			})
			mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", ContentTypeHTML)
				fmt.Fprintf(w, measurer, size.width, size.height)
			})
			dom := browser.DumpDOM(t, startServer(t, mux)+"/")
			m := factsRE.FindStringSubmatch(dom)
			var f layoutFacts
			if m == nil || json.Unmarshal([]byte(html.UnescapeString(m[1])), &f) != nil {
				t.Fatalf("the measuring frame reported nothing:\n%.2000s", dom)
			}
			t.Logf("%s: %+v", size.name, f)
			if f.Viewport != float64(size.width) {
				t.Fatalf("viewport %v pixels, want %d", f.Viewport, size.width)
			}
			if f.ScrollWidth > f.Width || len(f.Overflowing) > 0 {
				t.Errorf("horizontal overflow: page %v pixels wide in %v; elements past the edge: %q", f.ScrollWidth, f.Width, f.Overflowing)
			}
			if len(f.Charts) != 3 {
				t.Fatalf("%d charts, want one per binding (3)", len(f.Charts))
			}
			for i, c := range f.Charts {
				if c.Width < 0.8*min(f.Width, 1100) || c.Height < 80 || c.Right > f.Width || c.Lines != 3 {
					t.Errorf("chart %d: %+v, want at least %.0f pixels wide, 80 high, inside the viewport, with 3 series", i, c, 0.8*min(f.Width, 1100))
				}
			}
			// The fixture's two pending removals: one due (full), one at
			// two thirds.
			if len(f.Bars) != 2 || f.Bars[0] <= f.Bars[1] || f.Bars[1] < f.Bars[0]*0.6 || f.Bars[1] > f.Bars[0]*0.7 {
				t.Errorf("bars filled %v pixels, want a full one and one two thirds as long", f.Bars)
			}

			shot := browser.Screenshot(t, page+"/", size.width, size.height)
			data, err := os.ReadFile(shot)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			if b := img.Bounds(); b.Dx() != size.width || b.Dy() != size.height {
				t.Errorf("screenshot %dx%d, want %dx%d", b.Dx(), b.Dy(), size.width, size.height)
			}
			if dir := os.Getenv("TGSYNC_SCREENSHOT_DIR"); dir != "" {
				if err := os.WriteFile(filepath.Join(dir, "status-"+size.name+".png"), data, 0o644); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
