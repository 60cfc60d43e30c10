package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	lines  map[string]int
	visits int
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readYAML parses data into raw, reporting syntax errors with their line.
func readYAML(data []byte, ps *problems) (raw rawConfig, empty bool) {
	if len(data) > maxSize {
		ps.add("", fmt.Sprintf("config is %d bytes, more than the %d allowed", len(data), maxSize))
		return raw, false
	}
	var doc yaml.Node
	err := yamlDecode(data, &doc)
	if errors.Is(err, io.EOF) || (err == nil && (len(doc.Content) == 0 || isNull(doc.Content[0]))) {
		return raw, true
	}
	if err != nil {
		syntaxProblem(ps, err)
		return raw, false
	}
	d := decoder{ps: ps, lines: ps.lines}
	d.decode(doc.Content[0], reflect.ValueOf(&raw).Elem(), "")
	return raw, false
}

// yamlDecode parses the single YAML document in data. The parser is
// third-party code fed with untrusted input; a panic in it becomes an
// error rather than a crash.
func yamlDecode(data []byte, doc *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
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
		return fmt.Errorf("yaml: line %d: a second YAML document starts here; put the whole config in one document", extra.Line)
	}
}

func syntaxProblem(ps *problems, err error) {
	msg := err.Error()
	line := 0
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	ps.list = append(ps.list, Problem{Line: line, Message: "invalid YAML: " + msg})
	if ps.bad == nil {
		ps.bad = map[string]bool{}
	}
	ps.bad[""] = true
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.visits++
	if d.visits == maxNodes {
		d.ps.add("", fmt.Sprintf("more than %d values after expanding aliases", maxNodes))
	}
	if d.visits >= maxNodes {
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
	merged := map[string]int{}
	// Merged mappings (<<: *anchor) come first so that the keys written
	// here win, as YAML says. Of several merged mappings the first wins.
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			continue
		}
		val = resolve(val)
		items := []*yaml.Node{val}
		if val.Kind == yaml.SequenceNode {
			items = val.Content
		}
		for j := len(items) - 1; j >= 0; j-- {
			if resolve(items[j]).Kind != yaml.MappingNode {
				d.ps.addLine(path, k.Line, "<< can merge only mappings, "+describe(items[j]))
				continue
			}
			for k, line := range d.mapping(resolve(items[j]), v, path) {
				merged[k] = line
			}
		}
	}
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
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.lines[kp] = k.Line
			d.ps.add(kp, fmt.Sprintf("key is set twice; it was first set on line %d", first))
			continue
		}
		seen[k.Value] = k.Line
		d.lines[kp] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			msg := "unknown key " + quote(k.Value)
			if s := suggest(k.Value, known); s != "" {
				msg += "; did you mean " + quote(s) + "?"
				hinted = append(hinted, s)
			} else {
				msg += "; known keys here: " + strings.Join(known, ", ")
			}
			d.ps.add(kp, msg)
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
		d.lines[ip] = item.Line
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
		if tag != "!!int" {
			d.ps.add(path, "must be a whole number, "+describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.ps.add(path, "must be a whole number that fits, got "+quote(n.Value))
		}
	case reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			d.ps.add(path, "must be a number, "+describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.ps.add(path, "must be a number, got "+quote(n.Value))
		}
	case reflect.Bool:
		if tag != "!!bool" {
			d.ps.add(path, "must be true or false, "+describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.ps.add(path, "must be true or false, got "+quote(n.Value))
		}
	default:
		panic("config: no decoder for " + v.Type().String())
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
			d.ps.add(path, "must be a duration such as 3m, 90s or 1h30m, got "+quote(n.Value))
			return
		}
		v.SetInt(int64(dur))
	case "!!int", "!!float":
		d.ps.add(path, "must be a duration with a unit, got the bare number "+clip(n.Value)+": write 3m or 180s")
	default:
		d.ps.add(path, "must be a duration such as 3m or 180s, "+describe(n))
	}
}

// describe says what a node is, for type errors, without echoing more than
// a short value.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "got a mapping"
	case yaml.SequenceNode:
		return "got a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "got nothing"
		case "!!str":
			return "got the string " + quote(n.Value)
		case "!!int", "!!float":
			return "got the number " + clip(n.Value)
		case "!!bool":
			return "got the boolean " + clip(n.Value)
		default:
			return "got a value tagged " + clip(n.Tag)
		}
	}
	return "got an unexpected YAML node"
}

// clip shortens a value from the file for a message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func quote(s string) string { return strconv.Quote(clip(s)) }

// suggest returns the known key closest to key: the same name in another
// case, or one within two edits; "" when none is that close.
func suggest(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist && d < len(k) && d < len(key) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, giving up early (returning a
// large value) when the lengths alone differ by more than two.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > 2 || d < -2 {
		return 3
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
