package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// dockerEntry is one image of Docker's manifest.json, the format the
// classic image store of docker load reads.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blobPath is where the OCI layout keeps a blob.
func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// writeArchive writes the OCI image layout of idx, and the Docker
// manifest.json for its images, as one tarball with sorted entries, fixed
// times and owners.
func writeArchive(w io.Writer, idx v1.ImageIndex, s spec) error {
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}` + "\n")}
	top, err := idx.RawManifest()
	if err != nil {
		return err
	}
	files["index.json"] = top
	var docker []dockerEntry
	if err := addIndex(files, &docker, idx, s); err != nil {
		return err
	}
	dm, err := json.Marshal(docker)
	if err != nil {
		return err
	}
	files["manifest.json"] = dm
	return writeTar(w, files, s.created)
}

// addIndex adds the blobs of every index and image below idx; idx's own
// manifest is the caller's (index.json, or a blob).
func addIndex(files map[string][]byte, docker *[]dockerEntry, idx v1.ImageIndex, s spec) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			raw, err := child.RawManifest()
			if err != nil {
				return err
			}
			files[blobPath(d.Digest)] = raw
			if err := addIndex(files, docker, child, s); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return err
			}
			e, err := addImage(files, img)
			if err != nil {
				return err
			}
			if d.Platform == nil {
				return fmt.Errorf("image %s has no platform", d.Digest)
			}
			e.RepoTags = []string{s.tag.Name() + "-" + d.Platform.Architecture}
			*docker = append(*docker, e)
		default:
			return fmt.Errorf("unexpected media type %s in the index", d.MediaType)
		}
	}
	return nil
}

// addImage adds an image's manifest, config and layers, and returns its
// Docker manifest.json entry, which names the same blobs.
func addImage(files map[string][]byte, img v1.Image) (dockerEntry, error) {
	var e dockerEntry
	digest, err := img.Digest()
	if err != nil {
		return e, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return e, err
	}
	files[blobPath(digest)] = raw
	cfgName, err := img.ConfigName()
	if err != nil {
		return e, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return e, err
	}
	files[blobPath(cfgName)] = cfg
	e.Config = blobPath(cfgName)
	layers, err := img.Layers()
	if err != nil {
		return e, err
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return e, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return e, err
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return e, err
		}
		files[blobPath(h)] = body
		e.Layers = append(e.Layers, blobPath(h))
	}
	return e, nil
}

// writeTar writes files and the directories above them in name order,
// as USTAR entries owned by 0:0 and dated mtime.
func writeTar(w io.Writer, files map[string][]byte, mtime time.Time) error {
	dirs := map[string]bool{}
	for name := range files {
		for i := range len(name) {
			if name[i] == '/' {
				dirs[name[:i+1]] = true
			}
		}
	}
	names := slices.Sorted(maps.Keys(files))
	names = append(names, slices.Collect(maps.Keys(dirs))...)
	slices.Sort(names)
	tw := tar.NewWriter(w)
	for _, name := range names {
		h := &tar.Header{Name: name, ModTime: mtime, Format: tar.FormatUSTAR}
		if dirs[name] {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(files[name]))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			return err
		}
	}
	return tw.Close()
}
