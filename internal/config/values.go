package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The raw types (decode.go) are built from the three types here. yaml.v3
// walks the document: it follows aliases and merges, maps keys to fields
// and resolves scalars. Each type judges the node yaml.v3 gives it in
// UnmarshalYAML and reports what is wrong under its key path, so that a
// config is rejected with every problem at once; it never returns an
// error, which would make yaml.v3 drop a list item and move the items
// after it to other indexes.
//
// How a mapping is written (unknown keys, keys set twice, merges) is
// checked by scanner before yaml.v3 decodes it: yaml.v3's KnownFields
// works only for a Decoder reading the whole file, which gives no key
// paths, stops at a merge it cannot follow, and refuses a mapping with a
// key set twice as a whole.

// decoding is what the values of one config share while yaml.v3 decodes
// them.
type decoding struct {
	*problems
	// active holds the mappings being decoded, so that a mapping merged
	// into itself is refused instead of followed.
	active []*yaml.Node
	visits int
}

// visit counts a value and reports whether decoding may go on: aliases
// can expand a small file into a huge one, and yaml.v3's own bound does
// not hold across the decoding each value starts.
func (d *decoding) visit() bool {
	d.visits++
	if d.visits == maxNodes {
		d.add("", fmt.Sprintf("more than %d values after expanding aliases", maxNodes))
	}
	return d.visits < maxNodes
}

// at is what every decoded value keeps besides the value: where its
// problems go, set before yaml.v3 decodes it, and what it found.
type at struct {
	d    *decoding
	path string
	// set is false when the key is absent or null.
	set bool
	bad bool
}

func (a *at) bind(d *decoding, path string) { a.d, a.path = d, path }

// fail reports a problem with the value, which must not repeat it.
func (a *at) fail(msg string) {
	a.bad = true
	a.d.add(a.path, msg)
}

// ok reports whether the value is written and of the right type.
func (a *at) ok() bool { return a.set && !a.bad }

type binder interface {
	bind(d *decoding, path string)
}

// scalarType lists what a value can hold.
type scalarType interface {
	string | int | float64 | bool | time.Duration | netip.Prefix
}

// value is one scalar.
type value[T scalarType] struct {
	at
	v T
}

func (x *value[T]) UnmarshalYAML(n *yaml.Node) error {
	x.set = true
	if !x.d.visit() {
		return nil
	}
	if msg := scalar(n, &x.v); msg != "" {
		x.fail(msg)
	}
	return nil
}

// to copies the value into dst when it is written: the zero value when it
// is of the wrong type, which check then does not report again.
func (x *value[T]) to(dst *T) {
	if x.set {
		*dst = x.v
	}
}

// scalar decodes n into p, or says what is wrong with it.
func scalar(n *yaml.Node, p any) string {
	switch p := p.(type) {
	case *time.Duration:
		return duration(n, p)
	case *netip.Prefix:
		var s string
		if msg := scalar(n, &s); msg != "" {
			return msg
		}
		var msg string
		*p, msg = parsePrefix(s)
		return msg
	}
	if n.Kind != yaml.ScalarNode {
		return "must be a single value, " + describe(n)
	}
	switch p := p.(type) {
	case *string:
		if !slices.Contains([]string{"!!str", "!!int", "!!float", "!!timestamp"}, n.ShortTag()) {
			return "must be a string, " + describe(n) + "; quote it if you mean the text"
		}
		*p = n.Value
		return ""
	case *int:
		return typed(n, p, "must be a whole number", "must be a whole number, got one too large to use", "!!int")
	case *float64:
		return typed(n, p, "must be a number", "must be a number, got one out of range", "!!int", "!!float")
	case *bool:
		return typed(n, p, "must be true or false", "must be true or false", "!!bool")
	}
	panic(fmt.Sprintf("config: no decoder for %T", p))
}

// typed decodes a scalar that must carry one of tags; want says what the
// key takes, and fits what a value of the right tag that still does not
// decode must be.
func typed(n *yaml.Node, p any, want, fits string, tags ...string) string {
	if !slices.Contains(tags, n.ShortTag()) {
		return want + ", " + describe(n)
	}
	if err := n.Decode(p); err != nil {
		return fits
	}
	return ""
}

// duration reads a Go duration string. A bare number is refused because
// its unit would be a guess.
func duration(n *yaml.Node, p *time.Duration) string {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str":
			d, err := time.ParseDuration(n.Value)
			if err != nil {
				return "must be a duration such as 3m, 90s or 1h30m, got a string that is not one"
			}
			*p = d
			return ""
		case "!!int", "!!float":
			return "must be a duration with a unit, got a bare number: write 3m or 180s"
		}
	}
	return "must be a duration such as 3m or 180s, " + describe(n)
}

// strictBool is a boolean that a key written without a value does not
// set to false: shared: false is the choice that removes other targets.
type strictBool struct{ value[bool] }

func (*strictBool) null() string { return "must be true or false, got nothing" }

// list is a sequence. A null item is reported rather than dropped, so
// that every item keeps its index.
type list[T any] struct {
	at
	items []T
}

// null is what a list written as null is told: yaml.v3 leaves the field
// alone, as if the key were absent.
func (*list[T]) null() string { return "must be a list, got nothing" }

func (l *list[T]) UnmarshalYAML(n *yaml.Node) error {
	l.set = true
	if !l.d.visit() {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.fail("must be a list, " + describe(n))
		return nil
	}
	l.items = make([]T, len(n.Content))
	for i, item := range n.Content {
		path := index(l.path, i)
		l.d.lines[path] = item.Line
		any(&l.items[i]).(binder).bind(l.d, path)
		if isNull(item) {
			l.d.add(path, "is empty")
		} else if decode(item, &l.items[i]) != nil {
			l.d.add(path, yamlFailed)
		}
	}
	return nil
}

// values returns the items of a list of scalars, the zero value for an
// item that is null or wrong; nil when the list is absent or no list.
func values[T scalarType](l *list[value[T]]) []T {
	if !l.ok() {
		return nil
	}
	out := make([]T, len(l.items))
	for i := range l.items {
		out[i] = l.items[i].v
	}
	return out
}

// section is a mapping decoded into T, a struct of values, lists and
// sections whose yaml tags are the keys it knows.
type section[T any] struct {
	at
	v T
}

func (s *section[T]) UnmarshalYAML(n *yaml.Node) error {
	s.set = true
	if !s.d.visit() {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		s.fail("must be a mapping of keys, " + describe(n))
		return nil
	}
	v := reflect.ValueOf(&s.v).Elem()
	sc := &scanner{at: &s.at, null: map[string]string{}}
	for i := range v.NumField() {
		key := v.Type().Field(i).Tag.Get("yaml")
		sc.known = append(sc.known, key)
		field := v.Field(i).Addr().Interface()
		field.(binder).bind(s.d, join(s.path, key))
		if f, ok := field.(interface{ null() string }); ok {
			sc.null[key] = f.null()
		}
	}
	clean := sc.scan(n, s.d.active)
	// A misspelt key is not reported a second time as missing.
	for _, h := range sc.hinted {
		if _, set := s.d.lines[join(s.path, h)]; !set {
			s.d.quiet(join(s.path, h))
		}
	}
	s.d.active = append(s.d.active, n)
	defer func() { s.d.active = s.d.active[:len(s.d.active)-1] }()
	if decode(clean, &s.v) != nil {
		s.fail(yamlFailed)
	}
	for _, f := range sc.later {
		f()
	}
	return nil
}

// scanner checks how a mapping, and the mappings merged into it, are
// written: what yaml.v3 would stop at, or refuse the whole mapping for,
// is reported and left out of the copy it decodes. It records the line of
// every key; a merged key counts where the mapping does not set it.
type scanner struct {
	*at
	known, hinted []string
	// null holds what keys that must not be null are told when they are.
	null  map[string]string
	later []func()
}

// scan returns a copy of mapping n without the keys and merges that are
// wrong. active holds the mappings being decoded and those n is merged
// into.
func (sc *scanner) scan(n *yaml.Node, active []*yaml.Node) *yaml.Node {
	active = append(slices.Clip(active), n)
	clean := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	first := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			merges = append(merges, k, v)
		case k.Kind != yaml.ScalarNode || isNull(k):
			sc.d.addLine(sc.path, k.Line, "keys must be plain names, "+describe(k))
		case sc.key(k, v, first):
			clean.Content = append(clean.Content, k, v)
		}
	}
	// Merged mappings come after the keys written here, which win, as
	// YAML says; of several merged mappings the first wins.
	var merged []*yaml.Node
	for i := 0; i < len(merges); i += 2 {
		merged = append(merged, sc.merge(merges[i], merges[i+1], active)...)
	}
	if len(merged) > 0 {
		clean.Content = append(clean.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!merge", Value: "<<"},
			&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: merged})
	}
	return clean
}

// key checks a key written in the mapping and reports whether its value
// is to be decoded.
func (sc *scanner) key(k, v *yaml.Node, first map[string]int) bool {
	path := join(sc.path, clip(k.Value))
	if line, dup := first[k.Value]; dup {
		// Reported once the value set first is decoded, so that what is
		// wrong with it comes first.
		sc.later = append(sc.later, func() {
			sc.d.lines[path] = k.Line
			sc.d.add(path, fmt.Sprintf("key is set twice; it was first set on line %d", line))
		})
		return false
	}
	first[k.Value] = k.Line
	if _, set := sc.d.lines[path]; !set {
		sc.d.lines[path] = k.Line
	}
	switch {
	case !slices.Contains(sc.known, k.Value):
		msg := "unknown key " + quote(k.Value)
		if s := suggest(k.Value, sc.known); s != "" {
			msg += "; did you mean " + quote(s) + "?"
			sc.hinted = append(sc.hinted, s)
		} else {
			msg += "; known keys here: " + strings.Join(sc.known, ", ")
		}
		// Two long unknown keys may clip to the same path; each is
		// reported.
		sc.d.addLine(path, k.Line, msg)
		return false
	case sc.null[k.Value] != "" && isNull(v):
		sc.d.add(path, sc.null[k.Value])
		return false
	}
	return true
}

// merge checks the value of a merge key (<<: *anchor) and returns the
// mappings to merge, each scanned like the mapping itself.
func (sc *scanner) merge(k, v *yaml.Node, active []*yaml.Node) []*yaml.Node {
	v = resolve(v)
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	var out []*yaml.Node
	for _, item := range items {
		switch item = resolve(item); {
		case item.Kind != yaml.MappingNode:
			sc.d.addLine(sc.path, k.Line, "<< can merge only mappings, "+describe(item))
		case slices.Contains(active, item):
			sc.d.addLine(sc.path, k.Line, "<< merges a mapping into itself")
		case sc.d.visit():
			out = append(out, sc.scan(item, active))
		}
	}
	return out
}
