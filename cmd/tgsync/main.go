// Command tgsync keeps ELB target groups of type ip pointed at endpoints
// whose addresses move. One binary is the CLI, the daemon and, when
// AWS_LAMBDA_RUNTIME_API is set, the Lambda function.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		os.Exit(runLambda())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli := &CLI{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv}
	os.Exit(cli.Main(ctx, os.Args[1:]))
}
