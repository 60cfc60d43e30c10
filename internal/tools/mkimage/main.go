// Command mkimage writes tgsync's container image, for several platforms
// as one index, to an OCI image layout tarball, without a container engine.
// Each image holds one layer: the static tgsync binary as /tgsync, the
// Mozilla roots of golang.org/x/crypto/x509roots/fallback as
// /etc/ssl/certs/ca-certificates.crt, /etc/passwd and /etc/group naming
// the non-root user 65532, its home and /tmp. There is no shell.
// The entrypoint is ["/tgsync"] and the default command ["run"].
//
// The bytes depend only on the binaries and the flags: entries are sorted,
// owned by fixed ids and dated -created (make passes the commit's time), the
// CA bundle comes from a pinned module, and gzip and JSON are deterministic.
// The same commit and VERSION give the same tarball on any machine.
//
// The tarball is an OCI image layout (oci-layout, index.json, blobs/sha256)
// whose index.json points at one image index with a manifest per platform,
// named by io.containerd.image.name. It also holds a Docker manifest.json,
// as docker save writes since Docker 25, so that a Docker engine on the
// classic image store, which ignores index.json, loads it too: there, the
// images are tagged per architecture (NAME:VERSION-amd64, -arm64), since
// that store keeps one platform per tag.
//
// Usage:
//
//	go run ./internal/tools/mkimage -o dist/tgsync_v1.2.3_image.tar \
//	  -name ghcr.io/tgsync/tgsync -version v1.2.3 -revision $(git rev-parse HEAD) \
//	  -created $(git log -1 --format=%ct) -source https://github.com/tgsync/tgsync \
//	  linux/amd64=dist/tgsync_v1.2.3_linux_amd64 linux/arm64=dist/tgsync_v1.2.3_linux_arm64
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	var o options
	flag.StringVar(&o.out, "o", "", "the tarball `file` to write")
	flag.StringVar(&o.name, "name", "", "the image's `repository`, such as ghcr.io/tgsync/tgsync")
	flag.StringVar(&o.version, "version", "", "the release `version`: the image's tag and its version label")
	flag.StringVar(&o.revision, "revision", "", "the source `commit` the binaries were built from")
	flag.StringVar(&o.source, "source", "", "the source repository's `URL`")
	flag.StringVar(&o.licenses, "licenses", "Apache-2.0", "the SPDX `expression` of the licenses")
	flag.StringVar(&o.created, "created", "", "the image's creation time in Unix `seconds` (SOURCE_DATE_EPOCH)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkimage -o out.tar -name REPO -version V -revision COMMIT -source URL -created SECONDS os/arch=binary...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(o, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

// options are the flags, as given.
type options struct {
	out, name, version, revision, source, licenses, created string
}

// spec is what the images are made of, checked.
type spec struct {
	repo      name.Repository
	tag       name.Tag
	version   string
	revision  string
	source    string
	licenses  string
	created   time.Time
	platforms []platform // sorted by os/arch
}

// platform is one image of the index and the binary it holds.
type platform struct {
	os, arch string
	binary   []byte
}

func (p platform) String() string { return p.os + "/" + p.arch }

// platformArg is os/arch=path; the architectures are those tgsync ships.
var platformArg = regexp.MustCompile(`^(linux)/(amd64|arm64)=(.+)$`)

// parse checks every flag and argument before anything is written, and
// reads the binaries.
func parse(o options, args []string) (spec, error) {
	var s spec
	var errs []error
	need := func(v, flagName string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("-%s is required", flagName))
		}
	}
	need(o.out, "o")
	need(o.name, "name")
	need(o.version, "version")
	need(o.revision, "revision")
	need(o.source, "source")
	need(o.licenses, "licenses")
	need(o.created, "created")
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	repo, err := name.NewRepository(o.name, name.StrictValidation)
	if err != nil {
		return s, fmt.Errorf("-name %q: %v", o.name, err)
	}
	tag, err := name.NewTag(o.name+":"+o.version, name.StrictValidation)
	if err != nil {
		return s, fmt.Errorf("-version %q is not a valid image tag: %v", o.version, err)
	}
	secs, err := strconv.ParseInt(o.created, 10, 64)
	if err != nil || secs < 0 {
		return s, fmt.Errorf("-created %q: want Unix seconds, such as the output of git log -1 --format=%%ct", o.created)
	}
	s = spec{repo: repo, tag: tag, version: o.version, revision: o.revision, source: o.source,
		licenses: o.licenses, created: time.Unix(secs, 0).UTC()}
	if len(args) == 0 {
		return s, errors.New("no binaries: give os/arch=path arguments, such as linux/amd64=dist/tgsync_linux_amd64")
	}
	for _, a := range args {
		m := platformArg.FindStringSubmatch(a)
		if m == nil {
			return s, fmt.Errorf("argument %q: want linux/amd64=path or linux/arm64=path", a)
		}
		p := platform{os: m[1], arch: m[2]}
		if slices.ContainsFunc(s.platforms, func(q platform) bool { return q.String() == p.String() }) {
			return s, fmt.Errorf("platform %s given twice", p)
		}
		if p.binary, err = readBinary(m[3]); err != nil {
			return s, err
		}
		s.platforms = append(s.platforms, p)
	}
	slices.SortFunc(s.platforms, func(a, b platform) int { return strings.Compare(a.String(), b.String()) })
	return s, nil
}

// readBinary reads an executable regular file.
func readBinary(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("%s: not executable; build it with go build", path)
	}
	return os.ReadFile(path)
}

// run writes the tarball to a temporary file and renames it into place, so
// that a failed run leaves no half-written image behind.
func run(o options, args []string) error {
	s, err := parse(o, args)
	if err != nil {
		return err
	}
	idx, err := buildIndex(s)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := writeArchive(&buf, idx, s); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), ".mkimage-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), o.out)
}
