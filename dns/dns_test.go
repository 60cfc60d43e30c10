package dns

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		servers []string
		err     string // substring; "" for success
	}{
		{name: "ip:port", cfg: Config{Servers: []string{"10.0.0.2:53"}}, servers: []string{"10.0.0.2:53"}},
		{name: "bare IP gets port 53", cfg: Config{Servers: []string{"10.0.0.2", " 169.254.169.253 "}},
			servers: []string{"10.0.0.2:53", "169.254.169.253:53"}},
		{name: "IPv6, bare and bracketed", cfg: Config{Servers: []string{"fd00::2", "[fd00::3]:5353"}},
			servers: []string{"[fd00::2]:53", "[fd00::3]:5353"}},
		{name: "host name refused", cfg: Config{Servers: []string{"dns.example:53"}}, err: `server "dns.example:53": want ip`},
		{name: "port 0 refused", cfg: Config{Servers: []string{"10.0.0.2:0"}}, err: "port 0"},
		{name: "bad port", cfg: Config{Servers: []string{"10.0.0.2:99999"}}, err: "want ip"},
		{name: "empty server", cfg: Config{Servers: []string{""}}, err: "want ip"},
		{name: "negative lookups", cfg: Config{Servers: []string{"10.0.0.2"}, Lookups: -1}, err: "lookups -1"},
		{name: "too many lookups", cfg: Config{Servers: []string{"10.0.0.2"}, Lookups: MaxLookups + 1}, err: "want 1 to 64"},
		{name: "negative timeout", cfg: Config{Servers: []string{"10.0.0.2"}, Timeout: -time.Second}, err: "timeout -1s"},
		{name: "negative attempts", cfg: Config{Servers: []string{"10.0.0.2"}, Attempts: -2}, err: "attempts -2"},
		{name: "missing resolv.conf", cfg: Config{ResolvConf: "/nonexistent/resolv.conf"}, err: "read /nonexistent/resolv.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("New: %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Servers(); !slices.Equal(got, tt.servers) {
				t.Errorf("Servers() = %v, want %v", got, tt.servers)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	r, err := New(Config{Servers: []string{"10.0.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.lookups != DefaultLookups || r.attempts != DefaultAttempts || r.udp.Timeout != DefaultTimeout || r.tcp.Timeout != DefaultTimeout {
		t.Errorf("defaults: lookups %d attempts %d timeout %s/%s", r.lookups, r.attempts, r.udp.Timeout, r.tcp.Timeout)
	}
}

func TestResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		content string
		servers []string
		err     string
	}{
		{name: "VPC resolver", content: "# Generated\nsearch ec2.internal\noptions timeout:2 attempts:5\nnameserver 10.0.0.2\n",
			servers: []string{"10.0.0.2:53"}},
		{name: "several, IPv6 too", content: "nameserver 169.254.169.253\nnameserver fd00:ec2::253\nnameserver 10.0.0.2\n",
			servers: []string{"169.254.169.253:53", "[fd00:ec2::253]:53", "10.0.0.2:53"}},
		{name: "no nameserver line", content: "search example.internal\noptions ndots:2\n", err: "has no nameserver line"},
		{name: "empty file", content: "", err: "has no nameserver line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(file, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			// Servers in the config win over the file; without them the file is read.
			r, err := New(Config{ResolvConf: file})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), file) {
					t.Fatalf("New: %v, want an error naming %s with %q", err, file, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Servers(); !slices.Equal(got, tt.servers) {
				t.Errorf("Servers() = %v, want %v", got, tt.servers)
			}
			r, err = New(Config{ResolvConf: file, Servers: []string{"10.9.9.9"}})
			if err != nil || !slices.Equal(r.Servers(), []string{"10.9.9.9:53"}) {
				t.Errorf("explicit servers: %v, %v", r, err)
			}
		})
	}
}

func TestFamilies(t *testing.T) {
	tests := []struct {
		in   []string
		want Families
		err  string
	}{
		{in: []string{"ipv4"}, want: Families{IPv4}},
		{in: []string{"IPv6", " ipv4 "}, want: Families{IPv4, IPv6}},
		{in: []string{"ipv6", "ipv6"}, want: Families{IPv6}},
		{in: nil, want: Families{IPv4}},
		{in: []string{"ipv5"}, err: `address family "ipv5": want ipv4 or ipv6`},
		{in: []string{""}, err: "want ipv4 or ipv6"},
	}
	for _, tt := range tests {
		got, err := ParseFamilies(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseFamilies(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseFamilies(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if s := (Families{IPv4, IPv6}).String(); s != "ipv4,ipv6" {
		t.Errorf("String() = %q", s)
	}
	if _, err := (Families{Family(5)}).normalize(); err == nil || !strings.Contains(err.Error(), "Family(5)") {
		t.Errorf("unknown family: %v", err)
	}
	if !(Families{IPv6}).Has(IPv6) || (Families{IPv6}).Has(IPv4) {
		t.Error("Has is wrong")
	}
}

func TestCheckName(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, fqdn, err string
	}{
		{name: "vpc-logs-abc123.eu-west-1.es.amazonaws.com", fqdn: "vpc-logs-abc123.eu-west-1.es.amazonaws.com."},
		{name: "internal-alb-1.us-east-1.elb.amazonaws.com.", fqdn: "internal-alb-1.us-east-1.elb.amazonaws.com."},
		{name: "localhost", fqdn: "localhost."},
		{name: "", err: "empty"},
		{name: ".", err: "empty"},
		{name: "a..b", err: "empty label"},
		{name: ".a.b", err: "empty label"},
		{name: "a.b..", err: "empty label"},
		{name: "a b.test", err: "space"},
		{name: long + ".test", err: "not a valid domain name"},
		{name: strings.Repeat("abcdefghi.", 26) + "test", err: "not a valid domain name"},
	}
	for _, tt := range tests {
		got, err := fqdn(tt.name)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("fqdn(%q) = %q, %v; want error %q", tt.name, got, err, tt.err)
			}
			if CheckName(tt.name) == nil {
				t.Errorf("CheckName(%q) accepted it", tt.name)
			}
			continue
		}
		if err != nil || got != tt.fqdn {
			t.Errorf("fqdn(%q) = %q, %v; want %q", tt.name, got, err, tt.fqdn)
		}
	}
}

func TestLookupErrorMessage(t *testing.T) {
	cause := errors.New("read udp: i/o timeout")
	tests := []struct {
		err  *LookupError
		want string
	}{
		{&LookupError{Name: "vpc-x.es.amazonaws.com", Type: "A", Server: "10.0.0.2:53", Kind: ErrServerFailure, Rcode: mdns.RcodeServerFailure},
			"lookup vpc-x.es.amazonaws.com A via 10.0.0.2:53: SERVFAIL"},
		{&LookupError{Name: "x.test", Type: "AAAA", Server: "10.0.0.2:53", Kind: ErrServerFailure, Rcode: mdns.RcodeRefused},
			"lookup x.test AAAA via 10.0.0.2:53: REFUSED"},
		{&LookupError{Name: "x.test", Type: "A", Server: "10.0.0.2:53", Kind: ErrServerFailure, Rcode: 15},
			"lookup x.test A via 10.0.0.2:53: rcode 15"},
		{&LookupError{Name: "x.test", Type: "A", Server: "10.0.0.2:53", Kind: ErrTimeout, Rcode: -1, Err: cause},
			"lookup x.test A via 10.0.0.2:53: timeout: read udp: i/o timeout"},
		{&LookupError{Name: "x.test", Type: "A+AAAA", Kind: ErrNoData},
			"lookup x.test A+AAAA: no address records"},
		{&LookupError{Name: "x.test"}, "lookup x.test: failed"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if tt.err.Kind != nil && !errors.Is(tt.err, tt.err.Kind) {
			t.Errorf("errors.Is(%v, its kind) is false", tt.err)
		}
	}
	if err := (&LookupError{Kind: ErrTimeout, Err: cause}); !errors.Is(err, cause) {
		t.Error("the cause is not reachable with errors.Is")
	}
}
