package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tgsync/tgsync/internal/config"
)

func validateCommand(c *CLI, g *globals) *cobra.Command {
	var example, forStack bool
	cmd := &cobra.Command{
		Use:   "validate [flags]",
		Short: "check the config and report every problem with its key",
		Long: `Check the config without calling AWS or DNS, and report every problem and warning
with its key path and line. A value the example left in place that cannot work
(its sample target group ARNs) is a problem.`,
		Example: `  tgsync validate --example > tgsync.yaml   # every key, with its default
  tgsync validate --config tgsync.yaml
  tgsync validate --for-stack                # as the ConfigYaml of a CloudFormation stack
  tgsync validate -o json | jq '.problems[] | "\(.line): \(.key): \(.message)"'`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			if example {
				_, _ = c.Stdout.Write(config.Example())
				return nil
			}
			if forStack {
				return validateForStack(c, g)
			}
			return validate(c, g)
		},
		Annotations: map[string]string{annotationExitCodes: "  0  the config is valid (warnings leave it so)\n  2  the config is invalid or cannot be read"},
	}
	cmd.Flags().BoolVar(&example, "example", false, "print a commented example config, with every key at its default, and exit")
	cmd.Flags().BoolVar(&forStack, "for-stack", false, "check the config as the ConfigYaml of a CloudFormation stack (no state section: the stack adds it) and print the stack parameters it needs")
	configFlag(cmd, g)
	outputFlag(cmd, "text", "json prints {config, valid, bindings, spotDrainTargetGroups, problems, warnings}")
	return cmd
}

// validateReport is validate -o json.
type validateReport struct {
	Config                string        `json:"config"`
	Valid                 bool          `json:"valid"`
	Bindings              int           `json:"bindings"`
	SpotDrainTargetGroups int           `json:"spotDrainTargetGroups"`
	Problems              []problemJSON `json:"problems"`
	Warnings              []problemJSON `json:"warnings"`
}

// problemJSON is a config.Problem; key and line are left out when the
// problem has none (a file that cannot be read).
type problemJSON struct {
	Line    int    `json:"line,omitempty"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

func problemsJSON(ps []config.Problem) []problemJSON {
	out := make([]problemJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, problemJSON{Line: p.Line, Key: p.Path, Message: p.Message})
	}
	return out
}

func validate(c *CLI, g *globals) error {
	cfg, err := loadConfigInput(c, g)
	rep := validateReport{Config: g.config, Problems: []problemJSON{}, Warnings: []problemJSON{}}
	if err != nil {
		printConfigError(c, err)
		if g.output.json() {
			var ve *config.ValidationError
			if errors.As(err, &ve) {
				rep.Problems = problemsJSON(ve.Problems)
			} else {
				rep.Problems = []problemJSON{{Message: err.Error()}}
			}
			_ = writeJSON(c, rep)
		}
		return exit(exitUsage)
	}
	rep.Valid, rep.Bindings, rep.Warnings = true, len(cfg.Bindings), problemsJSON(cfg.Warnings)
	if cfg.SpotDrain != nil {
		rep.SpotDrainTargetGroups = len(cfg.SpotDrain.TargetGroupARNs)
	}
	// Warnings leave the config valid and the exit code 0.
	for _, w := range cfg.Warnings {
		fmt.Fprintf(c.Stderr, "tgsync: warning: %s\n", w.In(g.config))
	}
	if g.output.json() {
		return writeJSON(c, rep)
	}
	fmt.Fprintf(c.Stdout, "%s: valid: %d binding(s)", g.config, len(cfg.Bindings))
	if cfg.SpotDrain != nil {
		fmt.Fprintf(c.Stdout, ", spot drain for %d target group(s)", len(cfg.SpotDrain.TargetGroupARNs))
	}
	if n := len(cfg.Warnings); n > 0 {
		fmt.Fprintf(c.Stdout, ", %d warning(s)", n)
	}
	fmt.Fprintln(c.Stdout)
	return nil
}
