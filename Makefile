# tgsync: build, test and package the Lambda function.
#
#   make build     the tgsync binary for this machine, in $(DIST)/tgsync
#   make package   $(DIST)/tgsync-arm64.zip and $(DIST)/tgsync-amd64.zip,
#                  each holding one executable named bootstrap (provided.al2023),
#                  the Lambda variant (PKGTAGS below)
#   make test      go test -race ./...
#   make clean     remove $(DIST)
#   make release VERSION=vX.Y.Z
#                  the CLI for linux and darwin, the Lambda zips, the
#                  container image, SBOMs and SHA256SUMS (docs/release.md)
#
# Packages are reproducible: the same source and VERSION give byte-identical
# zips (no VCS stamping, trimmed paths, fixed zip timestamps and modes).

GO      ?= go
DIST    ?= dist
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# COMMIT is stamped into every binary; make release sets it itself.
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo -dirty)
ARCHS   := arm64 amd64

BUILDFLAGS = -tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)"

# The Lambda package has every command but leaves out what a function never
# uses, so that bootstrap stays under 11 MB and the zip under 4.5 MB
# (TestLambdaPackageSize checks both):
#   tgsync_lambda     Prometheus /metrics, the demo, and the SDK's credential
#                     providers beyond the environment (cmd/tgsync/variant_lambda.go)
#   nethttpomithttp2  net/http's bundled HTTP/2, which tgsync never speaks:
#                     the status server is plain HTTP, and the AWS APIs it
#                     calls answer HTTP/1.1
#   -l                no inlining in github.com/... and go.yaml.in/... (the
#                     SDK, DNS, YAML and tgsync's own code), which waits on
#                     the network, not the CPU; the standard library keeps it
PKGTAGS  := lambda.norpc,tgsync_lambda,nethttpomithttp2
PKGFLAGS = -tags $(PKGTAGS) -trimpath -buildvcs=false -gcflags=github.com/...=-l -gcflags=go.yaml.in/...=-l \
	-ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)"

.PHONY: all build package test clean FORCE

all: build

build:
	@mkdir -p $(DIST)
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(DIST)/tgsync ./cmd/tgsync

package: $(foreach a,$(ARCHS),$(DIST)/tgsync-$(a).zip)

# The Go build cache decides what to rebuild, so the zips are always
# remade (FORCE); an unchanged source makes them quickly and identically.
$(DIST)/tgsync-%.zip: FORCE
	@mkdir -p $(DIST)/$*
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build $(PKGFLAGS) -o $(DIST)/$*/bootstrap ./cmd/tgsync
	$(GO) run ./internal/tools/mkzip -o $@ bootstrap=$(DIST)/$*/bootstrap

test:
	$(GO) test -race ./...

clean:
	rm -rf $(DIST) internal/deploy/lambda

FORCE:

# make bench: the benchmark suite (test/bench/, and the Spot drain, interface
# event and Lambda cold start benchmarks of cmd/tgsync) as one Markdown table; needs
# moto_server and takes about a minute. Cheap benchmarks run for a
# second each; those that start processes or replay runs on moto run a
# fixed number of times; the describe budget's simulated hours run once.
# The raw output is kept in $(DIST)/bench.txt. A
# benchmark that misses its goal fails the target, after the table.
# docs/performance.md explains the figures.
BENCH_TIMED := ^Benchmark(Plan|Reconcile|DNSQueries|NodesPerRun)$$
BENCH_FIXED := ^Benchmark(APICalls|InterfaceAPICalls|Once|LambdaSteadyRun|Size)$$
BENCH_CMD   := ^Benchmark(DrainEvent|InterfaceEvent|LambdaColdStart)$$
BENCH_ONCE  := ^BenchmarkDescribeBudget$$

.PHONY: bench
bench:
	@mkdir -p $(DIST)
	@st=0; : > $(DIST)/bench.txt; \
	$(GO) test -run '^$$' -bench '$(BENCH_TIMED)' -benchmem ./test/bench/ >> $(DIST)/bench.txt 2>&1 || st=1; \
	$(GO) test -run '^$$' -bench '$(BENCH_FIXED)' -benchtime 10x ./test/bench/ >> $(DIST)/bench.txt 2>&1 || st=1; \
	$(GO) test -run '^$$' -bench '$(BENCH_ONCE)' -benchtime 1x ./test/bench/ >> $(DIST)/bench.txt 2>&1 || st=1; \
	$(GO) test -run '^$$' -bench '$(BENCH_CMD)' -benchtime 20x ./cmd/tgsync/ >> $(DIST)/bench.txt 2>&1 || st=1; \
	$(GO) build -o $(DIST)/benchtable ./internal/tools/benchtable && $(DIST)/benchtable < $(DIST)/bench.txt || st=1; \
	exit $$st

# make fuzz: run each fuzz target for FUZZTIME (at least a minute for a real
# look; CI runs each for a few seconds, which replays the seed corpora in
# testdata/fuzz and explores briefly). A crash is written to the package's
# testdata/fuzz/<target>/ and fails the target. FUZZTIME is a duration or a
# count of executions such as 20000x. Go 1.26 can end a duration with a
# spurious "context deadline exceeded" and no crasher (go.dev/issue/75804,
# fixed in Go 1.27); a count never races that deadline, so CI uses one.
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./ecsevent
	$(GO) test -run '^$$' -fuzz '^FuzzDispatch$$' -fuzztime $(FUZZTIME) ./cmd/tgsync
	$(GO) test -run '^$$' -fuzz '^FuzzExtract$$' -fuzztime $(FUZZTIME) ./dns
	$(GO) test -run '^$$' -fuzz '^FuzzLookupAnswer$$' -fuzztime $(FUZZTIME) ./dns
	$(GO) test -run '^$$' -fuzz '^FuzzParseEvent$$' -fuzztime $(FUZZTIME) ./eni

# make release VERSION=vX.Y.Z: what a release publishes, in $(DIST)
# (docs/release.md says how to cut one and how to check one):
#   tgsync_$(VERSION)_{linux,darwin}_{amd64,arm64}   the CLI, as make build
#                                    makes it, static (CGO_ENABLED=0), with
#                                    the version and the commit stamped,
#                                    carrying the arm64 Lambda zip for
#                                    tgsync deploy (-tags tgsync_bundle)
#   tgsync_$(VERSION)_lambda_{arm64,amd64}.zip        make package's zips
#   tgsync_$(VERSION)_image.tar      the container image for linux/amd64 and
#                                    linux/arm64, an OCI layout tarball
#                                    (internal/tools/mkimage)
#   <each of the above but the image>.cdx.json        its CycloneDX SBOM
#   SHA256SUMS                       over all of them
# VERSION must be a tag, vMAJOR.MINOR.PATCH or with -alpha.N, -beta.N or
# -rc.N (cmd/tgsync's releaseVersion says the same), and the tree clean:
# ALLOW_DIRTY=1 builds anyway, stamped <commit>-dirty, and tgsync version
# then says it is not a release build. The commit and its time (the image's
# date) are read from git here, so that the builds themselves read no VCS
# state, and the builds use the Go release that go.mod names
# (GOTOOLCHAIN), whatever Go runs make: the same commit and VERSION give
# byte-identical files (internal/tools/release's TestRelease checks).
RELEASE_VERSION_RE := ^v[0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)(\.[0-9]+)?)?$$
RELEASE_PLATFORMS  := linux_amd64 linux_arm64 darwin_amd64 darwin_arm64
IMAGE              ?= ghcr.io/tgsync/tgsync
SOURCE_URL         := https://github.com/tgsync/tgsync
CYCLONEDX          := github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
RELEASE_GO         := go$(shell sed -n 's/^go \([0-9][0-9.]*\)$$/\1/p' go.mod)
SHA256SUM          ?= $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo shasum -a 256)

REL       = $(DIST)/tgsync_$(VERSION)
REL_BINS  = $(foreach p,$(RELEASE_PLATFORMS),$(REL)_$(p))
REL_ZIPS  = $(foreach a,$(ARCHS),$(REL)_lambda_$(a).zip)
REL_SBOMS = $(addsuffix .cdx.json,$(REL_BINS) $(basename $(REL_ZIPS)))
REL_FILES = $(REL_BINS) $(REL_ZIPS) $(REL)_image.tar $(REL_SBOMS)
# make build's flags, and the commit; tgsync_bundle embeds $(BUNDLE), the
# arm64 zip of this release, which tgsync deploy uploads.
RELFLAGS  = -tags lambda.norpc,tgsync_bundle -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)"
BUNDLE    = internal/deploy/lambda/tgsync-arm64.zip
TOOLS     = $(abspath $(DIST))/.tools

.PHONY: release release-files
release:
	@echo '$(VERSION)' | grep -Eq '$(RELEASE_VERSION_RE)' || { \
	  echo "make release: VERSION=$(VERSION) is not a release tag: give VERSION=vMAJOR.MINOR.PATCH (or with -rc.N, -beta.N, -alpha.N)" >&2; exit 2; }
	@commit=$$(git rev-parse HEAD) && epoch=$$(git log -1 --format=%ct HEAD) || exit 2; \
	if [ -n "$$(git status --porcelain)" ]; then \
	  if [ '$(ALLOW_DIRTY)' != 1 ]; then \
	    echo "make release: the tree has uncommitted changes; commit or stash them (ALLOW_DIRTY=1 builds anyway, stamped $$commit-dirty)" >&2; exit 2; \
	  fi; \
	  commit=$$commit-dirty; \
	fi; \
	git tag --points-at HEAD | grep -qx '$(VERSION)' || \
	  echo "make release: HEAD is not tagged $(VERSION): the SBOMs will name a pseudo-version" >&2; \
	GOTOOLCHAIN=$(RELEASE_GO) $(MAKE) --no-print-directory release-files COMMIT=$$commit SOURCE_DATE_EPOCH=$$epoch

# release-files is make release's second half, with COMMIT and
# SOURCE_DATE_EPOCH set; run make release.
release-files: $(REL_FILES)
	rm -rf $(DIST)/.sbom-src
	cd $(DIST) && $(SHA256SUM) $(notdir $(REL_FILES)) > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

ifneq ($(filter release-files,$(MAKECMDGOALS)),)
ifeq ($(COMMIT)$(SOURCE_DATE_EPOCH),)
$(error run make release VERSION=..., which sets COMMIT and SOURCE_DATE_EPOCH)
endif
endif

$(REL_BINS): $(REL)_%: $(BUNDLE) FORCE
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=$(word 1,$(subst _, ,$*)) GOARCH=$(word 2,$(subst _, ,$*)) \
	  $(GO) build $(RELFLAGS) -o $@ ./cmd/tgsync

$(REL_ZIPS): $(REL)_lambda_%.zip: $(DIST)/tgsync-%.zip
	cp $< $@

# The zip the CLI embeds (internal/deploy/bundle_embed.go; git ignores it).
$(BUNDLE): $(DIST)/tgsync-arm64.zip
	@mkdir -p $(dir $@)
	cp $< $@

$(REL)_image.tar: $(REL)_linux_amd64 $(REL)_linux_arm64
	$(GO) run ./internal/tools/mkimage -o $@ -name $(IMAGE) -version $(VERSION) \
	  -revision $(COMMIT) -created $(SOURCE_DATE_EPOCH) -source $(SOURCE_URL) \
	  linux/amd64=$(REL)_linux_amd64 linux/arm64=$(REL)_linux_arm64

# The SBOMs: cyclonedx-gomod app reads the module graph as go build sees it
# for each platform and set of tags (darwin, say, links neither procfs nor
# x/net). It names the main module's version from git tags, with go-git,
# which cannot read a git worktree, so it reads a clone of HEAD, which also
# keeps uncommitted changes out. Built with -trimpath, the tool's own
# hashes in the SBOM depend only on the Go version and the host platform.
$(TOOLS)/cyclonedx-gomod: FORCE
	GOBIN=$(TOOLS) $(GO) install -trimpath $(CYCLONEDX)

$(DIST)/.sbom-src: FORCE
	rm -rf $@
	git clone --quiet --no-checkout . $@
	git -C $@ checkout --quiet --detach $(firstword $(subst -, ,$(COMMIT)))

SBOMFLAGS = app -json -std -licenses -noserial -notimestamp -main cmd/tgsync

$(REL)_%.cdx.json: $(TOOLS)/cyclonedx-gomod $(DIST)/.sbom-src
	cd $(DIST)/.sbom-src && CGO_ENABLED=0 GOOS=$(word 1,$(subst _, ,$*)) GOARCH=$(word 2,$(subst _, ,$*)) \
	  GOFLAGS=-tags=lambda.norpc $(TOOLS)/cyclonedx-gomod $(SBOMFLAGS) -output $(abspath $@) .

$(REL)_lambda_%.cdx.json: $(TOOLS)/cyclonedx-gomod $(DIST)/.sbom-src
	cd $(DIST)/.sbom-src && CGO_ENABLED=0 GOOS=linux GOARCH=$* \
	  GOFLAGS=-tags=$(PKGTAGS) $(TOOLS)/cyclonedx-gomod $(SBOMFLAGS) -output $(abspath $@) .
