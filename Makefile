# tgsync: build, test and package the Lambda function.
#
#   make build     the tgsync binary for this machine, in $(DIST)/tgsync
#   make package   $(DIST)/tgsync-arm64.zip and $(DIST)/tgsync-amd64.zip,
#                  each holding one executable named bootstrap (provided.al2023),
#                  the Lambda variant (PKGTAGS below)
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

# The Lambda package has every command but leaves out what a function never
# uses, so that bootstrap stays under 10 MB and the zip under 4 MB
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
PKGFLAGS := -tags $(PKGTAGS) -trimpath -buildvcs=false -gcflags=github.com/...=-l -gcflags=go.yaml.in/...=-l \
	-ldflags "-s -w -X main.version=$(VERSION)"

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
	rm -rf $(DIST)

FORCE:

# make bench: the benchmark suite (test/bench/, and the Spot drain and Lambda
# cold start benchmarks of cmd/tgsync) as one Markdown table; needs
# moto_server and takes about a minute. Cheap benchmarks run for a
# second each; those that start processes or replay runs on moto run a
# fixed number of times. The raw output is kept in $(DIST)/bench.txt. A
# benchmark that misses its goal fails the target, after the table.
# docs/performance.md explains the figures.
BENCH_TIMED := ^Benchmark(Plan|Reconcile|DNSQueries)$$
BENCH_FIXED := ^Benchmark(APICalls|Once|LambdaSteadyRun|Size)$$
BENCH_CMD   := ^Benchmark(DrainEvent|LambdaColdStart)$$

.PHONY: bench
bench:
	@mkdir -p $(DIST)
	@st=0; : > $(DIST)/bench.txt; \
	$(GO) test -run '^$$' -bench '$(BENCH_TIMED)' -benchmem ./test/bench/ >> $(DIST)/bench.txt 2>&1 || st=1; \
	$(GO) test -run '^$$' -bench '$(BENCH_FIXED)' -benchtime 10x ./test/bench/ >> $(DIST)/bench.txt 2>&1 || st=1; \
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
