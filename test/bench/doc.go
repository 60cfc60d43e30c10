// Package bench measures tgsync as a whole: benchmarks that need several
// adapters together (the elbv2 adapter on the real SDK client, the S3
// store, the DNS resolver, the reconciler) and the built binaries. The
// package holds no code outside its tests; `make bench` runs the suite and
// prints one Markdown table, and docs/performance.md explains the figures.
//
// The AWS side is moto_server (through internal/testenv) where its wire
// protocol is what is measured, and elbv2fake behind the real elbv2
// adapter, with injected latency, where the time of a round trip to AWS
// matters, which moto on loopback cannot show. DNS is a dnstest server on loopback. Where a figure has a goal the
// benchmark fails when the goal is missed, so that a regression shows up
// as a failure, not as a number nobody reads.
//
// Without -bench, `go test ./test/bench/` runs only the unit tests of the
// helpers, in well under a second.
package bench
