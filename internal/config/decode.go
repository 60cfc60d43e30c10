package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The raw types mirror the file. Their yaml tags are the key names, which
// are part of tgsync's interface. Every field is a value, list or section
// (values.go), which tells an absent key from one set to its zero value,
// so that defaults apply only to what the file leaves out.
type rawConfig struct {
	DNS       section[rawDNS]           `yaml:"dns"`
	State     section[rawState]         `yaml:"state"`
	Limits    section[rawLimits]        `yaml:"limits"`
	Bindings  list[section[rawBinding]] `yaml:"bindings"`
	SpotDrain section[rawSpotDrain]     `yaml:"spotDrain"`
}

type rawDNS struct {
	Servers  list[value[string]]  `yaml:"servers"`
	Lookups  value[int]           `yaml:"lookups"`
	Timeout  value[time.Duration] `yaml:"timeout"`
	Families list[value[string]]  `yaml:"families"`
}

type rawState struct {
	File   value[string] `yaml:"file"`
	S3     value[string] `yaml:"s3"`
	Memory value[bool]   `yaml:"memory"`
}

type rawLimits struct {
	DescribePerSecond value[float64] `yaml:"describePerSecond"`
	DescribeBurst     value[int]     `yaml:"describeBurst"`
	ChangesPerSecond  value[float64] `yaml:"changesPerSecond"`
	ChangesBurst      value[int]     `yaml:"changesBurst"`
	// DescribeEvery is in Limits' comment.
	DescribeEvery value[time.Duration] `yaml:"describeEvery"`
}

type rawBinding struct {
	Name             value[string]             `yaml:"name"`
	Source           section[rawSource]        `yaml:"source"`
	TargetGroupARN   value[string]             `yaml:"targetGroupArn"`
	Ports            list[value[int]]          `yaml:"ports"`
	Shared           strictBool                `yaml:"shared"`
	AvailabilityZone value[string]             `yaml:"availabilityZone"`
	Deregister       section[rawDeregister]    `yaml:"deregister"`
	AllowedCIDRs     list[value[netip.Prefix]] `yaml:"allowedCidrs"`
	RoleARN          value[string]             `yaml:"roleArn"`
	ExternalID       value[string]             `yaml:"externalId"`
}

// rawSource holds one field per source kind; a new kind is a new field
// here and in Source.
type rawSource struct {
	DNS               value[string]                 `yaml:"dns"`
	Families          list[value[string]]           `yaml:"families"`
	LoadBalancer      value[string]                 `yaml:"loadBalancer"`
	OpenSearch        value[string]                 `yaml:"openSearch"`
	NetworkInterfaces section[rawNetworkInterfaces] `yaml:"networkInterfaces"`
}

type rawDeregister struct {
	AfterMisses   value[int]           `yaml:"afterMisses"`
	AfterDuration value[time.Duration] `yaml:"afterDuration"`
	MaxFraction   value[float64]       `yaml:"maxFraction"`
	// WaitForHealthy is in the Deregister field's comment.
	WaitForHealthy value[time.Duration] `yaml:"waitForHealthy"`
}

type rawSpotDrain struct {
	TargetGroupARNs list[value[string]] `yaml:"targetGroupArns"`
	StopCodes       list[value[string]] `yaml:"stopCodes"`
	Clusters        list[value[string]] `yaml:"clusters"`
	Group           value[string]       `yaml:"group"`
	ContainerName   value[string]       `yaml:"containerName"`
	RoleARN         value[string]       `yaml:"roleArn"`
	ExternalID      value[string]       `yaml:"externalId"`
}

// maxNodes bounds the values decoding visits, so that aliases that
// expand a small file into a huge one are refused instead of followed.
const maxNodes = 100_000

// maxSize bounds the config file; real configs are a few kilobytes.
const maxSize = 1 << 20

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readYAML decodes data into raw and adds every problem to ps: syntax
// errors with their line, and what the raw types found, with key paths.
func readYAML(data []byte, raw *section[rawConfig], ps *problems) (empty bool) {
	if len(data) > maxSize {
		ps.add("", fmt.Sprintf("config is %d bytes, more than the %d allowed", len(data), maxSize))
		return false
	}
	// Line numbers are counted in the file as written, so only UTF-8 is
	// read (YAML also allows UTF-16, which editors rarely produce).
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		ps.add("", "config is UTF-16; save it as UTF-8")
		return false
	}
	var doc yaml.Node
	err := yamlDecode(data, &doc)
	if errors.Is(err, io.EOF) || (err == nil && (len(doc.Content) == 0 || isNull(doc.Content[0]))) {
		return true
	}
	if err != nil {
		syntaxProblem(ps, data, err)
		return false
	}
	root := doc.Content[0]
	ps.lines[""] = root.Line
	raw.bind(&decoding{problems: ps}, "")
	if decode(root, raw) != nil {
		ps.add("", yamlFailed)
	}
	return false
}

// yamlDecode parses the single YAML document in data.
func yamlDecode(data []byte, doc *yaml.Node) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := decode(dec, doc); err != nil {
		return err
	}
	var extra yaml.Node
	switch err := decode(dec, &extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	default:
		return fmt.Errorf("yaml: line %d: %s starts here; put the whole config in one document", extra.Line, secondDocument)
	}
}

// decode decodes with d, a *yaml.Node or *yaml.Decoder. yaml.v3 is
// third-party code fed with untrusted input, and it runs the raw types'
// UnmarshalYAML; a panic in either becomes an error rather than a crash.
func decode(d interface{ Decode(any) error }, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %s%v", panicked, r)
		}
	}()
	return d.Decode(v)
}

// yamlFailed is the problem when yaml.v3 fails on a value in a way the raw
// types do not foresee.
const yamlFailed = "the YAML parser failed on this value"

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
