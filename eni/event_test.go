package eni_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tgsync/tgsync/eni"
	"github.com/tgsync/tgsync/internal/testenv"
)

// edit changes a sample: f gets the event and its detail.
func edit(t testing.TB, name string, f func(ev, detail map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(testenv.Testdata(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	d, _ := ev["detail"].(map[string]any)
	f(ev, d)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func createdInterface(d map[string]any) map[string]any {
	return d["responseElements"].(map[string]any)["networkInterface"].(map[string]any)
}

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		call    string
		id      string
		ignored string // in Ignored
		check   func(t *testing.T, ev *eni.Event)
	}{
		{name: "ELB creates an interface", data: testenv.Testdata(t, "create-elb.json"), call: eni.CreateNetworkInterface, id: "eni-0f1e2d3c4b5a69788",
			check: func(t *testing.T, ev *eni.Event) {
				i := ev.Interface
				if i.Description != "ELB app/os-dash/50dc6c495c0c9188" || i.RequesterID != "amazon-elb" || !i.RequesterManaged || i.Status != "pending" ||
					i.VPCID != "vpc-0123456789abcdef0" || i.SubnetID != "subnet-0a1b2c3d4e5f60718" || i.AvailabilityZone != "ap-northeast-1a" ||
					!slices.Equal(i.Groups, []string{"sg-0123456789abcdef0"}) || !slices.Equal(i.Addrs, []netip.Addr{netip.MustParseAddr("10.0.1.23")}) {
					t.Fatalf("interface = %+v", i)
				}
				if ev.Region != "ap-northeast-1" || ev.Account != "111122223333" || ev.Time.IsZero() {
					t.Fatalf("envelope = %+v", ev)
				}
			}},
		{name: "OpenSearch creates an interface", data: testenv.Testdata(t, "create-opensearch.json"), call: eni.CreateNetworkInterface, id: "eni-0a9b8c7d6e5f40312",
			check: func(t *testing.T, ev *eni.Event) {
				if ev.Interface.Description != "ES logs" || ev.Interface.RequesterID != "amazon-elasticsearch" {
					t.Fatalf("interface = %+v", ev.Interface)
				}
			}},
		{name: "an interface is deleted", data: testenv.Testdata(t, "delete.json"), call: eni.DeleteNetworkInterface, id: "eni-0f1e2d3c4b5a69788",
			check: func(t *testing.T, ev *eni.Event) {
				if ev.Interface != nil {
					t.Fatal("a deletion describes no interface")
				}
			}},
		{name: "a failed creation", data: testenv.Testdata(t, "create-dry-run.json"), ignored: "failed (Client.DryRunOperation)"},
		{name: "another call", data: testenv.Testdata(t, "attach.json"), ignored: "AttachNetworkInterface call"},
		{name: "IPv6 and secondary addresses, tags, items or item", data: edit(t, "create-elb.json", func(_, d map[string]any) {
			ni := createdInterface(d)
			ni["privateIpAddressesSet"] = map[string]any{"items": []any{map[string]any{"privateIpAddress": "10.0.1.23"}, map[string]any{"privateIpAddress": "10.0.1.24"}}}
			ni["ipv6AddressesSet"] = map[string]any{"item": []any{map[string]any{"ipv6Address": "fd00:1::23"}}}
			ni["tagSet"] = map[string]any{"items": []any{map[string]any{"key": "team", "value": "search"}}}
			ni["requesterManaged"] = "yes" // a type AWS never sends: left unset
		}), call: eni.CreateNetworkInterface, id: "eni-0f1e2d3c4b5a69788", check: func(t *testing.T, ev *eni.Event) {
			want := []netip.Addr{netip.MustParseAddr("10.0.1.23"), netip.MustParseAddr("10.0.1.24"), netip.MustParseAddr("fd00:1::23")}
			if !slices.Equal(ev.Interface.Addrs, want) || ev.Interface.Tags["team"] != "search" || ev.Interface.RequesterManaged {
				t.Fatalf("interface = %+v", ev.Interface)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := eni.ParseEvent(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if tc.ignored != "" {
				if ev.Call != "" || !strings.Contains(ev.Ignored, tc.ignored) {
					t.Fatalf("call %q ignored %q, want ignored for %q", ev.Call, ev.Ignored, tc.ignored)
				}
				return
			}
			if ev.Call != tc.call || ev.InterfaceID != tc.id || ev.Ignored != "" {
				t.Fatalf("event = %+v", ev)
			}
			tc.check(t, ev)
		})
	}
}

func TestParseEventRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("eni-0f1e2d3c4b5a69788"), "not a JSON event"},
		{"an array", []byte(`[]`), "not a JSON event"},
		{"another source", edit(t, "create-elb.json", func(ev, _ map[string]any) { ev["source"] = "aws.ecs" }), `source "aws.ecs"`},
		{"a detail that is not an object", edit(t, "create-elb.json", func(ev, _ map[string]any) { ev["detail"] = "x" }), "event detail"},
		{"another service's record", edit(t, "delete.json", func(_, d map[string]any) { d["eventSource"] = "s3.amazonaws.com" }), "eventSource"},
		{"a deletion without an ID", edit(t, "delete.json", func(_, d map[string]any) { d["requestParameters"] = map[string]any{} }), "not an interface ID"},
		{"a deletion of something else", edit(t, "delete.json", func(_, d map[string]any) {
			d["requestParameters"] = map[string]any{"networkInterfaceId": "i-0123456789abcdef0"}
		}), "not an interface ID"},
		{"a creation without its interface", edit(t, "create-elb.json", func(_, d map[string]any) { d["responseElements"] = nil }), "responseElements"},
		{"a creation with a bad address", edit(t, "create-elb.json", func(_, d map[string]any) { createdInterface(d)["privateIpAddress"] = "10.0.1.300" }), "not an IPv4 address"},
		{"an IPv4 address in the IPv6 set", edit(t, "create-elb.json", func(_, d map[string]any) {
			createdInterface(d)["ipv6AddressesSet"] = map[string]any{"item": []any{map[string]any{"ipv6Address": "10.0.1.1"}}}
		}), "not an IPv6 address"},
		{"a bad time", edit(t, "create-elb.json", func(ev, _ map[string]any) { ev["time"] = "yesterday" }), "RFC 3339"},
		{"too large", append(append([]byte(`{"source":"`), make([]byte, eni.MaxEventBytes)...), '"', '}'), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := eni.ParseEvent(tc.data)
			var ie *eni.InputError
			if !errors.As(err, &ie) || ev != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseEvent = %+v, %v; want an *InputError with %q", ev, err, tc.want)
			}
		})
	}
}

// FuzzParseEvent: no input makes ParseEvent panic; it fails only with an
// *InputError that says something; an event to act on names a well formed
// interface, and a creation describes it with usable addresses; an
// ignored event says why. The seed corpus is testdata's samples.
func FuzzParseEvent(f *testing.F) {
	for _, name := range []string{"create-elb.json", "create-opensearch.json", "delete.json", "create-dry-run.json", "attach.json"} {
		f.Add(testenv.Testdata(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := eni.ParseEvent(data)
		if err != nil {
			var ie *eni.InputError
			if !errors.As(err, &ie) || err.Error() == "" || ev != nil {
				t.Fatalf("%T %v, %+v: want an *InputError with a message and no event", err, err, ev)
			}
			return
		}
		switch ev.Call {
		case "":
			if ev.Ignored == "" {
				t.Fatal("an event that calls for nothing says nothing")
			}
		case eni.CreateNetworkInterface, eni.DeleteNetworkInterface:
			if !strings.HasPrefix(ev.InterfaceID, "eni-") || ev.Ignored != "" {
				t.Fatalf("event %+v", ev)
			}
			if (ev.Call == eni.CreateNetworkInterface) != (ev.Interface != nil) {
				t.Fatalf("%s with interface %+v", ev.Call, ev.Interface)
			}
			if ev.Interface != nil {
				for _, a := range ev.Interface.Addrs {
					if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
						t.Fatalf("unusable address %v", a)
					}
				}
				if len(slices.Compact(slices.Clone(ev.Interface.Addrs))) != len(ev.Interface.Addrs) {
					t.Fatalf("repeated addresses %v", ev.Interface.Addrs)
				}
			}
		default:
			t.Fatalf("call %q", ev.Call)
		}
	})
}
