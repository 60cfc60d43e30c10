//go:build race

package testenv

// RaceDetector is set in builds with -race, whose instrumentation changes
// what code allocates and makes it several times slower.
const RaceDetector = true
