package release

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// untar unpacks a tarball of regular files and directories into dir.
func untar(t *testing.T, r io.Reader, dir string, want func(name string) bool) {
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
		if !want(h.Name) {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkImage reads the image tarball back with go-containerregistry, as
// crane push reads the extracted layout: one index for both platforms,
// each config with the entrypoint, the user and the labels, and in this
// machine's layer the release's binary, which runs.
func checkImage(t *testing.T, dist, commit, wantVersion string) {
	f, err := os.Open(filepath.Join(dist, "tgsync_"+version+"_image.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lay := t.TempDir()
	untar(t, f, lay, func(string) bool { return true })
	top, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Annotations["io.containerd.image.name"] != "ghcr.io/tgsync/tgsync:"+version {
		t.Fatalf("index.json: want one index named ghcr.io/tgsync/tgsync:%s, got %+v", version, tm.Manifests)
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
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if !slices.Equal(c.Entrypoint, []string{"/tgsync"}) || !slices.Equal(c.Cmd, []string{"run"}) || c.User != "65532:65532" {
			t.Errorf("%s: entrypoint %q, cmd %q, user %q; want [/tgsync], [run], 65532:65532", d.Platform, c.Entrypoint, c.Cmd, c.User)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.version":  version,
			"org.opencontainers.image.revision": commit,
			"org.opencontainers.image.source":   "https://github.com/tgsync/tgsync",
			"org.opencontainers.image.licenses": "Apache-2.0",
		} {
			if got := c.Labels[k]; got != want {
				t.Errorf("%s: label %s is %q, want %q", d.Platform, k, got, want)
			}
		}
		if d.Platform.Architecture == runtime.GOARCH {
			runFromImage(t, img, filepath.Join(dist, "tgsync_"+version+"_linux_"+runtime.GOARCH), wantVersion)
		}
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("the image index lists %v, want %v", platforms, want)
	}
}

// runFromImage takes /tgsync out of the image's layer, checks it is the
// release's binary and runs tgsync version from it.
func runFromImage(t *testing.T, img v1.Image, releaseBinary, wantVersion string) {
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
	root := t.TempDir()
	untar(t, rc, root, func(name string) bool { return name == "tgsync" })
	bin := filepath.Join(root, "tgsync")
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("the layer has no /tgsync: %v", err)
	}
	want, err := os.ReadFile(releaseBinary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("/tgsync is not %s", filepath.Base(releaseBinary))
	}
	if out := run(t, bin, "version"); out != wantVersion {
		t.Errorf("tgsync version from the image:\n got %q\nwant %q", out, wantVersion)
	}
}
