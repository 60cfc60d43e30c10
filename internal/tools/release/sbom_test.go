package release

import (
	"debug/buildinfo"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bom is what the tests read of a CycloneDX SBOM.
type bom struct {
	BOMFormat    string `json:"bomFormat"`
	SerialNumber string `json:"serialNumber"`
	Metadata     struct {
		Timestamp string `json:"timestamp"`
		Component struct {
			Name       string `json:"name"`
			Properties []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"properties"`
		} `json:"component"`
	} `json:"metadata"`
	Components []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"components"`
}

// checkSBOMs: each binary's SBOM names its platform and tags, carries no
// timestamp or random serial, and lists exactly the modules the binary
// was linked from, at their versions.
func checkSBOMs(t *testing.T, dist string, platforms []string) {
	type sbomCase struct{ sbom, binary, goos, goarch, tags string }
	cases := []sbomCase{
		{"lambda_amd64", "amd64/bootstrap", "linux", "amd64", "lambda.norpc,tgsync_lambda,nethttpomithttp2"},
		{"lambda_arm64", "arm64/bootstrap", "linux", "arm64", "lambda.norpc,tgsync_lambda,nethttpomithttp2"},
	}
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "_")
		cases = append(cases, sbomCase{p, "tgsync_" + version + "_" + p, goos, goarch, "lambda.norpc"})
	}
	for _, tc := range cases {
		t.Run(tc.sbom, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dist, "tgsync_"+version+"_"+tc.sbom+".cdx.json"))
			if err != nil {
				t.Fatal(err)
			}
			var b bom
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Fatal(err)
			}
			if b.BOMFormat != "CycloneDX" || b.SerialNumber != "" || b.Metadata.Timestamp != "" {
				t.Errorf("format %q, serial %q, timestamp %q: want CycloneDX with neither", b.BOMFormat, b.SerialNumber, b.Metadata.Timestamp)
			}
			if b.Metadata.Component.Name != "github.com/tgsync/tgsync" {
				t.Errorf("the SBOM describes %q", b.Metadata.Component.Name)
			}
			props := map[string][]string{}
			for _, p := range b.Metadata.Component.Properties {
				props[p.Name] = append(props[p.Name], p.Value)
			}
			for k, want := range map[string]string{"cdx:gomod:build:env:GOOS": tc.goos, "cdx:gomod:build:env:GOARCH": tc.goarch, "cdx:gomod:build:env:CGO_ENABLED": "0"} {
				if !slices.Equal(props[k], []string{want}) {
					t.Errorf("property %s is %v, want %s", k, props[k], want)
				}
			}
			if got := slices.Sorted(slices.Values(props["cdx:gomod:build:tag"])); !slices.Equal(got, slices.Sorted(slices.Values(strings.Split(tc.tags, ",")))) {
				t.Errorf("build tags %v, want %s", got, tc.tags)
			}
			listed := map[string]string{}
			for _, c := range b.Components {
				if c.Name != "std" {
					listed[c.Name] = c.Version
				}
			}
			bi, err := buildinfo.ReadFile(filepath.Join(dist, tc.binary))
			if err != nil {
				t.Fatal(err)
			}
			linked := map[string]string{}
			for _, d := range bi.Deps {
				if d.Replace != nil {
					d = d.Replace
				}
				linked[d.Path] = d.Version
			}
			if !maps.Equal(listed, linked) {
				t.Errorf("the SBOM lists modules\n%v\nthe binary was linked from\n%v", listed, linked)
			}
		})
	}
}
