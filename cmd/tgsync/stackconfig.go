package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/tgsync/tgsync/internal/config"
)

// stackReport is validate --for-stack -o json.
type stackReport struct {
	Config                string        `json:"config"`
	Valid                 bool          `json:"valid"`
	Bindings              int           `json:"bindings"`
	Bytes                 int           `json:"bytes"`
	MaxBytes              int           `json:"maxBytes"`
	ConfigTargetGroupArns []string      `json:"configTargetGroupArns"`
	SpotTargetGroupArns   []string      `json:"spotTargetGroupArns"`
	AssumeRoleArns        []string      `json:"assumeRoleArns"`
	NetworkInterfaces     bool          `json:"networkInterfaceSources"`
	Problems              []problemJSON `json:"problems"`
	Warnings              []problemJSON `json:"warnings"`
}

// validateForStack is validate --for-stack: the config as the ConfigYaml
// of a stack of deploy/cloudformation would run it (config.ParseForStack),
// at the size the shell passes it (ConfigYaml="$(cat tgsync.yaml)", which
// drops the trailing newlines), and the target group parameters the stack
// needs with it.
func validateForStack(c *CLI, g *globals) error {
	rep := stackReport{MaxBytes: config.MaxStackConfig, ConfigTargetGroupArns: []string{}, SpotTargetGroupArns: []string{}, AssumeRoleArns: []string{},
		Problems: []problemJSON{}, Warnings: []problemJSON{}}
	data, err := readConfigBytes(c, g)
	rep.Config = g.config
	var cfg *config.Config
	if err == nil {
		rep.Bytes = len(bytes.TrimRight(data, "\n"))
		if cfg, err = config.ParseForStack(data); err == nil {
			err = config.CheckStackSize(bytes.TrimRight(data, "\n"))
		}
	}
	if err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			ve = ve.WithFile(g.config)
			err, rep.Problems = ve, problemsJSON(ve.Problems)
		} else {
			rep.Problems = []problemJSON{{Message: err.Error()}}
		}
		fmt.Fprintf(c.Stderr, "tgsync: %v\n", err)
		if g.output.json() {
			_ = writeJSON(c, rep)
		}
		return exit(exitUsage)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(c.Stderr, "tgsync: warning: %s\n", w.In(g.config))
	}
	sync, spot := cfg.StackTargetGroups()
	rep.Valid, rep.Bindings, rep.Warnings = true, len(cfg.Bindings), problemsJSON(cfg.Warnings)
	rep.ConfigTargetGroupArns, rep.SpotTargetGroupArns = append(rep.ConfigTargetGroupArns, sync...), append(rep.SpotTargetGroupArns, spot...)
	rep.AssumeRoleArns, rep.NetworkInterfaces = append(rep.AssumeRoleArns, cfg.StackRoles()...), cfg.UsesInterfaces()
	if g.output.json() {
		return writeJSON(c, rep)
	}
	fmt.Fprintf(c.Stdout, "%s: valid for a stack: %d binding(s), %d of %d bytes", g.config, rep.Bindings, rep.Bytes, rep.MaxBytes)
	if n := len(cfg.Warnings); n > 0 {
		fmt.Fprintf(c.Stdout, ", %d warning(s)", n)
	}
	fmt.Fprintln(c.Stdout)
	fmt.Fprintf(c.Stdout, "ConfigTargetGroupArns=%s\n", strings.Join(sync, ","))
	if len(spot) > 0 {
		fmt.Fprintf(c.Stdout, "SpotTargetGroupArns=%s\n", strings.Join(spot, ","))
	}
	if len(rep.AssumeRoleArns) > 0 {
		fmt.Fprintf(c.Stdout, "AssumeRoleArns=%s\n", strings.Join(rep.AssumeRoleArns, ","))
	}
	if rep.NetworkInterfaces {
		fmt.Fprintln(c.Stdout, "NetworkInterfaceSources=true")
	}
	return nil
}
