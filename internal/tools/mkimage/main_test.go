package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const (
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testCreated = 1767225600 // 2026-01-01T00:00:00Z
)

// testOptions are the flags make release passes, writing to dir/out.tar.
func testOptions(dir string) options {
	return options{
		out: filepath.Join(dir, "out.tar"), name: "ghcr.io/tgsync/tgsync", version: "v1.2.3",
		revision: testCommit, source: "https://github.com/tgsync/tgsync", licenses: "Apache-2.0",
		created: "1767225600",
	}
}

// fakeBinaries writes two executables that stand in for the tgsync
// builds, and returns the platform arguments that name them.
func fakeBinaries(t *testing.T, dir string) (args []string, bodies map[string][]byte) {
	t.Helper()
	bodies = map[string][]byte{}
	for _, arch := range []string{"amd64", "arm64"} {
		p := filepath.Join(dir, "tgsync_"+arch)
		body := bytes.Repeat([]byte("tgsync "+arch+"\x00"), 1000)
		if err := os.WriteFile(p, body, 0o755); err != nil {
			t.Fatal(err)
		}
		bodies[arch] = body
		args = append(args, "linux/"+arch+"="+p)
	}
	return args, bodies
}

// built is one run of mkimage on fakeBinaries in a directory of its own.
type built struct {
	dir    string
	opts   options
	args   []string
	bodies map[string][]byte
}

// runOnFakes runs mkimage with testOptions on fakeBinaries.
func runOnFakes(t *testing.T) built {
	t.Helper()
	im := built{dir: t.TempDir()}
	im.args, im.bodies = fakeBinaries(t, im.dir)
	im.opts = testOptions(im.dir)
	if err := run(im.opts, im.args); err != nil {
		t.Fatal(err)
	}
	return im
}

// layout extracts the image's OCI layout into a directory and returns it.
func (im built) layout(t *testing.T) string {
	t.Helper()
	lay := filepath.Join(im.dir, "layout")
	extract(t, im.opts.out, lay)
	return lay
}

// TestDeterministic: the tarball depends only on the binaries and the
// flags, not on the order of the arguments, the files' times or modes.
func TestDeterministic(t *testing.T) {
	once := runOnFakes(t)
	dir, args, o := once.dir, once.args, once.opts
	first, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for _, a := range args {
		p := a[strings.Index(a, "=")+1:]
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	o.out = filepath.Join(dir, "again.tar")
	if err := run(o, []string{args[1], args[0]}); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("two tarballs of the same binaries differ (%d and %d bytes)", len(first), len(second))
	}
}

// extract unpacks the tarball as crane push wants it: a directory.
func extract(t *testing.T, tarball, dir string) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readTar(t, f, func(h *tar.Header, body []byte) {
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

// readTar calls each with every entry of the tar stream r and its body.
func readTar(t *testing.T, r io.Reader, each func(h *tar.Header, body []byte)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		each(h, body)
	}
}

// TestImage reads the tarball back with go-containerregistry, as crane
// push does (an OCI layout directory, one index in index.json), and checks
// every promise of the image: both platforms, the config, the layer.
func TestImage(t *testing.T) {
	run := runOnFakes(t)
	bodies, lay := run.bodies, run.layout(t)
	top, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || !tm.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json: want one image index, got %+v", tm.Manifests)
	}
	if got := tm.Manifests[0].Annotations["io.containerd.image.name"]; got != "ghcr.io/tgsync/tgsync:v1.2.3" {
		t.Errorf("index.json names the image %q", got)
	}
	if got := tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "v1.2.3" {
		t.Errorf("index.json's ref.name is %q", got)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.String())
		if d.MediaType != types.OCIManifestSchema1 || d.ArtifactType != "" {
			t.Errorf("%s: media type %s, artifact type %q: want an OCI image manifest and no artifact type", d.Platform, d.MediaType, d.ArtifactType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, img, d.Platform)
		checkLayer(t, img, bodies[d.Platform.Architecture])
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("the index lists %v, want %v", platforms, want)
	}
	checkDockerManifest(t, lay)
}

func checkConfig(t *testing.T, img v1.Image, p *v1.Platform) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != p.OS || cf.Architecture != p.Architecture {
		t.Errorf("%s: the config says %s/%s", p, cf.OS, cf.Architecture)
	}
	if !cf.Created.Equal(time.Unix(testCreated, 0)) {
		t.Errorf("%s: created %s, want -created", p, cf.Created)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/tgsync"}) || !slices.Equal(c.Cmd, []string{"run"}) {
		t.Errorf("%s: entrypoint %q, cmd %q; want [/tgsync] and [run]", p, c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("%s: user %q, want 65532:65532", p, c.User)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.revision": testCommit,
		"org.opencontainers.image.source":   "https://github.com/tgsync/tgsync",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("%s: label %s is %q, want %q", p, k, got, want)
		}
	}
}

// layerEntry is what a test sees of one file in the layer.
type layerEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
}

func checkLayer(t *testing.T, img v1.Image, binary []byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("want one layer, got %d", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []layerEntry
	bodies := map[string][]byte{}
	readTar(t, rc, func(h *tar.Header, body []byte) {
		if !h.ModTime.Equal(time.Unix(testCreated, 0)) || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %s, owner names %q:%q; want -created and numeric owners only", h.Name, h.ModTime, h.Uname, h.Gname)
		}
		got = append(got, layerEntry{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid})
		bodies[h.Name] = body
	})
	want := []layerEntry{
		{"etc/", tar.TypeDir, 0o755, 0, 0},
		{"etc/group", tar.TypeReg, 0o644, 0, 0},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0},
		{"etc/ssl/", tar.TypeDir, 0o755, 0, 0},
		{"etc/ssl/certs/", tar.TypeDir, 0o755, 0, 0},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0, 0},
		{"home/", tar.TypeDir, 0o755, 0, 0},
		{"home/nonroot/", tar.TypeDir, 0o755, 65532, 65532},
		{"tgsync", tar.TypeReg, 0o755, 0, 0},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0},
	}
	if !slices.Equal(got, want) {
		t.Errorf("layer entries:\n got %v\nwant %v", got, want)
	}
	if !bytes.Equal(bodies["tgsync"], binary) {
		t.Errorf("/tgsync is not the binary given")
	}
	if !strings.Contains(string(bodies["etc/passwd"]), "\nnonroot:x:65532:65532:nonroot:/home/nonroot:") {
		t.Errorf("/etc/passwd names no user 65532:\n%s", bodies["etc/passwd"])
	}
	checkCABundle(t, bodies["etc/ssl/certs/ca-certificates.crt"])
}

// checkCABundle: every root of the pinned module that needs no constraint,
// in PEM, and nothing else.
func checkCABundle(t *testing.T, pemData []byte) {
	t.Helper()
	var want [][]byte
	for r := range bundle.Roots() {
		if r.Constraint == nil {
			want = append(want, r.Certificate)
		}
	}
	var got [][]byte
	for rest := pemData; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			if len(bytes.TrimSpace(rest)) != 0 {
				t.Errorf("the CA bundle ends in %d bytes that are not PEM", len(rest))
			}
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Errorf("the CA bundle holds a certificate Go cannot parse: %v", err)
		}
		got = append(got, b.Bytes)
	}
	if len(want) < 100 || !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("the CA bundle holds %d certificates, want the module's %d unconstrained roots", len(got), len(want))
	}
}

// checkDockerManifest: manifest.json, which Docker's classic image store
// loads, names blobs of the layout, one tag per architecture.
func checkDockerManifest(t *testing.T, lay string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(lay, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []dockerEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, e := range entries {
		tags = append(tags, e.RepoTags...)
		cfg, err := os.ReadFile(filepath.Join(lay, e.Config))
		if err != nil {
			t.Fatalf("manifest.json: config: %v", err)
		}
		var cf v1.ConfigFile
		if err := json.Unmarshal(cfg, &cf); err != nil {
			t.Fatal(err)
		}
		if len(e.RepoTags) != 1 || !strings.HasSuffix(e.RepoTags[0], "-"+cf.Architecture) {
			t.Errorf("manifest.json tags %v an image for %s", e.RepoTags, cf.Architecture)
		}
		if len(e.Layers) != len(cf.RootFS.DiffIDs) {
			t.Fatalf("manifest.json names %d layers, the config %d", len(e.Layers), len(cf.RootFS.DiffIDs))
		}
		for i, l := range e.Layers {
			f, err := os.Open(filepath.Join(lay, l))
			if err != nil {
				t.Fatalf("manifest.json: layer: %v", err)
			}
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			h, _, err := v1.SHA256(zr)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if h != cf.RootFS.DiffIDs[i] {
				t.Errorf("manifest.json layer %s is not diff_id %s", l, cf.RootFS.DiffIDs[i])
			}
		}
	}
	if want := []string{"ghcr.io/tgsync/tgsync:v1.2.3-amd64", "ghcr.io/tgsync/tgsync:v1.2.3-arm64"}; !slices.Equal(tags, want) {
		t.Errorf("manifest.json tags %v, want %v", tags, want)
	}
}

// TestPush pushes the extracted layout as crane push DIR REF does (the
// layout's one index, with remote.WriteIndex) to a registry on loopback,
// and reads both platforms back by the tag.
func TestPush(t *testing.T) {
	lay := runOnFakes(t).layout(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	top, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/tgsync/tgsync:v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if got, _ := pulled.Digest(); got != want {
		t.Errorf("the registry serves %s for the tag, the layout holds %s", got, want)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
		if err != nil {
			t.Fatalf("pull linux/%s: %v", arch, err)
		}
		if cf, err := img.ConfigFile(); err != nil || cf.Architecture != arch {
			t.Errorf("pull linux/%s: got %v, %v", arch, cf, err)
		}
	}
}
