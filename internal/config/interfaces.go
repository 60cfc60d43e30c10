package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tgsync/tgsync/eni"
)

// The source kinds a binding can set, as the file names them. A binding
// sets dns, one of the interface kinds, or dns and one of them.
const (
	KindDNS               = "dns"
	KindLoadBalancer      = eni.KindLoadBalancer
	KindOpenSearch        = eni.KindOpenSearch
	KindNetworkInterfaces = eni.KindNetworkInterfaces
)

// NetworkInterfaces selects the interfaces of a binding by EC2 filters.
type NetworkInterfaces struct {
	// Filters are DescribeNetworkInterfaces filters: name to values.
	Filters map[string][]string
}

type rawNetworkInterfaces struct {
	Filters filterSet `yaml:"filters"`
}

// filterSet is a mapping of EC2 filter names to lists of values. Its keys
// are not known in advance, so it is not a section: it checks each name
// against the filters the API documents.
type filterSet struct {
	at
	names  []string
	values [][]string
}

func (*filterSet) null() string {
	return "must be a mapping of filter names to lists of values, got nothing"
}

func (f *filterSet) UnmarshalYAML(n *yaml.Node) error {
	f.set = true
	if !f.d.visit() {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		f.fail("must be a mapping of filter names to lists of values, " + describe(n))
		return nil
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) || k.ShortTag() == "!!merge" {
			f.d.addLine(f.path, k.Line, "filter names must be plain names, "+describe(k))
			continue
		}
		path := join(f.path, clip(k.Value))
		f.d.lines[path] = k.Line
		if line, dup := first[k.Value]; dup {
			f.d.add(path, fmt.Sprintf("filter is set twice; it was first set on line %d", line))
			continue
		}
		first[k.Value] = k.Line
		if msg := checkFilterName(k.Value); msg != "" {
			f.d.add(path, msg)
			continue
		}
		var l list[value[string]]
		l.bind(f.d, path)
		if isNull(v) {
			l.d.add(path, "must list at least one value")
			continue
		}
		if decode(v, &l) != nil {
			l.d.add(path, yamlFailed)
			continue
		}
		vs := values(&l)
		if vs == nil {
			continue // reported by the list
		}
		if len(vs) == 0 {
			f.d.add(path, "must list at least one value")
		}
		for j, s := range vs {
			if s == "" && l.items[j].ok() {
				f.d.add(index(path, j), "must not be empty")
			}
		}
		f.names, f.values = append(f.names, k.Value), append(f.values, vs)
	}
	return nil
}

// filterNames are the filters of DescribeNetworkInterfaces, as the Amazon
// EC2 API Reference lists them; tag:<key> comes besides.
var filterNames = []string{
	"addresses.association.owner-id", "addresses.association.public-ip", "addresses.primary", "addresses.private-ip-address",
	"association.allocation-id", "association.association-id", "association.ip-owner-id", "association.public-dns-name", "association.public-ip",
	"attachment.attach-time", "attachment.attachment-id", "attachment.delete-on-termination", "attachment.device-index",
	"attachment.instance-id", "attachment.instance-owner-id", "attachment.status",
	"availability-zone", "availability-zone-id", "description", "group-id", "interface-type", "ipv6-addresses.ipv6-address",
	"mac-address", "network-interface-id", "operator.managed", "operator.principal", "owner-id", "private-dns-name",
	"private-ip-address", "requester-id", "requester-managed", "source-dest-check", "status", "subnet-id", "tag-key", "vpc-id",
}

// checkFilterName says what is wrong with a filter name, or "".
func checkFilterName(name string) string {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		if key == "" {
			return "tag: needs the tag's key, as in tag:team"
		}
		return ""
	}
	if slices.Contains(filterNames, name) {
		return ""
	}
	msg := "unknown filter " + quote(name)
	if s := suggest(name, filterNames); s != "" {
		return msg + "; did you mean " + quote(s) + "?"
	}
	return msg + "; see the filters of DescribeNetworkInterfaces in the Amazon EC2 API Reference, or tag:<key>"
}

// buildInterfaces fills in a binding's interface source from the file.
func buildInterfaces(s *rawSource, src *Source, path string, ps *problems) {
	s.LoadBalancer.to(&src.LoadBalancer)
	s.OpenSearch.to(&src.OpenSearch)
	for key, v := range map[string]*value[string]{"loadBalancer": &s.LoadBalancer, "openSearch": &s.OpenSearch} {
		if v.ok() && v.v == "" {
			ps.add(path+".source."+key, "must not be empty; leave the key out")
		}
	}
	if ni := &s.NetworkInterfaces; ni.ok() {
		src.NetworkInterfaces = &NetworkInterfaces{Filters: map[string][]string{}}
		for i, name := range ni.v.Filters.names {
			src.NetworkInterfaces.Filters[name] = ni.v.Filters.values[i]
		}
	}
}

// checkSources checks the kinds a binding's source sets and each
// interface kind's value.
func checkSources(ps *problems, path string, b *Binding) {
	s := b.Source
	kinds := s.Kinds()
	if len(kinds) == 0 {
		ps.add(path+".source", "must set a source kind: dns, loadBalancer, openSearch or networkInterfaces (dns beside one of the others unites them)")
		return
	}
	if ifs := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k == KindDNS }); len(ifs) > 1 {
		ps.add(path+".source", fmt.Sprintf("sets %s: a binding takes one set of network interfaces (beside dns, if any); give each endpoint a binding of its own", strings.Join(ifs, " and ")))
	}
	if s.LoadBalancer != "" {
		if msg := eni.CheckLoadBalancer(s.LoadBalancer); msg != "" {
			ps.add(path+".source.loadBalancer", msg)
		} else if a, _ := parseARN(s.LoadBalancer); a.Region != "" {
			if g, _ := parseARN(b.TargetGroupARN); g.Region != "" && g.Region != a.Region {
				ps.add(path+".source.loadBalancer", fmt.Sprintf("is in Region %s but the target group in %s: tgsync reads interfaces in the target group's Region", a.Region, g.Region))
			}
		}
	}
	if s.OpenSearch != "" {
		if msg := eni.CheckDomain(s.OpenSearch); msg != "" {
			ps.add(path+".source.openSearch", msg)
		}
	}
	if ni := s.NetworkInterfaces; ni != nil && len(ni.Filters) == 0 {
		ps.add(path+".source.networkInterfaces.filters", "must set at least one filter; without one every interface of the account would be selected")
	}
}
