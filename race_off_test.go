//go:build !race

package tgsync_test

// raceDetector is set in builds with -race, whose instrumentation changes
// what code allocates and makes it several times slower.
const raceDetector = false
