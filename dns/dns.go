// Package dns is the DNS source of tgsync: it resolves a name to the set of
// addresses a target group should hold, with github.com/miekg/dns.
//
// It does more than a stub resolver because a wrong answer here removes
// live targets:
//   - it tells NXDOMAIN, an empty answer, SERVFAIL/REFUSED, timeouts,
//     truncation, CNAME loops and unusable replies apart (see the Err*
//     kinds), so that a failure is never mistaken for "no addresses";
//   - it asks again over TCP when a UDP reply is truncated, or larger than
//     the EDNS size the query announced (a server that ignores it);
//   - it follows CNAME chains, inside one reply and by asking again;
//   - it repeats the lookup and returns the union, because Route 53 puts at
//     most 8 records in one answer and shows different subsets to different
//     queries;
//   - any failed query fails the whole observation: a partial union could
//     make a live target look absent;
//   - its errors read the same for the same failure on every run (no local
//     ports or query IDs), because the reconciler keeps the text in the
//     state.
//
// Names are always fully qualified: there is no search list.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/tgsync/tgsync"
)

// Defaults for Config fields left zero.
const (
	DefaultResolvConf = "/etc/resolv.conf"
	DefaultLookups    = 4
	DefaultTimeout    = 2 * time.Second
	DefaultAttempts   = 2
)

// MaxLookups bounds Config.Lookups: more repeats only cost queries (the VPC
// resolver allows 1,024 packets per second per interface).
const MaxLookups = 64

// Config configures a Resolver. The zero value asks the servers of
// /etc/resolv.conf with the defaults above.
type Config struct {
	// Servers are "ip:port" or bare IPs (port 53). Empty means the
	// nameservers of ResolvConf.
	Servers []string
	// ResolvConf is read when Servers is empty; default /etc/resolv.conf.
	// Only its nameserver lines are used.
	ResolvConf string
	// Lookups is how many times a name is looked up per observation, the
	// union being the answer; default 4, at most MaxLookups.
	Lookups int
	// Timeout bounds one query; default 2s.
	Timeout time.Duration
	// Attempts is how many times one server is tried for one query before
	// the next server; default 2.
	Attempts int
}

// Resolver looks names up. It is safe for concurrent use.
type Resolver struct {
	servers  []string
	lookups  int
	attempts int
	udp, tcp *mdns.Client
}

// New checks the configuration and returns a Resolver.
func New(cfg Config) (*Resolver, error) {
	if cfg.Lookups < 0 || cfg.Lookups > MaxLookups {
		return nil, fmt.Errorf("dns: lookups %d: want 1 to %d (0 means %d)", cfg.Lookups, MaxLookups, DefaultLookups)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("dns: timeout %s: must not be negative", cfg.Timeout)
	}
	if cfg.Attempts < 0 {
		return nil, fmt.Errorf("dns: attempts %d: must not be negative", cfg.Attempts)
	}
	r := &Resolver{lookups: cfg.Lookups, attempts: cfg.Attempts}
	if r.lookups == 0 {
		r.lookups = DefaultLookups
	}
	if r.attempts == 0 {
		r.attempts = DefaultAttempts
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	r.udp = &mdns.Client{Net: "udp", Timeout: timeout}
	r.tcp = &mdns.Client{Net: "tcp", Timeout: timeout}

	if len(cfg.Servers) > 0 {
		for _, s := range cfg.Servers {
			addr, err := ParseServer(s)
			if err != nil {
				return nil, err
			}
			r.servers = append(r.servers, addr)
		}
		return r, nil
	}
	file := cfg.ResolvConf
	if file == "" {
		file = DefaultResolvConf
	}
	servers, err := readResolvConf(file)
	if err != nil {
		return nil, err
	}
	r.servers = servers
	return r, nil
}

// Servers returns the servers asked, in order, as ip:port.
func (r *Resolver) Servers() []string { return slices.Clone(r.servers) }

// ParseServer reads a DNS server address: "ip:port", "[ipv6]:port" or a
// bare IP, which gets port 53. Host names are refused: resolving the
// resolver would need a resolver.
func ParseServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", fmt.Errorf("dns: server %q: want ip, ip:port or [ipv6]:port", s)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("dns: server %q: port 0", s)
	}
	return ap.String(), nil
}

func readResolvConf(file string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("dns: read %s: %w", file, err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("dns: %s has no nameserver line; set the servers explicitly", file)
	}
	var servers []string
	for _, s := range cc.Servers {
		addr, err := ParseServer(net.JoinHostPort(s, cc.Port))
		if err != nil {
			return nil, fmt.Errorf("dns: %s: %w", file, err)
		}
		servers = append(servers, addr)
	}
	return servers, nil
}

// Family is an address family to look up.
type Family uint8

// The address families, as configuration spells them: "ipv4", "ipv6".
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

func (f Family) qtype() uint16 {
	if f == IPv6 {
		return mdns.TypeAAAA
	}
	return mdns.TypeA
}

// ParseFamily reads "ipv4" or "ipv6" (any case).
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ipv4":
		return IPv4, nil
	case "ipv6":
		return IPv6, nil
	}
	return 0, fmt.Errorf("dns: address family %q: want ipv4 or ipv6", s)
}

// Families is a set of address families. Empty means IPv4 only, the
// common case of VPC endpoints.
type Families []Family

// ParseFamilies reads a list such as ["ipv4", "ipv6"].
func ParseFamilies(ss []string) (Families, error) {
	var fs Families
	for _, s := range ss {
		f, err := ParseFamily(s)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs.normalize()
}

// Has reports whether f is in the set.
func (fs Families) Has(f Family) bool { return slices.Contains(fs, f) }

func (fs Families) String() string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}

// normalize checks the families, drops duplicates, puts IPv4 first and
// applies the IPv4 default.
func (fs Families) normalize() (Families, error) {
	if len(fs) == 0 {
		return Families{IPv4}, nil
	}
	var out Families
	for _, f := range []Family{IPv4, IPv6} {
		if fs.Has(f) {
			out = append(out, f)
		}
	}
	for _, f := range fs {
		if f != IPv4 && f != IPv6 {
			return nil, fmt.Errorf("dns: unknown address family %s", f)
		}
	}
	return out, nil
}

// typeNames renders the query types of fs, e.g. "A+AAAA".
func (fs Families) typeNames() string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = mdns.TypeToString[f.qtype()]
	}
	return strings.Join(parts, "+")
}

// CheckName reports whether name can be looked up, so that configuration
// can be refused before the first run.
func CheckName(name string) error {
	_, err := fqdn(name)
	return err
}

// fqdn returns name with exactly one trailing dot.
func fqdn(name string) (string, error) {
	n := strings.TrimSuffix(strings.TrimSpace(name), ".")
	if n == "" {
		return "", fmt.Errorf("dns: name %q: empty", name)
	}
	if strings.Contains(n, "..") || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") {
		return "", fmt.Errorf("dns: name %q: empty label", name)
	}
	if strings.ContainsAny(n, " \t\n\\") {
		return "", fmt.Errorf("dns: name %q: contains a space or backslash", name)
	}
	n += "."
	if _, ok := mdns.IsDomainName(n); !ok {
		return "", fmt.Errorf("dns: name %q: not a valid domain name (label over 63 or name over 253 characters)", name)
	}
	return n, nil
}

// Source returns a tgsync.Source that looks name up on every Resolve.
// A bad name shows up as an error from Resolve; use CheckName to refuse it
// earlier.
func (r *Resolver) Source(name string, fams Families) tgsync.Source {
	return nameSource{r: r, name: name, fams: fams}
}

type nameSource struct {
	r    *Resolver
	name string
	fams Families
}

var _ tgsync.Source = nameSource{}

func (s nameSource) Resolve(ctx context.Context) (tgsync.Answer, error) {
	return s.r.Lookup(ctx, s.name, s.fams)
}

func (s nameSource) String() string { return s.name }

// isNetErr reports whether err came from the network (timeout, refused
// port, unreachable) rather than from the reply's content.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}
