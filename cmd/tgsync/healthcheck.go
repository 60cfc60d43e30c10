package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// healthcheckFlags is 'tgsync healthcheck': a GET of the daemon's /healthz,
// for health checks that run a command inside the container (ECS), whose
// image has no shell and no HTTP client but tgsync. Exit 0 on 200, 1
// otherwise.
func healthcheckFlags(fs *flag.FlagSet) func(context.Context, *CLI, *globals, []string) int {
	target := fs.String("url", "http://127.0.0.1:9090/healthz", "the `URL` of the daemon's /healthz (run --listen)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	return func(ctx context.Context, c *CLI, _ *globals, args []string) int {
		if !noArgs(c, "healthcheck", args) {
			return exitUsage
		}
		u, err := url.Parse(*target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(c.Stderr, "tgsync healthcheck: --url %q: want an http:// URL such as http://127.0.0.1:9090/healthz\n", clip(*target, 200))
			return exitUsage
		}
		if *timeout <= 0 {
			fmt.Fprintf(c.Stderr, "tgsync healthcheck: --timeout %s: want a positive duration\n", *timeout)
			return exitUsage
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			fmt.Fprintf(c.Stderr, "tgsync healthcheck: %v\n", err)
			return exitUsage
		}
		// No proxy: the daemon is on this host or in this task.
		client := &http.Client{Transport: &http.Transport{Proxy: nil}}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintf(c.Stderr, "tgsync healthcheck: %v\n", err)
			return exitFailed
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		line := strings.TrimSpace(string(body))
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(c.Stderr, "tgsync healthcheck: %s: %s %s\n", u.Redacted(), resp.Status, clip(line, 200))
			return exitFailed
		}
		fmt.Fprintf(c.Stdout, "%s: %s %s\n", u.Redacted(), resp.Status, clip(line, 200))
		return exitOK
	}
}
