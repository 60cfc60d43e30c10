package status_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	. "github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/status/statustest"
)

// evil is what a hostile DNS answer, AWS error or config name could carry.
const evil = `<script>alert(1)</script>"'&`

// fillStrings sets every string in v, however deep, to s: struct fields,
// slice elements (a slice gets one element if it has none) and what
// pointers point to (a nil pointer gets a new value). Times and durations
// get fixed values so that every conditional part of the page shows.
func fillStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fillStrings(v.Elem(), s)
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		for i := range v.Len() {
			fillStrings(v.Index(i), s)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(statustest.Now.Add(-time.Minute)))
			return
		}
		for i := range v.NumField() {
			fillStrings(v.Field(i), s)
		}
	case reflect.Int, reflect.Int64:
		v.SetInt(2)
	case reflect.Bool:
		v.SetBool(true)
	}
}

// hostileStatus is a status with every string set to s.
func hostileStatus(t *testing.T, s string) Status {
	t.Helper()
	var st Status
	fillStrings(reflect.ValueOf(&st).Elem(), s)
	st.Generated = statustest.Now
	if len(st.Bindings) != 1 || len(st.Bindings[0].Targets) != 1 || st.Bindings[0].Targets[0].Pending == nil ||
		st.Bindings[0].Answer == nil || st.Bindings[0].Answer.Addrs[0] != s || st.LastRun.Error != s {
		t.Fatalf("fillStrings left parts of the status empty: %+v", st)
	}
	// Eleven events: ten shown and one folded away, so that both lists
	// are rendered.
	b := &st.Bindings[0]
	for len(b.Events) < ShownEvents+1 {
		b.Events = append(b.Events, b.Events[0])
	}
	return st
}

// node is an element as the test compares it: its name and attributes.
type node struct {
	name  string
	attrs []html.Attribute
}

// parsePage parses a page as a browser would and returns its elements in
// document order and its text, attribute values included.
func parsePage(t *testing.T, page []byte) (elems []node, text []string) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("the page does not parse: %v", err)
	}
	for n := range doc.Descendants() {
		switch n.Type {
		case html.ElementNode:
			elems = append(elems, node{n.Data, n.Attr})
			for _, a := range n.Attr {
				text = append(text, a.Val)
			}
		case html.TextNode:
			text = append(text, n.Data)
		}
	}
	return elems, text
}

// TestPageEscapesEveryString renders a status whose every string is
// markup, quotes or an entity. Escaping is right when the page has exactly
// the elements and attributes of the same status with a harmless string,
// and the hostile string comes back, decoded, wherever the harmless one
// does: in text and in attribute values.
func TestPageEscapesEveryString(t *testing.T) {
	const plainWord = "PLAIN"
	plain, err := RenderHTML(hostileStatus(t, plainWord), PageOptions{Title: plainWord, Refresh: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	plainElems, plainText := parsePage(t, plain)
	var shown int
	for _, s := range plainText {
		shown += strings.Count(s, plainWord)
	}
	if shown < 40 {
		t.Fatalf("the page shows the status's strings %d times, want at least 40", shown)
	}
	for _, hostile := range []string{evil, "&amp;&lt;b&gt;\"'<!--", "</style></title><img src=x onerror=alert(1)>"} {
		t.Run(hostile, func(t *testing.T) {
			page, err := RenderHTML(hostileStatus(t, hostile), PageOptions{Title: hostile, Refresh: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if i := bytes.Index(bytes.ToLower(page), []byte("<script")); i >= 0 {
				t.Fatalf("unescaped <script in the page: %q", page[max(0, i-100):min(len(page), i+100)])
			}
			elems, text := parsePage(t, page)
			if len(elems) != len(plainElems) {
				t.Fatalf("the hostile page has %d elements, the plain one %d", len(elems), len(plainElems))
			}
			for i, e := range elems {
				p := plainElems[i]
				if e.name != p.name || len(e.attrs) != len(p.attrs) {
					t.Fatalf("element %d is <%s> with %d attributes, want <%s> with %d", i, e.name, len(e.attrs), p.name, len(p.attrs))
				}
				for j, a := range e.attrs {
					if want := strings.ReplaceAll(p.attrs[j].Val, plainWord, hostile); a.Key != p.attrs[j].Key || a.Val != want {
						t.Errorf("<%s %s=%q>, want %s=%q", e.name, a.Key, a.Val, p.attrs[j].Key, want)
					}
				}
			}
			var found int
			for _, s := range text {
				found += strings.Count(s, hostile)
			}
			if found != shown {
				t.Errorf("the hostile string comes back %d times, the plain one %d", found, shown)
			}
		})
	}
	for _, want := range []string{
		`id="binding-&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;"`,
		`<title>&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp; status</title>`,
		`class="event e-&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;"`,
	} {
		page, _ := RenderHTML(hostileStatus(t, evil), PageOptions{Title: evil})
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestEsc(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"10.0.1.11:443", "10.0.1.11:443"},
		{evil, "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;"},
		{"a\x00b", "a\uFFFDb"},
		{"&amp;", "&amp;amp;"},
		{"ünïcode → ok", "ünïcode → ok"},
	} {
		if got := Esc(tc.in); got != tc.want {
			t.Errorf("esc(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPageSections checks the parts of the page that only some statuses
// have, by the elements they add.
func TestPageSections(t *testing.T) {
	full := statustest.Status()
	for _, tc := range []struct {
		name string
		st   Status
		opts PageOptions
		want []string
		not  []string
	}{
		{"fixture", full, PageOptions{Refresh: 2500 * time.Millisecond},
			[]string{`<meta http-equiv="refresh" content="3">`, "reloads every 3s", "<title>tgsync status</title>", "port 443</p>", "ports 80, 443</p>",
				`<h3>Refusing now</h3>`, `<span class="count">unhealthy <b>2</b></span>`, "no run result in this process"},
			[]string{"<details>", "No bindings are configured"}},
		{"no bindings, no refresh", Status{Generated: statustest.Now}, PageOptions{Title: "demo"},
			[]string{"<title>demo status</title>", `<p class="muted">No bindings are configured.</p>`},
			[]string{"http-equiv", "reloads every", "<section"}},
		{"failed run", Status{Generated: statustest.Now, LastRun: &RunInfo{Finished: statustest.Now.Add(-90 * time.Second), Duration: 2500 * 1e6,
			Failed: []string{"a", "b"}, Error: "save state: conflict"}}, PageOptions{},
			[]string{"last run 1m30s ago, took 3s, <b>2 failed</b>", `<div class="alert"><b>The last run failed:</b> save state: conflict</div>`},
			[]string{"no run result"}},
		{"older events fold away", hostileStatus(t, "x"), PageOptions{},
			[]string{"<details><summary>1 older</summary>", `<span class="kind">x</span>`, `<span class="tag t-want">in source</span>`},
			[]string{`<li class="muted">Nothing yet.</li>`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := RenderHTML(tc.st, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !bytes.Contains(page, []byte(w)) {
					t.Errorf("page lacks %s", w)
				}
			}
			for _, n := range tc.not {
				if bytes.Contains(page, []byte(n)) {
					t.Errorf("page has %s", n)
				}
			}
			parsePage(t, page)
		})
	}
}

func TestPageWithoutRefreshOrBindings(t *testing.T) {
	body, err := RenderHTML(Status{Generated: statustest.Now}, PageOptions{Refresh: -1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "http-equiv") || !strings.Contains(string(body), "No bindings are configured") {
		t.Errorf("page:\n%s", body)
	}
}
