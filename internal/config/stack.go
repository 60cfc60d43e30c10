package config

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
)

// A CloudFormation stack of tgsync (deploy/cloudformation) keeps the state
// in a bucket of its own and appends a state section that points there to
// the config it is given (its ConfigYaml parameter). The function then
// reads the config and that section as one document. The rules below are
// the one contract between the two: a stack's config leaves state out, and
// it must still read once the section is appended. tgsync deploy and
// tgsync validate --for-stack apply them before anything is deployed, and
// the templates refuse a top-level state key themselves (AllowedPattern),
// so that such a config fails at deploy time, not at the first run.

// MaxStackConfig is the most a stack's ConfigYaml may hold (the templates'
// MaxLength): Lambda allows 4 KB of environment variables in all, and the
// state section and the other variables need the rest.
const MaxStackConfig = 3500

// StackStateSection is the text a stack appends to its ConfigYaml for state
// in bucket under prefix. The templates build the same text with Fn::Join;
// a test of deploy/cloudformation compares them.
func StackStateSection(bucket, prefix string) string {
	return "\nstate:\n  s3: \"s3://" + bucket + "/" + prefix + "\"\n"
}

// stackStateMessage is the problem of a stack config that sets state.
const stackStateMessage = "leave the state section out of a stack's config: the stack keeps state in its own bucket " +
	"(output StateBucketName, or the StateBucket you give it) and appends the section itself; " +
	"a second one would stop every run with \"state: key is set twice\""

// placeholderBucket stands for the stack's bucket while a config is
// checked: the name is not known before a stack that creates it exists.
const placeholderBucket = "stack-state-bucket"

// ParseForStack parses data as the ConfigYaml of a stack: the config must
// be valid, have no state section, and read with the stack's state section
// appended, as the function reads it. Problems are a *ValidationError.
func ParseForStack(data []byte) (*Config, error) {
	if _, err := Parse(data); err != nil {
		return nil, err
	}
	if line := topLevelKey(data, "state"); line > 0 {
		return nil, &ValidationError{Problems: []Problem{{Path: "state", Line: line, Message: stackStateMessage}}}
	}
	joined := append(bytes.Clone(data), StackStateSection(placeholderBucket, "tgsync/")...)
	cfg, err := Parse(joined)
	if err != nil {
		msg := "the stack appends a state section to the config, and the two do not read as one document; " +
			"write the top level in block style (each key at the start of its own line) and end the file without '...' or '---'"
		if ve, ok := err.(*ValidationError); ok && len(ve.Problems) > 0 {
			msg += ": " + ve.Problems[0].String()
		}
		return nil, &ValidationError{Problems: []Problem{{Message: msg}}}
	}
	if cfg.State.S3 == nil || cfg.State.S3.Bucket != placeholderBucket {
		return nil, &ValidationError{Problems: []Problem{{Path: "state", Message: stackStateMessage}}}
	}
	if _, err := cfg.StackPlace(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Place is where a stack runs: a partition, Region and account.
type Place struct{ Partition, Region, Account string }

// StackPlace returns where the target groups of cfg are. A stack's
// function calls the ELB API of its own Region, and of its own account
// but for the groups it reaches through a role of theirs (roleArn, which
// Validate checks is in the group's account). So every group must be in
// one partition and Region, and every group without a role in one
// account, the Place's; with a role on every group, Account is "".
// A config without target groups has the zero Place.
func (c *Config) StackPlace() (Place, error) {
	type named struct {
		path, arn string
		role      bool
	}
	var groups []named
	for i, b := range c.Bindings {
		groups = append(groups, named{index("bindings", i) + ".targetGroupArn", b.TargetGroupARN, b.Role.ARN != ""})
	}
	if c.SpotDrain != nil {
		for i, a := range c.SpotDrain.TargetGroupARNs {
			groups = append(groups, named{index("spotDrain.targetGroupArns", i), a, c.SpotDrain.Role.ARN != ""})
		}
	}
	var place Place
	var regionPath, accountPath string
	for _, g := range groups {
		p, msg := parseARN(g.arn)
		if msg != "" {
			continue // Parse has refused it already
		}
		switch {
		case regionPath == "":
			place.Partition, place.Region, regionPath = p.Partition, p.Region, g.path
		case p.Partition != place.Partition || p.Region != place.Region:
			return Place{}, &ValidationError{Problems: []Problem{{Path: g.path, Message: fmt.Sprintf(
				"is in %s, %s in %s: a stack's function calls the ELB API of its own Region; deploy a stack for each",
				p.Region, regionPath, place.Region)}}}
		}
		switch {
		case g.role:
		case accountPath == "":
			place.Account, accountPath = p.Account, g.path
		case p.Account != place.Account:
			return Place{}, &ValidationError{Problems: []Problem{{Path: g.path, Message: fmt.Sprintf(
				"is in account %s, %s in account %s: a stack's function calls the ELB API of its own account; "+
					"name a role of account %s that reaches it (roleArn), or deploy a stack for each",
				p.Account, accountPath, place.Account, p.Account)}}}
		}
	}
	return place, nil
}

// CheckStackSize reports a config too large for a stack's ConfigYaml.
func CheckStackSize(data []byte) error {
	if n := len(data); n > MaxStackConfig {
		return &ValidationError{Problems: []Problem{{Message: fmt.Sprintf(
			"config is %d bytes; a stack takes at most %d (Lambda allows 4 KB of environment in all): "+
				"leave out keys set to their defaults (tgsync deploy leaves out comments itself)", n, MaxStackConfig)}}}
	}
	return nil
}

// topLevelKey returns the line of key in the top-level mapping of data, or
// 0 when it has none. data is valid YAML.
func topLevelKey(data []byte, key string) int {
	var doc yaml.Node
	if yamlDecode(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return k.Line
		}
	}
	return 0
}

// CompactForStack returns a stack config without its comments and with
// its top level in block style, so that more of it fits into MaxStackConfig
// and the stack's state section can follow it. It checks that the result
// parses to the same Config as data, which must be valid.
func CompactForStack(data []byte) ([]byte, error) {
	want, err := Parse(data)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yamlDecode(data, &doc); err != nil {
		return nil, err
	}
	stripComments(&doc)
	if len(doc.Content) == 1 {
		doc.Content[0].Style &^= yaml.FlowStyle
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("compact the config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("compact the config: %w", err)
	}
	out := buf.Bytes()
	got, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("compact the config: the result does not read: %w", err)
	}
	want.Warnings, got.Warnings = nil, nil
	if !reflect.DeepEqual(got, want) {
		return nil, fmt.Errorf("compact the config: the result reads differently from the file")
	}
	return out, nil
}

func stripComments(n *yaml.Node) {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		stripComments(c)
	}
}

// StackTargetGroups returns what a stack's parameters list for cfg, each
// sorted and without repeats: the groups its bindings sync
// (ConfigTargetGroupArns), on which the role may register and deregister,
// and the Spot drain's (SpotTargetGroupArns), on which it may deregister.
func (c *Config) StackTargetGroups() (sync, spot []string) {
	for _, b := range c.Bindings {
		sync = append(sync, b.TargetGroupARN)
	}
	if c.SpotDrain != nil {
		spot = slices.Clone(c.SpotDrain.TargetGroupARNs)
	}
	slices.Sort(sync)
	slices.Sort(spot)
	return slices.Compact(sync), slices.Compact(spot)
}

// StackRoles returns the stack's AssumeRoleArns for cfg: every distinct
// roleArn of the bindings and the Spot drain, sorted. The function's role
// may assume those and no other.
func (c *Config) StackRoles() []string {
	var roles []string
	for _, b := range c.Bindings {
		if b.Role.ARN != "" {
			roles = append(roles, b.Role.ARN)
		}
	}
	if c.SpotDrain != nil && c.SpotDrain.Role.ARN != "" {
		roles = append(roles, c.SpotDrain.Role.ARN)
	}
	slices.Sort(roles)
	return slices.Compact(roles)
}
