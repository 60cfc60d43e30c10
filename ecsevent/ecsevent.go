// Package ecsevent reads the EventBridge events ECS sends when a task
// changes state, and decides which of them announce a task that must leave
// its target groups now: a Fargate Spot interruption, which gives the task
// two minutes.
//
// Parse turns raw event JSON into an Event, or into an *InputError that
// says what arrived instead (not JSON, not an EventBridge event, an event
// from another source). Decide applies the stop codes and the optional
// cluster, group and container filters and returns the tgsync.Task to
// drain, or the reason the event is ignored.
package ecsevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"
)

// The source and detail types ECS events carry.
const (
	Source                    = "aws.ecs"
	DetailTypeTaskStateChange = "ECS Task State Change"
)

// Event is an EventBridge event from ECS.
type Event struct {
	ID         string
	Source     string
	DetailType string
	Account    string
	Region     string
	// Time is when EventBridge received the event; zero when absent.
	Time      time.Time
	Resources []string
	// Task is the detail of an ECS Task State Change; nil for other ECS
	// events (container instance or deployment state changes).
	Task *TaskDetail
}

// TaskDetail is the part of an ECS Task State Change detail that tgsync
// reads. Parse has checked the addresses in it.
type TaskDetail struct {
	TaskARN              string       `json:"taskArn"`
	ClusterARN           string       `json:"clusterArn"`
	Group                string       `json:"group"`
	DesiredStatus        string       `json:"desiredStatus"`
	LastStatus           string       `json:"lastStatus"`
	StopCode             string       `json:"stopCode"`
	StoppedReason        string       `json:"stoppedReason"`
	CapacityProviderName string       `json:"capacityProviderName"`
	LaunchType           string       `json:"launchType"`
	Version              int64        `json:"version"`
	Attachments          []Attachment `json:"attachments"`
	Containers           []Container  `json:"containers"`
}

// Attachment is a task attachment; the task's ENI has type "eni".
type Attachment struct {
	ID      string      `json:"id"`
	Type    string      `json:"type"`
	Status  string      `json:"status"`
	Details []NameValue `json:"details"`
}

// NameValue is one attachment detail.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Container is one container of the task.
type Container struct {
	Name              string             `json:"name"`
	ContainerARN      string             `json:"containerArn"`
	LastStatus        string             `json:"lastStatus"`
	NetworkInterfaces []NetworkInterface `json:"networkInterfaces"`
}

// NetworkInterface is a container's view of the task ENI.
type NetworkInterface struct {
	AttachmentID       string `json:"attachmentId"`
	PrivateIPv4Address string `json:"privateIpv4Address"`
	IPv6Address        string `json:"ipv6Address"`
}

// InputKind says how an input failed to be an ECS event.
type InputKind int

// The kinds of InputError.
const (
	// NotJSON is input that does not parse as JSON.
	NotJSON InputKind = iota + 1
	// NotEvent is JSON that is not an EventBridge event object.
	NotEvent
	// NotECS is an EventBridge event from another source.
	NotECS
	// BadDetail is an ECS Task State Change whose detail is malformed.
	BadDetail
)

// InputError is input that is not an ECS event tgsync can read. It says
// what arrived instead; callers treat it as bad input (exit code 2), never
// as a failed AWS call.
type InputError struct {
	Kind InputKind
	// Source and DetailType are what the event said, when it was an
	// EventBridge event.
	Source, DetailType string
	msg                string
	err                error
}

func (e *InputError) Error() string { return e.msg }

// Unwrap returns the JSON error, if any.
func (e *InputError) Unwrap() error { return e.err }

// Envelope is the envelope of every EventBridge event, an ECS event's or
// a schedule's, with its fields kept raw, so that a wrong type in one
// field is reported by name.
type Envelope struct {
	Version    json.RawMessage `json:"version"`
	ID         json.RawMessage `json:"id"`
	Source     json.RawMessage `json:"source"`
	DetailType json.RawMessage `json:"detail-type"`
	Account    json.RawMessage `json:"account"`
	Region     json.RawMessage `json:"region"`
	Time       json.RawMessage `json:"time"`
	Resources  json.RawMessage `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Parse reads one EventBridge event. Anything but an ECS event fails with
// an *InputError that says what arrived. An ECS event of another detail
// type parses, with a nil Task, so that the caller can ignore it; an ECS
// Task State Change must have a detail with a taskArn, every address in it
// must be an IP address, and it may name at most one distinct IPv4 and one
// distinct IPv6 address, as many as ECS gives a task.
func Parse(data []byte) (*Event, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, &InputError{Kind: NotJSON, msg: "not JSON: the input is empty"}
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		where := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			where = fmt.Sprintf(" at byte %d", se.Offset)
		}
		return nil, &InputError{Kind: NotJSON, err: err,
			msg: fmt.Sprintf("not JSON: %v%s; the input starts with %s", err, where, snippet(trimmed))}
	}
	if trimmed[0] != '{' {
		return nil, &InputError{Kind: NotEvent, msg: fmt.Sprintf("not an EventBridge event: want a JSON object with source, detail-type and detail, got %s", snippet(trimmed))}
	}
	var env Envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, &InputError{Kind: NotEvent, err: err, msg: fmt.Sprintf("not an EventBridge event: %v", err)}
	}
	ev := &Event{}
	var problems []string
	str := func(name string, raw json.RawMessage, dst *string) {
		if raw == nil || string(raw) == "null" {
			return
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			problems = append(problems, fmt.Sprintf("%s is %s, want a string", name, snippet(raw)))
		}
	}
	str("source", env.Source, &ev.Source)
	str("detail-type", env.DetailType, &ev.DetailType)
	if len(problems) > 0 {
		return nil, &InputError{Kind: NotEvent, msg: "not an EventBridge event: " + strings.Join(problems, "; ")}
	}
	if ev.Source != Source {
		return nil, &InputError{Kind: NotECS, Source: ev.Source, DetailType: ev.DetailType,
			msg: fmt.Sprintf("not an ECS event: source %s, detail-type %s (want source %q)", show(env.Source, ev.Source), show(env.DetailType, ev.DetailType), Source)}
	}
	bad := func(format string, args ...any) error {
		return &InputError{Kind: BadDetail, Source: ev.Source, DetailType: ev.DetailType,
			msg: fmt.Sprintf("ECS event %q: ", ev.DetailType) + fmt.Sprintf(format, args...)}
	}
	str("id", env.ID, &ev.ID)
	str("account", env.Account, &ev.Account)
	str("region", env.Region, &ev.Region)
	var ts string
	str("time", env.Time, &ts)
	if len(problems) > 0 {
		return nil, bad("%s", strings.Join(problems, "; "))
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			return nil, bad("time %q is not an RFC 3339 time", ts)
		}
		ev.Time = t
	}
	if env.Resources != nil && string(env.Resources) != "null" {
		if err := json.Unmarshal(env.Resources, &ev.Resources); err != nil {
			return nil, bad("resources is %s, want a list of ARNs", snippet(env.Resources))
		}
	}
	if ev.DetailType != DetailTypeTaskStateChange {
		return ev, nil
	}
	if env.Detail == nil || string(env.Detail) == "null" {
		return nil, bad("no detail")
	}
	var d TaskDetail
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, bad("detail.%s is %s, want %s", te.Field, article(te.Value), jsonKind(te.Type))
		}
		return nil, bad("detail: %v", err)
	}
	if err := d.check(); err != nil {
		return nil, bad("%v", err)
	}
	ev.Task = &d
	return ev, nil
}

// check enforces what Decide relies on: a task ARN, IP addresses only, and
// no more of them than a task has.
func (d *TaskDetail) check() error {
	if d.TaskARN == "" {
		return errors.New("detail has no taskArn")
	}
	if d.Version < 0 {
		return fmt.Errorf("detail.version %d is negative", d.Version)
	}
	for i, a := range d.Attachments {
		for j, kv := range a.Details {
			if isAddressDetail(kv.Name) && kv.Value != "" {
				if _, err := parseAddr(kv.Value); err != nil {
					return fmt.Errorf("detail.attachments[%d].details[%d] %s: %v", i, j, kv.Name, err)
				}
			}
		}
	}
	for i, c := range d.Containers {
		for j, ni := range c.NetworkInterfaces {
			for _, f := range [...]struct{ name, v string }{{"privateIpv4Address", ni.PrivateIPv4Address}, {"ipv6Address", ni.IPv6Address}} {
				if f.v == "" {
					continue
				}
				if _, err := parseAddr(f.v); err != nil {
					return fmt.Errorf("detail.containers[%d].networkInterfaces[%d].%s: %v", i, j, f.name, err)
				}
			}
		}
	}
	return d.checkAddressCount()
}

// maxPerFamily is how many distinct addresses of each family a task can
// have. Tasks whose addresses are ip targets run in awsvpc network mode
// (Fargate always does), where ECS gives a task one elastic network
// interface with one primary private IPv4 address and, in a dual-stack
// subnet, one IPv6 address; README.md, section "Fargate Spot drain", cites
// the AWS documentation. An event naming more was not sent by ECS, and
// acting on it could empty a target group.
const maxPerFamily = 1

// checkAddressCount refuses a task with more distinct addresses of a
// family than ECS gives a task (maxPerFamily). It counts what Addresses
// returns, so that the ENI's address, which every container repeats,
// counts once.
func (d *TaskDetail) checkAddressCount() error {
	var v4, v6 []netip.Addr
	for _, a := range d.Addresses("") {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	for _, f := range [...]struct {
		family string
		addrs  []netip.Addr
	}{{"IPv4", v4}, {"IPv6", v6}} {
		if len(f.addrs) > maxPerFamily {
			return fmt.Errorf("task %s: the event names %d %s addresses (%s), but a task in awsvpc network mode has one network interface with one private IPv4 address and at most one IPv6 address (see README.md, Fargate Spot drain): this event was not sent by ECS, and nothing is deregistered",
				d.TaskARN, len(f.addrs), f.family, listAddrs(f.addrs, 3))
		}
	}
	return nil
}

// listAddrs lists the first n addresses and how many more there are.
func listAddrs(addrs []netip.Addr, n int) string {
	parts := make([]string, 0, n+1)
	for i, a := range addrs {
		if i == n {
			parts = append(parts, fmt.Sprintf("… %d more", len(addrs)-n))
			break
		}
		parts = append(parts, a.String())
	}
	return strings.Join(parts, ", ")
}

func isAddressDetail(name string) bool {
	return strings.EqualFold(name, "privateIPv4Address") || strings.EqualFold(name, "ipv6Address")
}

// parseAddr accepts a plain IP address: no zone, no prefix length.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// jsonKind names what a Go type reads from JSON, for error messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// article puts "a" or "an" before a JSON value kind.
func article(kind string) string {
	if strings.HasPrefix(kind, "a") || strings.HasPrefix(kind, "o") {
		return "an " + kind
	}
	return "a " + kind
}

// snippet shows the start of an input in error messages.
func snippet(b []byte) string {
	const limit = 40
	if len(b) <= limit {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q... (%d bytes)", b[:limit], len(b))
}

// show renders a field of the envelope: quoted, or "(none)" when absent.
func show(raw json.RawMessage, v string) string {
	if raw == nil || string(raw) == "null" {
		return "(none)"
	}
	if len(v) > 100 {
		v = v[:100] + "..."
	}
	return fmt.Sprintf("%q", v)
}
