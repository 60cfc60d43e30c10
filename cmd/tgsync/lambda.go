package main

import (
	"fmt"
	"os"
)

// runLambda is the Lambda entry point.
func runLambda() int {
	fmt.Fprintln(os.Stderr, "tgsync: Lambda mode is not built into this binary yet")
	return exitFailed
}
