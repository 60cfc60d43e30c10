package eni

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/tgsync/tgsync"
)

// The kinds of Source, as the config names them.
const (
	KindLoadBalancer      = "loadBalancer"
	KindOpenSearch        = "openSearch"
	KindNetworkInterfaces = "networkInterfaces"
)

// Source is the interfaces of one endpoint, as a tgsync.Source.
type Source struct {
	lister  *Lister
	kind    string
	name    string
	filters Filters
}

var _ tgsync.Source = (*Source)(nil)

var (
	// An ALB or NLB ARN: the description is "ELB " and its resource
	// after "loadbalancer/".
	lbARN  = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:loadbalancer/((app|net)/([a-zA-Z0-9-]{1,32})/[0-9a-f]{16})$`)
	lbName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)
	// An OpenSearch domain name: 3 to 28 lowercase letters, digits and
	// hyphens, starting with a letter.
	domainName = regexp.MustCompile(`^[a-z][a-z0-9-]{2,27}$`)
)

// CheckLoadBalancer says what is wrong with an ALB or NLB name or ARN, or
// "".
func CheckLoadBalancer(s string) string {
	switch {
	case lbARN.MatchString(s):
		return ""
	case strings.HasPrefix(s, "arn:") && strings.Contains(s, ":loadbalancer/gwy/"):
		return "is a Gateway Load Balancer, whose interfaces carry no traffic to register; give an Application or Network Load Balancer"
	case strings.HasPrefix(s, "arn:"):
		return "must be the ARN of an Application or Network Load Balancer (arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app|net/NAME/ID), or its name"
	case strings.HasPrefix(s, "internal-") || strings.Contains(s, "."):
		return "must be the load balancer's name or ARN, not its DNS name; put a DNS name in source.dns"
	case !lbName.MatchString(s):
		return "must be a load balancer name (1 to 32 letters, digits and hyphens, not starting or ending with a hyphen) or ARN"
	}
	return ""
}

// CheckDomain says what is wrong with an OpenSearch domain name, or "".
func CheckDomain(s string) string {
	switch {
	case strings.Contains(s, "."):
		return "must be the domain's name, not its endpoint; put the endpoint in source.dns"
	case strings.HasPrefix(s, "arn:"):
		return "must be the domain's name (the part after domain/ in its ARN)"
	case !domainName.MatchString(s):
		return "must be an OpenSearch domain name: 3 to 28 lowercase letters, digits and hyphens, starting with a letter"
	}
	return ""
}

// LoadBalancer is the interfaces of an Application or Network Load
// Balancer, by name or ARN: those whose description is "ELB app/NAME/ID"
// or "ELB net/NAME/ID". A name selects both kinds, which share one
// namespace per account and Region, in one call.
func LoadBalancer(l *Lister, nameOrARN string) (*Source, error) {
	if msg := CheckLoadBalancer(nameOrARN); msg != "" {
		return nil, fmt.Errorf("load balancer %q: %s", nameOrARN, msg)
	}
	s := &Source{lister: l, kind: KindLoadBalancer}
	if m := lbARN.FindStringSubmatch(nameOrARN); m != nil {
		s.name = m[3]
		s.filters = Filters{"description": {"ELB " + m[1]}}
		return s, nil
	}
	s.name = nameOrARN
	s.filters = Filters{"description": {"ELB app/" + nameOrARN + "/*", "ELB net/" + nameOrARN + "/*"}}
	return s, nil
}

// OpenSearch is the interfaces of an OpenSearch Service domain in a VPC:
// those whose description is "ES DOMAIN".
func OpenSearch(l *Lister, domain string) (*Source, error) {
	if msg := CheckDomain(domain); msg != "" {
		return nil, fmt.Errorf("OpenSearch domain %q: %s", domain, msg)
	}
	return &Source{lister: l, kind: KindOpenSearch, name: domain, filters: Filters{"description": {"ES " + domain}}}, nil
}

// Matching is the interfaces any set of EC2 filters selects.
func Matching(l *Lister, f Filters) (*Source, error) {
	if len(f) == 0 {
		return nil, errors.New("network interfaces: no filter: every interface of the account would be selected")
	}
	for name, vs := range f {
		if len(vs) == 0 {
			return nil, fmt.Errorf("network interfaces: filter %s has no value", name)
		}
	}
	c := Filters{}
	for name, vs := range f {
		c[name] = slices.Clone(vs)
	}
	return &Source{lister: l, kind: KindNetworkInterfaces, filters: c}, nil
}

// Kind is the source's kind, as the config names it.
func (s *Source) Kind() string { return s.kind }

// String names the source in reasons and logs.
func (s *Source) String() string {
	switch s.kind {
	case KindLoadBalancer:
		return "interfaces of load balancer " + s.name
	case KindOpenSearch:
		return "interfaces of OpenSearch domain " + s.name
	}
	return "interfaces with " + s.filters.String()
}

// ErrNoneInUse is wrapped by Resolve when no interface the filters select
// is in use: a name that is wrong, or an endpoint between nodes. It fails
// the observation, as an empty DNS answer does, so that nothing is
// removed because of it.
var ErrNoneInUse = errors.New("no network interface in use")

// Resolve lists the interfaces and answers the addresses of those in use,
// each with its interface's ID.
func (s *Source) Resolve(ctx context.Context) (tgsync.Answer, error) {
	ifaces, err := s.lister.List(ctx, s.filters)
	if err != nil {
		return tgsync.Answer{}, err
	}
	a := tgsync.Answer{Interfaces: map[netip.Addr]string{}}
	found := 0
	for _, ifc := range ifaces {
		if s.match(ifc, false) == no {
			continue
		}
		found++
		if ifc.Status != StatusInUse {
			continue
		}
		for _, addr := range ifc.Addrs {
			if _, dup := a.Interfaces[addr]; !dup {
				a.Addrs = append(a.Addrs, addr)
				a.Interfaces[addr] = ifc.ID
			}
		}
	}
	if len(a.Addrs) == 0 {
		return tgsync.Answer{}, fmt.Errorf("%w: %d selected by %s, none of them %s with an address", ErrNoneInUse, found, s.filters, StatusInUse)
	}
	slices.SortFunc(a.Addrs, netip.Addr.Compare)
	return a, nil
}

// Concerns reports whether ifc, as an event describes it (its status
// then is pending), may be one of the source's interfaces: no filter the
// event can show rules it out. Filters an event cannot show (an
// attachment, an association, the status) do not rule it out, so that a
// reconcile, which asks the API, decides.
func (s *Source) Concerns(ifc Interface) bool { return s.match(ifc, true) != no }
