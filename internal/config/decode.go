package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The raw types mirror the file. Their yaml tags are the key names, which
// are part of tgsync's interface. Pointers and nil slices tell an absent
// key from one set to its zero value, so that defaults apply only to what
// the file leaves out.
type rawConfig struct {
	DNS       *rawDNS       `yaml:"dns"`
	State     *rawState     `yaml:"state"`
	Limits    *rawLimits    `yaml:"limits"`
	Bindings  []rawBinding  `yaml:"bindings"`
	SpotDrain *rawSpotDrain `yaml:"spotDrain"`
}

type rawDNS struct {
	Servers  []string  `yaml:"servers"`
	Lookups  *int      `yaml:"lookups"`
	Timeout  *duration `yaml:"timeout"`
	Families []string  `yaml:"families"`
}

type rawState struct {
	File   *string `yaml:"file"`
	S3     *string `yaml:"s3"`
	Memory *bool   `yaml:"memory"`
}

type rawLimits struct {
	DescribePerSecond *float64 `yaml:"describePerSecond"`
	DescribeBurst     *int     `yaml:"describeBurst"`
	ChangesPerSecond  *float64 `yaml:"changesPerSecond"`
	ChangesBurst      *int     `yaml:"changesBurst"`
}

type rawBinding struct {
	Name             string         `yaml:"name"`
	Source           *rawSource     `yaml:"source"`
	TargetGroupARN   string         `yaml:"targetGroupArn"`
	Ports            []int          `yaml:"ports"`
	Shared           bool           `yaml:"shared"`
	AvailabilityZone string         `yaml:"availabilityZone"`
	Deregister       *rawDeregister `yaml:"deregister"`
	AllowedCIDRs     []string       `yaml:"allowedCidrs"`
}

// rawSource holds one field per source kind; a new kind is a new field
// here, in Source and in sourceKinds.
type rawSource struct {
	DNS      *string  `yaml:"dns"`
	Families []string `yaml:"families"`
}

type rawDeregister struct {
	AfterMisses   *int      `yaml:"afterMisses"`
	AfterDuration *duration `yaml:"afterDuration"`
	MaxFraction   *float64  `yaml:"maxFraction"`
}

type rawSpotDrain struct {
	TargetGroupARNs []string `yaml:"targetGroupArns"`
	StopCodes       []string `yaml:"stopCodes"`
	Clusters        []string `yaml:"clusters"`
	Group           string   `yaml:"group"`
	ContainerName   string   `yaml:"containerName"`
}

// duration is written as a Go duration string ("3m", "90s").
type duration time.Duration

var durationType = reflect.TypeFor[duration]()

// maxNodes bounds the values the walker visits, so that aliases that
// expand a small file into a huge one are refused instead of followed.
const maxNodes = 100_000

// maxSize bounds the config file; real configs are a few kilobytes.
const maxSize = 1 << 20

// decoder walks a yaml.Node tree against the raw types, so that every
// unknown key and wrong type is reported with its exact path, and fills
// the raw values as it goes.
type decoder struct {
	ps     *problems
	visits int
	// active holds the mappings being decoded, so that a mapping merged
	// into itself is refused instead of followed forever.
	active map[*yaml.Node]bool
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readYAML parses data into raw, reporting syntax errors with their line.
func readYAML(data []byte, ps *problems) (raw rawConfig, empty bool) {
	if len(data) > maxSize {
		ps.add("", fmt.Sprintf("config is %d bytes, more than the %d allowed", len(data), maxSize))
		return raw, false
	}
	// Line numbers are counted in the file as written, so only UTF-8 is
	// read (YAML also allows UTF-16, which editors rarely produce).
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		ps.add("", "config is UTF-16; save it as UTF-8")
		return raw, false
	}
	var doc yaml.Node
	err := yamlDecode(data, &doc)
	if errors.Is(err, io.EOF) || (err == nil && (len(doc.Content) == 0 || isNull(doc.Content[0]))) {
		return raw, true
	}
	if err != nil {
		syntaxProblem(ps, data, err)
		return raw, false
	}
	ps.lines[""] = doc.Content[0].Line
	d := decoder{ps: ps}
	d.decode(doc.Content[0], reflect.ValueOf(&raw).Elem(), "")
	return raw, false
}

// yamlDecode parses the single YAML document in data. The parser is
// third-party code fed with untrusted input; a panic in it becomes an
// error rather than a crash.
func yamlDecode(data []byte, doc *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %s%v", panicked, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(doc); err != nil {
		return err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	default:
		return fmt.Errorf("yaml: line %d: %s starts here; put the whole config in one document", extra.Line, secondDocument)
	}
}

// syntaxProblem reports a YAML syntax error. The parser's own line is the
// start of the enclosing block (0-based) for many errors, so the line is
// found by parsing ever longer prefixes of the file instead: the first
// prefix that fails the same way ends on the offending line.
func syntaxProblem(ps *problems, data []byte, err error) {
	line, msg := splitYAMLError(err)
	if !strings.HasPrefix(msg, secondDocument) {
		if l := locate(data, msg, line-1); l > 0 {
			line = l
		}
	}
	ps.list = append(ps.list, Problem{Line: line, Message: "invalid YAML: " + yamlMessage(msg)})
	ps.quiet("")
}

const secondDocument = "a second YAML document"

// lineEnd returns the index just past the line break that ends the line
// starting at i: \n, \r\n or a lone \r, as YAML counts them.
func lineEnd(data []byte, i int) int {
	j := bytes.IndexAny(data[i:], "\r\n")
	if j < 0 {
		return len(data)
	}
	j += i
	if data[j] == '\r' && j+1 < len(data) && data[j+1] == '\n' {
		j++
	}
	return j + 1
}

func splitYAMLError(err error) (int, string) {
	msg := err.Error()
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// locate returns the 1-based line on which data first fails to parse with
// problem msg, or 0. The parser's own line is where the enclosing block
// starts, so the search begins one line before it (from). Prefixes are
// tried line by line while that is cheap; past a budget the first failing
// prefix is found by bisection, which block YAML (valid when cut at a line
// end) allows.
func locate(data []byte, msg string, from int) int {
	var ends []int
	for end := 0; end < len(data); {
		end = lineEnd(data, end)
		ends = append(ends, end)
	}
	fails := func(line int) bool {
		var doc yaml.Node
		err := yamlDecode(data[:ends[line-1]], &doc)
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	budget := 2 << 20
	line := max(from, 1)
	for ; line <= len(ends) && budget > 0; line++ {
		budget -= ends[line-1]
		if fails(line) {
			return line
		}
	}
	lo, hi := line, len(ends)
	if lo > hi || !fails(hi) {
		return 0
	}
	for lo < hi {
		if mid := (lo + hi) / 2; fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// visit counts a value and reports whether the walk may go on.
func (d *decoder) visit() bool {
	d.visits++
	if d.visits == maxNodes {
		d.ps.add("", fmt.Sprintf("more than %d values after expanding aliases", maxNodes))
	}
	return d.visits < maxNodes
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.visit() {
		return
	}
	n = resolve(n)
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mapping decodes a mapping into a struct and returns the keys it set.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) map[string]int {
	seen := map[string]int{}
	if n.Kind != yaml.MappingNode {
		d.ps.add(path, "must be a mapping of keys, "+describe(n))
		return seen
	}
	if d.active == nil {
		d.active = map[*yaml.Node]bool{}
	}
	d.active[n] = true
	defer delete(d.active, n)
	merged := d.merges(n, v, path)
	known, fields := keys(v.Type())
	var hinted []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.ps.addLine(path, k.Line, "keys must be plain names, "+describe(k))
			continue
		}
		kp := join(path, clip(k.Value))
		if first, dup := seen[k.Value]; dup {
			d.ps.lines[kp] = k.Line
			d.ps.add(kp, fmt.Sprintf("key is set twice; it was first set on line %d", first))
			continue
		}
		seen[k.Value] = k.Line
		d.ps.lines[kp] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			msg := "unknown key " + quote(k.Value)
			if s := suggest(k.Value, known); s != "" {
				msg += "; did you mean " + quote(s) + "?"
				hinted = append(hinted, s)
			} else {
				msg += "; known keys here: " + strings.Join(known, ", ")
			}
			// Two long unknown keys may clip to the same path; each is
			// reported.
			d.ps.addLine(kp, k.Line, msg)
			continue
		}
		d.decode(val, v.Field(f), kp)
	}
	// A misspelt key is not reported a second time as missing.
	for _, h := range hinted {
		_, set := seen[h]
		_, inherited := merged[h]
		if !set && !inherited {
			d.ps.quiet(join(path, h))
		}
	}
	for k, line := range merged {
		if _, ok := seen[k]; !ok {
			seen[k] = line
		}
	}
	return seen
}

// merges decodes the mappings merged into n (<<: *anchor) and returns the
// keys they set. They come first so that the keys written in n win, as
// YAML says; of several merged mappings the first wins.
func (d *decoder) merges(n *yaml.Node, v reflect.Value, path string) map[string]int {
	merged := map[string]int{}
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		k, val := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			continue
		}
		items := []*yaml.Node{val}
		if val.Kind == yaml.SequenceNode {
			items = val.Content
		}
		for j := len(items) - 1; j >= 0; j-- {
			item := resolve(items[j])
			switch {
			case item.Kind != yaml.MappingNode:
				d.ps.addLine(path, k.Line, "<< can merge only mappings, "+describe(item))
			case d.active[item]:
				d.ps.addLine(path, k.Line, "<< merges a mapping into itself")
			case !d.visit():
				return merged
			default:
				for key, line := range d.mapping(item, v, path) {
					merged[key] = line
				}
			}
		}
	}
	return merged
}

// keys lists the yaml keys of a struct type in declaration order, and maps
// them to field indexes.
func keys(t reflect.Type) ([]string, map[string]int) {
	var names []string
	fields := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		fields[name] = i
	}
	return names, fields
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.ps.add(path, "must be a list, "+describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := index(path, i)
		d.ps.lines[ip] = item.Line
		if isNull(item) {
			d.ps.add(ip, "is empty")
			continue
		}
		d.decode(item, s.Index(i), ip)
	}
	v.Set(s)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.ps.add(path, "must be a single value, "+describe(n))
		return
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		switch tag {
		case "!!str", "!!int", "!!float", "!!timestamp":
			v.SetString(n.Value)
		case "!!null":
		default:
			d.ps.add(path, "must be a string, "+describe(n)+"; quote it if you mean the text")
		}
	case reflect.Int:
		d.typed(n, v, path, "must be a whole number", "must be a whole number, got one too large to use", "!!int")
	case reflect.Float64:
		d.typed(n, v, path, "must be a number", "must be a number, got one out of range", "!!int", "!!float")
	case reflect.Bool:
		d.typed(n, v, path, "must be true or false", "must be true or false", "!!bool")
	default:
		panic("config: no decoder for " + v.Type().String())
	}
}

// typed decodes a scalar that must carry one of tags; want says what the
// key takes, and fits what a value of the right tag that still does not
// decode must be.
func (d *decoder) typed(n *yaml.Node, v reflect.Value, path, want, fits string, tags ...string) {
	if !slices.Contains(tags, n.ShortTag()) {
		d.ps.add(path, want+", "+describe(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.ps.add(path, fits)
	}
}

// duration reads a Go duration string. A bare number is refused because
// its unit would be a guess.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.ps.add(path, "must be a duration such as 3m or 180s, "+describe(n))
		return
	}
	switch n.ShortTag() {
	case "!!str":
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.ps.add(path, "must be a duration such as 3m, 90s or 1h30m, got a string that is not one")
			return
		}
		v.SetInt(int64(dur))
	case "!!int", "!!float":
		d.ps.add(path, "must be a duration with a unit, got a bare number: write 3m or 180s")
	default:
		d.ps.add(path, "must be a duration such as 3m or 180s, "+describe(n))
	}
}
