// Package eni is tgsync's network-interface source: the private addresses
// of the elastic network interfaces (ENIs) behind an endpoint, read with
// ec2:DescribeNetworkInterfaces.
//
// A load balancer and an OpenSearch domain place one interface per node
// in the VPC, through their service-linked roles, and mark it with a
// description: "ELB app/<name>/<id>" for an Application Load Balancer,
// "ELB net/<name>/<id>" for a Network Load Balancer, "ES <domain>" for an
// OpenSearch domain. Where DNS shows at most 8 of the nodes per answer,
// the interfaces show every node, at once.
//
// A Source selects interfaces by filters the EC2 API applies (the
// description, or any filter set), keeps those whose status is in-use
// and answers their private IPv4 and IPv6 addresses, each with its
// interface's ID. Its Concerns tells whether an interface, as a CloudTrail
// event describes it, may be one of them (event.go parses such events).
package eni

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/tgsync/tgsync"
)

// StatusInUse is the status of an interface attached to a node.
const StatusInUse = "in-use"

// Interface is what tgsync reads of a network interface.
type Interface struct {
	ID               string
	Description      string
	Status           string
	RequesterID      string
	RequesterManaged bool
	InterfaceType    string
	OwnerID          string
	VPCID            string
	SubnetID         string
	AvailabilityZone string
	MACAddress       string
	PrivateDNSName   string
	// Addrs are its private IPv4 addresses, primary first, then its IPv6
	// addresses.
	Addrs  []netip.Addr
	Groups []string
	Tags   map[string]string
	// Attached says whether the interface, as it was read, has an
	// attachment; InstanceID and InstanceOwnerID are the attachment's.
	Attached        bool
	InstanceID      string
	InstanceOwnerID string
}

// Filters are EC2 filters: name to values. A filter matches when any of
// its values does; an interface is selected when every filter matches.
type Filters map[string][]string

// Key is the filters in a canonical form: names sorted, each with its
// values sorted, so that equal filter sets written in different orders
// share one call.
func (f Filters) Key() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(f)) {
		vs := slices.Clone(f[name])
		slices.Sort(vs)
		fmt.Fprintf(&b, "%q=%q;", name, slices.Compact(vs))
	}
	return b.String()
}

// String renders the filters as name=value,value, sorted.
func (f Filters) String() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, name+"="+strings.Join(f[name], ","))
	}
	return strings.Join(parts, " ")
}

func (f Filters) ec2() []types.Filter {
	out := make([]types.Filter, 0, len(f))
	for _, name := range slices.Sorted(maps.Keys(f)) {
		out = append(out, types.Filter{Name: aws.String(name), Values: slices.Clone(f[name])})
	}
	return out
}

// PageSize is the most interfaces one DescribeNetworkInterfaces call
// returns; the API allows 5 to 1000.
const PageSize = 1000

// Lister reads interfaces. It is safe for concurrent use.
type Lister struct {
	api      ec2.DescribeNetworkInterfacesAPIClient
	pageSize int32
}

// NewLister returns a Lister over api, usually an *ec2.Client.
func NewLister(api ec2.DescribeNetworkInterfacesAPIClient) *Lister {
	return &Lister{api: api, pageSize: PageSize}
}

// WithPageSize returns a Lister that asks for pages of n interfaces, for
// tests of the paging.
func (l *Lister) WithPageSize(n int32) *Lister {
	c := *l
	c.pageSize = n
	return &c
}

// List returns every interface the filters select, page after page. In a
// reconcile run, sources that ask the same filters share one listing
// (tgsync.Shared): the result must not be modified.
func (l *Lister) List(ctx context.Context, f Filters) ([]Interface, error) {
	return tgsync.Shared(ctx, "eni "+f.Key(), func(ctx context.Context) ([]Interface, error) {
		return l.list(ctx, f)
	})
}

func (l *Lister) list(ctx context.Context, f Filters) ([]Interface, error) {
	p := ec2.NewDescribeNetworkInterfacesPaginator(l.api, &ec2.DescribeNetworkInterfacesInput{Filters: f.ec2()},
		func(o *ec2.DescribeNetworkInterfacesPaginatorOptions) { o.Limit = l.pageSize })
	var out []Interface
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe network interfaces (%s): %w", f, err)
		}
		for _, ni := range page.NetworkInterfaces {
			out = append(out, fromEC2(ni))
		}
	}
	return out, nil
}

// fromEC2 reads the API's form of an interface.
func fromEC2(ni types.NetworkInterface) Interface {
	out := Interface{
		ID: aws.ToString(ni.NetworkInterfaceId), Description: aws.ToString(ni.Description), Status: string(ni.Status),
		RequesterID: aws.ToString(ni.RequesterId), RequesterManaged: aws.ToBool(ni.RequesterManaged),
		InterfaceType: string(ni.InterfaceType), OwnerID: aws.ToString(ni.OwnerId), VPCID: aws.ToString(ni.VpcId),
		SubnetID: aws.ToString(ni.SubnetId), AvailabilityZone: aws.ToString(ni.AvailabilityZone),
		MACAddress: aws.ToString(ni.MacAddress), PrivateDNSName: aws.ToString(ni.PrivateDnsName),
	}
	var v4 []string
	if p := aws.ToString(ni.PrivateIpAddress); p != "" {
		v4 = append(v4, p)
	}
	for _, a := range ni.PrivateIpAddresses {
		v4 = append(v4, aws.ToString(a.PrivateIpAddress))
	}
	var v6 []string
	for _, a := range ni.Ipv6Addresses {
		v6 = append(v6, aws.ToString(a.Ipv6Address))
	}
	out.Addrs = parseAddrs(v4, v6)
	for _, g := range ni.Groups {
		out.Groups = append(out.Groups, aws.ToString(g.GroupId))
	}
	for _, t := range ni.TagSet {
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	if a := ni.Attachment; a != nil {
		out.Attached, out.InstanceID, out.InstanceOwnerID = true, aws.ToString(a.InstanceId), aws.ToString(a.InstanceOwnerId)
	}
	return out
}

// parseAddrs reads the IPv4 addresses, then the IPv6 ones, skipping what
// does not parse and repeats, in the order given.
func parseAddrs(v4, v6 []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range slices.Concat(v4, v6) {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			continue
		}
		a = a.Unmap()
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
