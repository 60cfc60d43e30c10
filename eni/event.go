package eni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"
	"unicode/utf8"
)

// The EventBridge events CloudTrail delivers for EC2 API calls: every call
// recorded by a trail arrives on the default event bus with this source
// and detail type, and the CloudTrail record as its detail.
const (
	EventSource     = "aws.ec2"
	EventDetailType = "AWS API Call via CloudTrail"
	// APISource is the record's eventSource for EC2 calls.
	APISource = "ec2.amazonaws.com"
)

// The calls an event can record that tgsync acts on.
const (
	CreateNetworkInterface = "CreateNetworkInterface"
	DeleteNetworkInterface = "DeleteNetworkInterface"
)

// Event is a CloudTrail event of an EC2 call, as EventBridge delivers it.
type Event struct {
	ID      string
	Account string
	Region  string
	// Time is when the event was sent; zero when absent.
	Time time.Time
	// Call is CreateNetworkInterface or DeleteNetworkInterface, or ""
	// when Ignored says why the event calls for nothing.
	Call    string
	Ignored string
	// InterfaceID is the interface created or deleted.
	InterfaceID string
	// Interface is the created interface as the call's response described
	// it (its status then is pending); nil for a deletion.
	Interface *Interface
}

// InputError is input that is not a CloudTrail event of an EC2 call that
// tgsync can read. It says what arrived; callers treat it as bad input.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func inputErr(format string, args ...any) error {
	return &InputError{msg: fmt.Sprintf(format, args...)}
}

// MaxEventBytes bounds an event: EventBridge delivers at most 256 KB.
const MaxEventBytes = 256 << 10

// interfaceID is the form of a network interface ID.
var interfaceID = regexp.MustCompile(`^eni-[0-9a-f]{8,17}$`)

// maxText bounds the strings of an interface that an event carries (a
// description has at most 255 characters).
const maxText = 1024

// ParseEvent reads an EventBridge event of an EC2 call recorded by
// CloudTrail. A call other than the creation or deletion of a network
// interface, or one that failed (it has an errorCode), is an Event with
// Ignored set. Input that is not such an event, or whose interface ID or
// addresses are malformed, is an *InputError.
//
// The shape is CloudTrail's record (AWS CloudTrail User Guide, "CloudTrail
// record contents"): requestParameters and responseElements hold the
// call's request and response, with EC2's lists as {"items": [...]} or
// {"item": [...]}; testdata holds samples and where each comes from.
func ParseEvent(data []byte) (*Event, error) {
	if len(data) > MaxEventBytes {
		return nil, inputErr("event of %d bytes, more than the %d EventBridge delivers", len(data), MaxEventBytes)
	}
	var top struct {
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Region     string          `json:"region"`
		Time       string          `json:"time"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, inputErr("not a JSON event object: %s", clip(err.Error()))
	}
	if top.Source != EventSource || top.DetailType != EventDetailType {
		return nil, inputErr("event with source %q and detail-type %q: want %q and %q", clip(top.Source), clip(top.DetailType), EventSource, EventDetailType)
	}
	ev := &Event{ID: top.ID, Account: top.Account, Region: top.Region}
	if top.Time != "" {
		t, err := time.Parse(time.RFC3339, top.Time)
		if err != nil {
			return nil, inputErr("event time %q: want RFC 3339", clip(top.Time))
		}
		ev.Time = t
	}
	var d struct {
		EventSource string          `json:"eventSource"`
		EventName   string          `json:"eventName"`
		ErrorCode   string          `json:"errorCode"`
		Request     json.RawMessage `json:"requestParameters"`
		Response    json.RawMessage `json:"responseElements"`
	}
	if err := decodeObject(top.Detail, &d); err != nil {
		return nil, inputErr("event detail: %s", err)
	}
	if d.EventSource != APISource {
		return nil, inputErr("event detail: eventSource %q, want %q", clip(d.EventSource), APISource)
	}
	switch {
	case d.EventName != CreateNetworkInterface && d.EventName != DeleteNetworkInterface:
		ev.Ignored = fmt.Sprintf("a %s call, not the creation or deletion of a network interface", clip(d.EventName))
		return ev, nil
	case d.ErrorCode != "":
		ev.Ignored = fmt.Sprintf("the %s call failed (%s) and changed nothing", d.EventName, clip(d.ErrorCode))
		return ev, nil
	}
	ev.Call = d.EventName
	if d.EventName == DeleteNetworkInterface {
		var req struct {
			ID string `json:"networkInterfaceId"`
		}
		if err := decodeObject(d.Request, &req); err != nil {
			return nil, inputErr("DeleteNetworkInterface requestParameters: %s", err)
		}
		if !interfaceID.MatchString(req.ID) {
			return nil, inputErr("DeleteNetworkInterface: networkInterfaceId %q is not an interface ID (eni-...)", clip(req.ID))
		}
		ev.InterfaceID = req.ID
		return ev, nil
	}
	var resp struct {
		NetworkInterface json.RawMessage `json:"networkInterface"`
	}
	if err := decodeObject(d.Response, &resp); err != nil {
		return nil, inputErr("CreateNetworkInterface responseElements: %s", err)
	}
	ifc, err := createdInterface(resp.NetworkInterface)
	if err != nil {
		return nil, inputErr("CreateNetworkInterface responseElements.networkInterface: %s", err)
	}
	ev.InterfaceID, ev.Interface = ifc.ID, ifc
	return ev, nil
}

// decodeObject decodes a JSON object into v; null, absent or another kind
// of value is an error.
func decodeObject(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("missing, or not an object")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errors.New(clip(err.Error()))
	}
	return nil
}

// createdInterface reads the interface of a CreateNetworkInterface
// response. The ID must be well formed and every address must parse;
// the other fields are read where they have the expected type, so that a
// field AWS adds or types differently cannot make a real event unreadable.
func createdInterface(raw json.RawMessage) (*Interface, error) {
	var m map[string]json.RawMessage
	if err := decodeObject(raw, &m); err != nil {
		return nil, err
	}
	ifc := &Interface{
		ID: text(m["networkInterfaceId"]), Description: text(m["description"]), Status: text(m["status"]),
		RequesterID: text(m["requesterId"]), InterfaceType: text(m["interfaceType"]), OwnerID: text(m["ownerId"]),
		VPCID: text(m["vpcId"]), SubnetID: text(m["subnetId"]), AvailabilityZone: text(m["availabilityZone"]),
		MACAddress: text(m["macAddress"]), PrivateDNSName: text(m["privateDnsName"]),
	}
	if !interfaceID.MatchString(ifc.ID) {
		return nil, fmt.Errorf("networkInterfaceId %q is not an interface ID (eni-...)", clip(ifc.ID))
	}
	_ = json.Unmarshal(m["requesterManaged"], &ifc.RequesterManaged)
	var v4, v6 []string
	if p := text(m["privateIpAddress"]); p != "" {
		v4 = append(v4, p)
	}
	for _, it := range items(m["privateIpAddressesSet"]) {
		v4 = append(v4, text(it["privateIpAddress"]))
	}
	for _, it := range items(m["ipv6AddressesSet"]) {
		v6 = append(v6, text(it["ipv6Address"]))
	}
	if err := checkAddrs(v4, true); err != nil {
		return nil, err
	}
	if err := checkAddrs(v6, false); err != nil {
		return nil, err
	}
	ifc.Addrs = parseAddrs(v4, v6)
	for _, it := range items(m["groupSet"]) {
		if g := text(it["groupId"]); g != "" {
			ifc.Groups = append(ifc.Groups, g)
		}
	}
	for _, it := range items(m["tagSet"]) {
		if ifc.Tags == nil {
			ifc.Tags = map[string]string{}
		}
		ifc.Tags[text(it["key"])] = text(it["value"])
	}
	return ifc, nil
}

// text is a JSON string of at most maxText bytes of valid UTF-8, or "".
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil || len(s) > maxText || !utf8.ValidString(s) {
		return ""
	}
	return s
}

// items reads an EC2 list as CloudTrail records it: {"items": [...]} or
// {"item": [...]} of objects; anything else is empty.
func items(raw json.RawMessage) []map[string]json.RawMessage {
	var set struct {
		Items []json.RawMessage `json:"items"`
		Item  []json.RawMessage `json:"item"`
	}
	if json.Unmarshal(raw, &set) != nil {
		return nil
	}
	var out []map[string]json.RawMessage
	for _, r := range append(set.Items, set.Item...) {
		var m map[string]json.RawMessage
		if json.Unmarshal(r, &m) == nil && m != nil {
			out = append(out, m)
		}
	}
	return out
}

// checkAddrs refuses an address that does not parse as one of its family.
func checkAddrs(ss []string, v4 bool) error {
	for _, s := range ss {
		if s == "" {
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || a.Unmap().Is4() != v4 {
			family := "IPv6"
			if v4 {
				family = "IPv4"
			}
			return fmt.Errorf("%q is not an %s address", clip(s), family)
		}
	}
	return nil
}

// clip shortens what an event says for an error message.
func clip(s string) string {
	const most = 80
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
