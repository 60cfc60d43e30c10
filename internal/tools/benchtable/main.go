// Command benchtable turns the output of `go test -bench` into Markdown, so
// that `make bench` prints one table and docs/performance.md can quote it.
// It reads one or more outputs, one after the other, from stdin.
//
// Each benchmark's figures are the medians over its runs (-count), with
// ns/op and B/op shown in readable units. Failed and skipped benchmarks are
// listed below the table with what they logged, and a failure makes the
// exit status 1, so that a missed goal fails `make bench` after the table
// was printed.
//
// Usage:
//
//	go test -run '^$' -bench . ./test/bench/ | go run ./internal/tools/benchtable
//	go run ./internal/tools/benchtable -group < bench.txt   # a table per benchmark
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	group := flag.Bool("group", false, "one table per top-level benchmark, a column per unit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchtable [-group] < go-test-bench-output\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	err := run(os.Stdin, out, *group)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	switch {
	case errors.Is(err, errFailed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
}

// errFailed reports that the input held failed benchmarks; the table was
// written all the same.
var errFailed = errors.New("benchmarks failed")

func run(in io.Reader, out io.Writer, group bool) error {
	rep, err := Parse(in)
	if err != nil {
		return err
	}
	if len(rep.Results) == 0 && len(rep.Failures) == 0 && len(rep.Skips) == 0 {
		return errors.New("no benchmark results in the input: was it `go test -bench` output?")
	}
	writeEnv(out, rep)
	if len(rep.Results) > 0 {
		if group {
			writeGrouped(out, rep)
		} else {
			writeFlat(out, rep)
		}
	}
	writeOutcomes(out, rep)
	if len(rep.Failures) > 0 {
		return errFailed
	}
	return nil
}
