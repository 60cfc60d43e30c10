// Package faults is tgsync's fault suite. It has no code of its own: its
// tests run the real Reconciler, the real DNS resolver and the real state
// stores through the faults AWS, DNS, S3 and Lambda produce (throttling,
// 5xx, hung calls, connection resets, batches failing partway, DNS timeouts
// and bad answers, S3 conflicts and errors, deadlines arriving mid-run,
// overlapping runs, clocks that jump) and check after every run that nothing
// was wrongly removed, and after each fault that the target groups converge
// within a stated number of runs with no state lost.
//
// Each test records a row; docs/reliability.md holds the table of a real run:
//
//	go test ./test/faults -run . -count=1 -args -reliability.out=$PWD/docs/reliability.md
package faults
