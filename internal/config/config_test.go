package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/internal/mock"
)

// yourARNs stand for the ARNs a user puts in place of the example's.
var yourARNs = strings.NewReplacer(
	"111122223333:targetgroup/os-dash/4ab4dba084c2bb5c", "123456789012:targetgroup/os-dash/0123456789abcdef",
	"111122223333:targetgroup/logstash/73e2d6bc24d8a067", "123456789012:targetgroup/logstash/0123456789abcdef",
	"111122223333:role/tgsync-target", "123456789012:role/tgsync-target")

// exampleWithYourARNs is the example with the sample ARNs replaced, as a
// user who edited nothing else has it.
func exampleWithYourARNs() []byte { return []byte(yourARNs.Replace(string(Example()))) }

// commentedKey is a commented-out line of config in the example, as
// opposed to a line of prose: "# key: value", "# key:" or "# - item".
var commentedKey = regexp.MustCompile(`^(\s*)# ( *(?:[a-zA-Z]+:(?: .*)?|- .*))$`)

// uncomment turns on every optional section of the example.
func uncomment(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if m := commentedKey.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + m[2]
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestExample: the example's active keys are the defaults, so that a
// config written from it behaves as one that leaves them out; its only
// problem as printed is the sample target group ARN; and its optional
// sections, commented out, are valid once turned on.
func TestExample(t *testing.T) {
	ex := Example()
	if !bytes.Contains(ex, []byte("\n# ")) || !bytes.Contains(ex, []byte("# spotDrain:")) {
		t.Fatalf("example is not the commented full config:\n%s", ex)
	}
	// As printed: the sample ARN is named, with its key and line, and
	// nothing else is wrong.
	_, err := Parse(ex)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != "bindings[0].targetGroupArn" ||
		ve.Problems[0].Line == 0 || !strings.Contains(ve.Problems[0].Message, "sample ARN") {
		t.Fatalf("example as printed: %v; want one problem, the sample ARN of bindings[0].targetGroupArn", err)
	}
	// With the user's ARN it is the config that sets only what is
	// required.
	cfg, err := Parse(exampleWithYourARNs())
	if err != nil {
		t.Fatalf("example with your ARN: %v", err)
	}
	required, err := Parse([]byte(`bindings:
  - name: opensearch-dashboards
    source:
      dns: vpc-logs-abc123.ap-northeast-1.es.amazonaws.com
    targetGroupArn: arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/os-dash/0123456789abcdef
    ports: [443]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, required) {
		t.Errorf("the example's active keys are not the defaults: it parsed to\n%+v\nthe required keys alone to\n%+v", cfg, required)
	}
	// Every optional section, turned on, is valid.
	all, err := Parse(uncomment(exampleWithYourARNs()))
	if err != nil {
		t.Fatalf("example with its optional sections: %v\n%s", err, uncomment(exampleWithYourARNs()))
	}
	b := all.Bindings[0]
	if len(all.DNS.Servers) == 0 || all.SpotDrain == nil || len(all.SpotDrain.TargetGroupARNs) != 1 ||
		len(b.AllowedCIDRs) != 1 || len(b.Source.DNS.Families) != 2 || b.Role.ExternalID == "" || all.SpotDrain.Role.ARN == "" {
		t.Errorf("the optional sections did not all come on: servers %v, spotDrain %+v, allowedCidrs %v, families %v, role %+v",
			all.DNS.Servers, all.SpotDrain, b.AllowedCIDRs, b.Source.DNS.Families, b.Role)
	}
	// The spot drain's sample ARN is refused too.
	if _, err := Parse(uncomment(Example())); err == nil || !strings.Contains(err.Error(), "spotDrain.targetGroupArns[0]: is the example's sample ARN") {
		t.Errorf("the spot drain's sample ARN: %v", err)
	}
	// Example hands out a copy.
	ex[0] = 'X'
	if Example()[0] == 'X' {
		t.Error("Example returned its backing array")
	}
}

// TestSampleARNs: the example's sample target groups are refused in any
// Region and partition, and only they: the same names in another account,
// or other groups in the sample account, are ordinary ARNs.
func TestSampleARNs(t *testing.T) {
	for _, tc := range []struct {
		arn  string
		want bool
	}{
		{"arn:aws:elasticloadbalancing:ap-northeast-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5c", true},
		{"arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/os-dash/4ab4dba084c2bb5c", true},
		{"arn:aws-cn:elasticloadbalancing:cn-north-1:111122223333:targetgroup/logstash/73e2d6bc24d8a067", true},
		{"arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/os-dash/4ab4dba084c2bb5c", false},
		{"arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef", false},
	} {
		msg := checkTargetGroupARN(tc.arn)
		if got := strings.Contains(msg, "sample ARN"); got != tc.want {
			t.Errorf("checkTargetGroupARN(%s) = %q; want a sample ARN: %v", tc.arn, msg, tc.want)
		}
	}
}

func TestDefaultsFilledIn(t *testing.T) {
	cfg, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	def := tgsync.DefaultPolicy()
	want := &Config{
		DNS:    DNS{Lookups: DefaultLookups, Timeout: DefaultTimeout, Families: []string{FamilyIPv4}},
		State:  State{File: DefaultStateFile},
		Limits: Limits{DescribePerSecond: 5, DescribeBurst: 20, ChangesPerSecond: 2, ChangesBurst: 10, DescribeEvery: 10 * time.Minute},
		Bindings: []Binding{{
			Name:           "web",
			Source:         Source{DNS: &DNSSource{Name: "web.internal.example", Families: []string{FamilyIPv4}}},
			TargetGroupARN: "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web/0123456789abcdef",
			Ports:          []int{443},
			Deregister:     Deregister{AfterMisses: def.AfterMisses, AfterDuration: def.AfterDuration, MaxFraction: def.MaxFraction, WaitForHealthy: def.WaitForHealthy},
			AllowedCIDRs:   tgsync.DefaultAllowedPrefixes,
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("minimal config parsed to\n%+v\nwant\n%+v", cfg, want)
	}
	crlf, err := Parse([]byte(strings.ReplaceAll(minimal, "\n", "\r\n")))
	if err != nil || !reflect.DeepEqual(crlf, want) {
		t.Errorf("minimal config with CRLF line ends: %+v, %v", crlf, err)
	}
	bom, err := Parse(append([]byte("\xef\xbb\xbf"), minimal...))
	if err != nil || !reflect.DeepEqual(bom, want) {
		t.Errorf("minimal config with a UTF-8 byte order mark: %+v, %v", bom, err)
	}
	if &cfg.Bindings[0].AllowedCIDRs[0] == &tgsync.DefaultAllowedPrefixes[0] {
		t.Error("binding shares the DefaultAllowedPrefixes array; changing one would change the other")
	}
}

func TestValuesAndInheritance(t *testing.T) {
	data := `dns:
  servers: ["10.0.0.2", "10.0.0.3:5353", "fd00::53", "[fd00::54]", "[fd00::55]:53"]
  families: [ipv6]
state:
  s3: s3://tgsync-state/prod/eu
bindings:
  - name: 2024
    source: {dns: db.internal.example.}
    targetGroupArn: arn:aws-cn:elasticloadbalancing:cn-north-1:111122223333:targetgroup/db/0123456789abcdef
    ports: [5432, 0x1F90]
    shared: true
    availabilityZone: all
    deregister: {afterDuration: 0s}
  - name: both
    source: {dns: api.internal.example, families: [ipv4, ipv6]}
    targetGroupArn: arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:111122223333:targetgroup/api/0123456789abcdef
    ports: [443]
`
	cfg, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.2:53", "10.0.0.3:5353", "[fd00::53]:53", "[fd00::54]:53", "[fd00::55]:53"}; !reflect.DeepEqual(cfg.DNS.Servers, want) {
		t.Errorf("servers = %v, want %v", cfg.DNS.Servers, want)
	}
	if want := (State{S3: &S3Location{Bucket: "tgsync-state", Prefix: "prod/eu/"}}); !reflect.DeepEqual(cfg.State, want) || cfg.State.Kind() != "s3" {
		t.Errorf("state = %+v (%s), want %+v", cfg.State, cfg.State.Kind(), want)
	}
	if got := cfg.State.S3.String(); got != "s3://tgsync-state/prod/eu/" {
		t.Errorf("S3 location renders as %q", got)
	}
	db, both := cfg.Bindings[0], cfg.Bindings[1]
	if db.Name != "2024" {
		t.Errorf("numeric name read as %q, want 2024", db.Name)
	}
	if got := db.PortsUint16(); !reflect.DeepEqual(got, []uint16{5432, 8080}) {
		t.Errorf("ports = %v, want [5432 8080]", got)
	}
	if !reflect.DeepEqual(db.Families(), []string{"ipv6"}) || !reflect.DeepEqual(both.Families(), []string{"ipv4", "ipv6"}) {
		t.Errorf("families: inherited %v, own %v", db.Families(), both.Families())
	}
	if !db.AZAll() || both.AZAll() {
		t.Errorf("AZAll = %v, %v; want true, false", db.AZAll(), both.AZAll())
	}
	p := db.Policy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.AfterDuration != 0 || p.AfterMisses != 3 || !p.Shared || p.MaxFraction != 0.5 {
		t.Errorf("policy = %+v, want afterDuration 0 as written, other defaults, shared", p)
	}
	var src tgsync.Source = &mock.Source{Name: "dns db"}
	d := db.Domain(src)
	if d.Name != "2024" || d.Source != src || d.TargetGroupARN != db.TargetGroupARN || !d.AZAll ||
		!reflect.DeepEqual(d.Ports, []uint16{5432, 8080}) || !reflect.DeepEqual(d.Policy, p) {
		t.Errorf("Domain = %+v", d)
	}
}

func TestStateKinds(t *testing.T) {
	tests := []struct {
		state string
		want  State
	}{
		{"", State{File: DefaultStateFile}},
		{"state: {}\n", State{File: DefaultStateFile}},
		{"state: {memory: true}\n", State{Memory: true}},
		{"state: {memory: false}\n", State{File: DefaultStateFile}},
		{"state: {file: /var/lib/tgsync/state.json}\n", State{File: "/var/lib/tgsync/state.json"}},
		{"state: {s3: s3://tgsync-state}\n", State{S3: &S3Location{Bucket: "tgsync-state"}}},
		{"state: {s3: s3://tgsync-state/}\n", State{S3: &S3Location{Bucket: "tgsync-state"}}},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.state + minimal))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.State, tt.want) {
				t.Errorf("state = %+v, want %+v", cfg.State, tt.want)
			}
		})
	}
}

func TestSpotDrainAlone(t *testing.T) {
	cfg, err := Parse([]byte("spotDrain:\n  targetGroupArns: [arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/ls/0123456789abcdef]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Bindings) != 0 || cfg.SpotDrain == nil ||
		!reflect.DeepEqual(cfg.SpotDrain.StopCodes, []string{StopCodeSpotInterruption, StopCodeTerminationNotice}) {
		t.Errorf("config = %+v, spotDrain %+v", cfg, cfg.SpotDrain)
	}
}

func TestBindingMethodsOnZeroValues(t *testing.T) {
	var b Binding
	p := b.Policy()
	def := tgsync.DefaultPolicy()
	def.AfterDuration, def.WaitForHealthy = 0, 0
	if !reflect.DeepEqual(p, def) {
		t.Errorf("zero binding policy = %+v, want the defaults with afterDuration and waitForHealthy 0", p)
	}
	if got := b.Families(); !reflect.DeepEqual(got, []string{FamilyIPv4}) {
		t.Errorf("zero binding families = %v", got)
	}
	b.Ports = []int{0, 80, 70000}
	if got := b.PortsUint16(); !reflect.DeepEqual(got, []uint16{80}) {
		t.Errorf("PortsUint16 = %v, want only the valid port", got)
	}
}

func TestValidateBuiltConfig(t *testing.T) {
	cfg, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("parsed config does not validate: %v", err)
	}
	cfg.State = State{}
	cfg.Bindings[0].Ports = append(cfg.Bindings[0].Ports, 443)
	cfg.Bindings[0].Deregister.AfterMisses = 0
	got := problemsOf(t, cfg.Validate())
	want := []Problem{
		{Path: "state", Message: "must set one of file, s3 or memory"},
		{Path: "bindings[0].ports[1]", Message: "port 443 is listed twice"},
		{Path: "bindings[0].deregister.afterMisses", Message: "must be at least 1, got 0"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %+v\nwant %+v", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tgsync.yaml")
	if err := os.WriteFile(good, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(good)
	if err != nil || len(cfg.Bindings) != 1 {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(edit(t, minimal, "[443]", "[443, 99999]")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.File != bad {
		t.Fatalf("Load(bad) = %v, want a *ValidationError naming the file", err)
	}
	if want := bad + ":6: bindings[0].ports[1]: must be in 1..65535, got 99999"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

func TestErrorsDoNotEchoTheConfig(t *testing.T) {
	secret := "s3cr3t-" + strings.Repeat("x", 200)
	data := edit(t, minimal, "name: web", "name: "+secret) + "    token: " + secret + "\n"
	_, err := Parse([]byte(data))
	if err == nil {
		t.Fatal("parsed")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "targetgroup/web") {
		t.Errorf("error echoes config content:\n%v", err)
	}
}
