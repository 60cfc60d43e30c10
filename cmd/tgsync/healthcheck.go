package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { addCommand(healthcheckCommand) }

// healthcheckCommand is 'tgsync healthcheck': a GET of the daemon's
// /healthz, for health checks that run a command inside the container
// (ECS), whose image has no shell and no HTTP client but tgsync.
func healthcheckCommand(c *CLI, _ *globals) *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck [flags]",
		Short: "exit 0 when the daemon's /healthz answers 200 (a container health check)",
		Long: `GET the daemon's /healthz (run --listen) and exit 0 when it answers 200: the last
run is recent. For health checks that run a command in the container, such as ECS's:
the image has no shell and no HTTP client but tgsync.`,
		Example: `  tgsync healthcheck
  tgsync healthcheck --url http://127.0.0.1:9191/healthz --timeout 3s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return healthcheck(cmd.Context(), c, target, timeout)
		},
		Annotations: map[string]string{annotationExitCodes: "  0  /healthz answered 200\n  1  it answered otherwise, or not at all\n  2  usage error"},
	}
	cmd.Flags().StringVar(&target, "url", "http://127.0.0.1:9090/healthz", "the `URL` of the daemon's /healthz")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

func healthcheck(ctx context.Context, c *CLI, target string, timeout time.Duration) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErrorf("--url %q: want an http:// URL such as http://127.0.0.1:9090/healthz", clip(target, 200))
	}
	if timeout <= 0 {
		return usageErrorf("--timeout %s: want a positive duration", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return usageErrorf("--url: %v", err)
	}
	// No proxy: the daemon is on this host or in this task.
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return &exitStatus{code: exitFailed, msg: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	line := fmt.Sprintf("%s: %s %s", u.Redacted(), resp.Status, clip(strings.TrimSpace(string(body)), 200))
	if resp.StatusCode != http.StatusOK {
		return &exitStatus{code: exitFailed, msg: line}
	}
	fmt.Fprintln(c.Stdout, line)
	return nil
}
