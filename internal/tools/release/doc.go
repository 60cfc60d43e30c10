// Package release holds the tests of make release: that the same commit
// and VERSION give byte-identical files, that SHA256SUMS lists them all,
// and that the binaries, the image and the SBOMs are what docs/release.md
// says. It has no code of its own; the release is the Makefile's, with
// internal/tools/mkzip and internal/tools/mkimage.
package release
