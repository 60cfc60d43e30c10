package deploy

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// elfHeader is the start of a 64-bit little-endian ELF file for machine.
func elfHeader(machine elf.Machine) []byte {
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(machine))
	return h
}

// zipOf builds a zip of name=content entries with their modes.
func zipOf(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(fs.FileMode(e.mode))
		f, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zipEntry struct {
	name string
	mode uint32
	data []byte
}

func TestReadPackage(t *testing.T) {
	tests := []struct {
		name     string
		zip      []byte
		wantArch string
		wantErr  string
	}{
		{"arm64", zipOf(t, zipEntry{"bootstrap", 0o755, elfHeader(elf.EM_AARCH64)}), "arm64", ""},
		{"amd64", zipOf(t, zipEntry{"bootstrap", 0o755, elfHeader(elf.EM_X86_64)}), "x86_64", ""},
		{"not a zip", []byte("#!/bin/sh\n"), "", "is not a zip"},
		{"no bootstrap", zipOf(t, zipEntry{"tgsync", 0o755, elfHeader(elf.EM_AARCH64)}), "", "holds no executable bootstrap"},
		{"bootstrap not executable", zipOf(t, zipEntry{"bootstrap", 0o644, elfHeader(elf.EM_AARCH64)}), "", "holds no executable bootstrap"},
		{"a script", zipOf(t, zipEntry{"bootstrap", 0o755, []byte("#!/bin/sh\nexec ./tgsync\n")}), "", "not a 64-bit Linux executable"},
		{"386", zipOf(t, zipEntry{"bootstrap", 0o755, elfHeader(elf.EM_386)}), "", "built for EM_386"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ReadPackage(tc.zip, "pkg.zip")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "pkg.zip") {
					t.Fatalf("err = %v, want one naming pkg.zip and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Architecture != tc.wantArch || len(p.SHA256) != 64 || !strings.HasPrefix(p.codeKey(), "tgsync/lambda/"+p.SHA256) {
				t.Errorf("package = %s, sha256 %s, key %s; want %s", p.Architecture, p.SHA256, p.codeKey(), tc.wantArch)
			}
		})
	}
}

const goodConfig = `# the dashboards
bindings:
  - name: web   # the one binding
    source:
      dns: web.internal.example
    targetGroupArn: arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/0123456789abcdef
    ports: [443]
`

func TestPrepareRefusesBadInput(t *testing.T) {
	pkg := Package{Zip: []byte("zip"), Architecture: "arm64", SHA256: strings.Repeat("a", 64)}
	tests := []struct {
		name   string
		mutate func(o *Options)
		want   string
	}{
		{"a config with state", func(o *Options) {
			o.Config = append(o.Config, "state:\n  s3: s3://my-bucket/tgsync/\n"...)
		}, "tgsync.yaml:8: state: leave the state section out of a stack's config"},
		{"an invalid config", func(o *Options) { o.Config = []byte("bindings: 3\n") }, "tgsync.yaml:1: bindings:"},
		{"no binding", func(o *Options) {
			o.Config = []byte("spotDrain: {targetGroupArns: [arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/s/0123456789abcdef]}\n")
		}, "a stack needs at least one binding"},
		{"too large even without comments", func(o *Options) {
			o.Config = append([]byte("dns:\n  servers: ["+strings.Repeat(`"10.0.0.2:53", `, 300)+`"10.0.0.2:53"]`+"\n"), o.Config...)
		}, "a stack takes at most 3500"},
		{"a parameter deploy sets", func(o *Options) { o.Params = map[string]string{"ConfigYaml": "x"} }, "--param ConfigYaml: tgsync deploy sets it from --config"},
		{"subnets as a parameter", func(o *Options) { o.Params = map[string]string{"SubnetIds": "subnet-0a1b2c3d"} }, "sets it from --subnets"},
		{"an unknown parameter", func(o *Options) { o.Params = map[string]string{"Memory": "256"} }, "--param Memory: the template has no such parameter; it has AlarmTopicArn, "},
		{"a bad stack name", func(o *Options) { o.Stack = "9tgsync" }, `--stack "9tgsync": a stack name has`},
		{"no package", func(o *Options) { o.Package = Package{} }, "no Lambda package"},
		{"roles as a parameter", func(o *Options) { o.Params = map[string]string{"AssumeRoleArns": "arn:aws:iam::444455556666:role/x"} },
			"--param AssumeRoleArns: tgsync deploy sets it from the config's roleArns"},
		{"interface sources as a parameter", func(o *Options) { o.Params = map[string]string{"NetworkInterfaceSources": "true"} },
			"--param NetworkInterfaceSources: tgsync deploy sets it from the config's sources"},
		{"interface events without interface sources", func(o *Options) { o.Params = map[string]string{"NetworkInterfaceEvents": "true"} },
			"--param NetworkInterfaceEvents=true: no binding of tgsync.yaml reads network interfaces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Stack: "tgsync", ConfigName: "tgsync.yaml", Config: []byte(goodConfig), Package: pkg}
			tc.mutate(&o)
			_, err := prepare(o)
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a UsageError containing %q", err, tc.want)
			}
		})
	}
	p, err := prepare(Options{Stack: "tgsync", ConfigName: "tgsync.yaml", Config: []byte(goodConfig), Package: pkg,
		Params: map[string]string{"Metrics": "essential"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.configYAML, "#") || p.place.Region != "eu-west-1" || p.place.Account != "111122223333" {
		t.Errorf("prepared config %q in %+v; want it without comments, in eu-west-1 account 111122223333", p.configYAML, p.place)
	}
	v := p.values()
	if v["ConfigTargetGroupArns"] != "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/0123456789abcdef" ||
		v["Metrics"] != "essential" || v["Architecture"] != "arm64" || v["SpotTargetGroupArns"] != "" {
		t.Errorf("values = %v", v)
	}
	if _, set := v["SubnetIds"]; set {
		t.Errorf("SubnetIds set without --subnets: %v", v)
	}
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		a, b string
		want []string
	}{
		{"a\nb\nc\n", "a\nb\nc\n", []string{"  a", "  b", "  c"}},
		{"a\nb\nc\n", "a\nx\nc\n", []string{"  a", "- b", "+ x", "  c"}},
		{"a\nb\n", "a\nb\nc\nd\n", []string{"  a", "  b", "+ c", "+ d"}},
		{"a\nb\nc\n", "c\n", []string{"- a", "- b", "  c"}},
	}
	for _, tc := range tests {
		if got := lineDiff(tc.a, tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
	diff := lineDiff("1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\n5\nX\n7\n8\n")
	if got, want := withContext(diff, 1), []string{"  …", "  5", "- 6", "+ X", "  7", "  …"}; !slices.Equal(got, want) {
		t.Errorf("withContext = %q, want %q", got, want)
	}
}

func TestPythonList(t *testing.T) {
	for in, want := range map[string]string{
		"['a', 'b']": "a,b", "['a']": "a", "['']": "", "a,b": "a,b", "": "", "[not a list]": "[not a list]",
	} {
		if got := pythonList(in); got != want {
			t.Errorf("pythonList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidStackName(t *testing.T) {
	for name, ok := range map[string]bool{
		"tgsync": true, "tgsync-prod-2": true, "T": true, strings.Repeat("a", 128): true,
		"": false, "2tgsync": false, "tg_sync": false, "tg sync": false, strings.Repeat("a", 129): false,
	} {
		if got := validStackName(name); got != ok {
			t.Errorf("validStackName(%q) = %v, want %v", name, got, ok)
		}
	}
}

// TestValuesFromTheConfig: the parameters deploy derives from the config,
// for a config with a target group of another account reached through a
// role and a binding that reads network interfaces, and for one without.
func TestValuesFromTheConfig(t *testing.T) {
	pkg := Package{Zip: []byte("zip"), Architecture: "arm64", SHA256: strings.Repeat("a", 64)}
	const (
		role  = "arn:aws:iam::444455556666:role/tgsync-target"
		other = "arn:aws:elasticloadbalancing:eu-west-1:444455556666:targetgroup/pay/0123456789abcdef"
		own   = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/0123456789abcdef"
	)
	crossAccount := goodConfig + `  - name: pay
    source: {loadBalancer: arn:aws:elasticloadbalancing:eu-west-1:444455556666:loadbalancer/app/pay/0123456789abcdef}
    targetGroupArn: ` + other + `
    ports: [443]
    roleArn: ` + role + "\n"
	onlyOther := "bindings:\n  - name: pay\n    source: {dns: pay.internal.example}\n    targetGroupArn: " + other + "\n    ports: [443]\n    roleArn: " + role + "\n"
	for _, tc := range []struct {
		name    string
		config  string
		params  map[string]string
		account string
		want    map[string]string
	}{
		{"one account, DNS", goodConfig, nil, "111122223333",
			map[string]string{"AssumeRoleArns": "", "NetworkInterfaceSources": "false", "ConfigTargetGroupArns": own}},
		{"another account through a role, interfaces", crossAccount, map[string]string{"NetworkInterfaceEvents": "true"}, "111122223333",
			map[string]string{"AssumeRoleArns": role, "NetworkInterfaceSources": "true", "NetworkInterfaceEvents": "true", "ConfigTargetGroupArns": own + "," + other}},
		{"every group through a role", onlyOther, nil, "",
			map[string]string{"AssumeRoleArns": role, "NetworkInterfaceSources": "false", "ConfigTargetGroupArns": other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := prepare(Options{Stack: "tgsync", ConfigName: "tgsync.yaml", Config: []byte(tc.config), Package: pkg, Params: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if p.place.Region != "eu-west-1" || p.place.Account != tc.account {
				t.Errorf("place %+v, want eu-west-1 and account %q", p.place, tc.account)
			}
			v := p.values()
			for k, want := range tc.want {
				if v[k] != want {
					t.Errorf("%s = %q, want %q", k, v[k], want)
				}
			}
		})
	}
}
