# tgsync: build, test and package the Lambda function.
#
#   make build     the tgsync binary for this machine, in $(DIST)/tgsync
#   make package   $(DIST)/tgsync-arm64.zip and $(DIST)/tgsync-amd64.zip,
#                  each holding one executable named bootstrap (provided.al2023)
#   make test      go test -race ./...
#   make clean     remove $(DIST)
#
# Packages are reproducible: the same source and VERSION give byte-identical
# zips (no VCS stamping, trimmed paths, fixed zip timestamps and modes).

GO      ?= go
DIST    ?= dist
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
ARCHS   := arm64 amd64

BUILDFLAGS := -tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$(VERSION)"

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
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build $(BUILDFLAGS) -o $(DIST)/$*/bootstrap ./cmd/tgsync
	$(GO) run ./internal/tools/mkzip -o $@ bootstrap=$(DIST)/$*/bootstrap

test:
	$(GO) test -race ./...

clean:
	rm -rf $(DIST)

FORCE:
