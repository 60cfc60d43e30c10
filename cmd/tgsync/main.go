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

// version and commit are set at build time with -ldflags "-X main.version=...
// -X main.commit=...": make release sets both (the commit from git, so that
// the build itself reads no VCS state and stays reproducible); make build
// and make package set the version only.
var (
	version = "dev"
	commit  = ""
)

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		os.Exit(runLambda())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli := &CLI{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv}
	os.Exit(cli.Main(ctx, os.Args[1:]))
}
