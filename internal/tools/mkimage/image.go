package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The user tgsync runs as: numeric, so that a runtime needs no passwd file
// to know it is not root, and Kubernetes' runAsNonRoot can check it.
const (
	uid      = 65532
	userName = "nonroot"
	home     = "/home/nonroot"
)

// Paths inside the image.
const (
	binaryPath = "tgsync"
	caPath     = "etc/ssl/certs/ca-certificates.crt"
)

// file is one entry of the image's only layer.
type file struct {
	name     string // relative, no leading slash; directories end in /
	mode     int64  // permission bits, with the sticky bit where set
	uid, gid int
	body     []byte
}

// rootfs is the whole file system of one image, sorted by name. The
// passwd entry gives tools a name and $HOME for 65532; its shell does not
// exist, as there is none. The home is the working directory, where a
// relative state file lands; it is 0755 so that a runtime that runs the
// image as another user can still enter it.
func rootfs(binary []byte) []file {
	files := []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\n" + userName + ":x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			userName + ":x:65532:65532:" + userName + ":" + home + ":/sbin/nologin\n")},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: caPath, mode: 0o644, body: caBundle()},
		{name: "home/", mode: 0o755},
		{name: strings.TrimPrefix(home, "/") + "/", mode: 0o755, uid: uid, gid: uid},
		{name: binaryPath, mode: 0o755, body: binary},
		{name: "tmp/", mode: 0o1777},
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	return files
}

// caBundle is the Mozilla root store as PEM, in the order the pinned
// module holds it. Roots that carry a constraint X.509 cannot state (NSS's
// distrust-after date) are left out: a PEM file would trust them without
// it. Go reads this path first on Linux.
func caBundle() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
	}
	return b.Bytes()
}

// layerTar is the uncompressed layer: USTAR headers with fixed times and
// numeric owners only, so that nothing of the build machine gets in.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// gzipped compresses with the standard library, whose output depends only
// on the input and the level (no name, no time in the header).
func gzipped(data []byte) ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// labels are the image's OCI labels, also set as annotations on each
// manifest and on the index, where registries show them.
func (s spec) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    "tgsync",
		"org.opencontainers.image.version":  s.version,
		"org.opencontainers.image.revision": s.revision,
		"org.opencontainers.image.source":   s.source,
		"org.opencontainers.image.licenses": s.licenses,
		"org.opencontainers.image.created":  s.created.Format(time.RFC3339),
	}
}

// buildImage is one platform's image: the layer, the config and an OCI
// manifest.
func buildImage(s spec, p platform) (v1.Image, error) {
	raw, err := layerTar(rootfs(p.binary), s.created)
	if err != nil {
		return nil, err
	}
	gz, err := gzipped(raw)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: p.arch,
		OS:           p.os,
		Created:      v1.Time{Time: s.created},
		Config: v1.Config{
			Entrypoint: []string{"/" + binaryPath},
			Cmd:        []string{"run"},
			User:       fmt.Sprintf("%d:%d", uid, uid),
			WorkingDir: home,
			Labels:     s.labels(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: s.created},
			CreatedBy: "mkimage: /tgsync, /etc/ssl/certs/ca-certificates.crt, /etc/passwd, /etc/group, " + home + ", /tmp",
		},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return plainImage{mutate.Annotations(img, s.labels()).(v1.Image)}, nil
}

// plainImage is an image that is no artifact: its index descriptor gets no
// artifactType, which go-containerregistry would otherwise copy from the
// config's media type and which docker buildx does not write either.
type plainImage struct{ v1.Image }

func (plainImage) ArtifactType() (string, error) { return "", nil }

// buildIndex is the layout's top: index.json lists one image index, named
// for containerd (and so for Docker on the containerd store) and for
// tools that pick a ref.name, and that index lists one image per platform.
func buildIndex(s spec) (v1.ImageIndex, error) {
	inner := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range s.platforms {
		img, err := buildImage(s, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		inner = mutate.AppendManifests(inner, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.os, Architecture: p.arch}},
		})
	}
	inner = mutate.Annotations(inner, s.labels()).(v1.ImageIndex)
	outer := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(outer, mutate.IndexAddendum{
		Add: inner,
		Descriptor: v1.Descriptor{Annotations: map[string]string{
			"io.containerd.image.name":          s.tag.Name(),
			"org.opencontainers.image.ref.name": s.version,
		}},
	}), nil
}
