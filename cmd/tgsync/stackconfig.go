package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/tgsync/tgsync/internal/config"
)

// validateForStack is validate --for-stack: the config as the ConfigYaml
// of a stack of deploy/cloudformation would run it (config.ParseForStack),
// at the size the shell passes it (ConfigYaml="$(cat tgsync.yaml)", which
// drops the trailing newlines), and the target group parameters the stack
// needs with it.
func validateForStack(c *CLI, g *globals) int {
	data, err := readConfigBytes(c, g)
	if err != nil {
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		return exitUsage
	}
	cfg, err := config.ParseForStack(data)
	if err == nil {
		err = config.CheckStackSize(bytes.TrimRight(data, "\n"))
	}
	if err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			err = ve.WithFile(g.config)
		}
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		return exitUsage
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(c.Stderr, "tgsync: warning: %s\n", w.In(g.config))
	}
	fmt.Fprintf(c.Stdout, "%s: valid for a stack: %d binding(s), %d of %d bytes", g.config, len(cfg.Bindings),
		len(bytes.TrimRight(data, "\n")), config.MaxStackConfig)
	if n := len(cfg.Warnings); n > 0 {
		fmt.Fprintf(c.Stdout, ", %d warning(s)", n)
	}
	fmt.Fprintln(c.Stdout)
	sync, spot := cfg.StackTargetGroups()
	fmt.Fprintf(c.Stdout, "ConfigTargetGroupArns=%s\n", strings.Join(sync, ","))
	if len(spot) > 0 {
		fmt.Fprintf(c.Stdout, "SpotTargetGroupArns=%s\n", strings.Join(spot, ","))
	}
	return exitOK
}
