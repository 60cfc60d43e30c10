package eni

import (
	"net/netip"
	"strconv"
	"strings"
)

// verdict is what evaluating filters against an interface tells.
type verdict int

const (
	no    verdict = iota // a filter rules the interface out
	maybe                // no filter rules it out, but one cannot be evaluated
	yes                  // every filter matches
)

// match evaluates the source's filters against ifc as the EC2 API would.
// fromEvent says that ifc comes from a CreateNetworkInterface event,
// which describes the interface before it is attached: its status and
// attachment are not known yet.
func (s *Source) match(ifc Interface, fromEvent bool) verdict {
	out := yes
	for name, values := range s.filters {
		got, known := field(ifc, name, fromEvent)
		if !known {
			out = maybe
			continue
		}
		if !anyMatches(values, got) {
			return no
		}
	}
	return out
}

// field returns the values of the interface a filter compares, and
// whether the filter can be evaluated here. The names are those of the
// DescribeNetworkInterfaces API reference.
func field(ifc Interface, name string, fromEvent bool) ([]string, bool) {
	one := func(s string) ([]string, bool) { return []string{s}, true }
	switch name {
	case "description":
		return one(ifc.Description)
	case "network-interface-id":
		return one(ifc.ID)
	case "subnet-id":
		return one(ifc.SubnetID)
	case "vpc-id":
		return one(ifc.VPCID)
	case "availability-zone":
		return one(ifc.AvailabilityZone)
	case "owner-id":
		return one(ifc.OwnerID)
	case "requester-id":
		return one(ifc.RequesterID)
	case "requester-managed":
		return one(strconv.FormatBool(ifc.RequesterManaged))
	case "interface-type":
		return one(ifc.InterfaceType)
	case "mac-address":
		return one(ifc.MACAddress)
	case "private-dns-name":
		return one(ifc.PrivateDNSName)
	case "group-id":
		return ifc.Groups, true
	case "private-ip-address", "addresses.private-ip-address":
		return addrStrings(ifc.Addrs, true), true
	case "ipv6-addresses.ipv6-address":
		return addrStrings(ifc.Addrs, false), true
	case "tag-key":
		keys := make([]string, 0, len(ifc.Tags))
		for k := range ifc.Tags {
			keys = append(keys, k)
		}
		return keys, true
	case "status":
		return []string{ifc.Status}, !fromEvent
	case "attachment.instance-id":
		return []string{ifc.InstanceID}, !fromEvent && ifc.Attached
	case "attachment.instance-owner-id":
		return []string{ifc.InstanceOwnerID}, !fromEvent && ifc.Attached
	}
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		v, has := ifc.Tags[key]
		if !has {
			return nil, true
		}
		return []string{v}, true
	}
	return nil, false
}

func addrStrings(addrs []netip.Addr, v4 bool) []string {
	var out []string
	for _, a := range addrs {
		if a.Is4() == v4 {
			out = append(out, a.String())
		}
	}
	return out
}

// anyMatches reports whether any pattern matches any of the values.
func anyMatches(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if Glob(p, v) {
				return true
			}
		}
	}
	return false
}

// Glob reports whether s matches pattern as EC2 filter values match: *
// stands for any run of characters, ? for any one, and a backslash makes
// the next character literal. Everything else matches itself, case
// sensitively.
func Glob(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	var pi, si int
	star, mark := -1, 0
	for si < len(str) {
		if pi < len(p) {
			switch c := p[pi]; {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				pi++
				si++
				continue
			case c == '\\' && pi+1 < len(p):
				if p[pi+1] == str[si] {
					pi += 2
					si++
					continue
				}
			case c == str[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi, mark = star+1, mark+1
		si = mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
