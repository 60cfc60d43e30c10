package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tgsync/tgsync/internal/config"
)

// Where the commands read their config from, first match wins: --config;
// TGSYNC_CONFIG (a file); TGSYNC_CONFIG_YAML (the YAML itself, for a
// container whose config comes in its environment, such as the ECS task
// of deploy/cloudformation/tgsync-daemon.yaml, whose image has no shell to
// write a file with); ./tgsync.yaml. The Lambda function reads the same
// two variables (config.FromEnv).

// inlineConfig reports whether the config is the YAML of
// TGSYNC_CONFIG_YAML, and refuses that variable next to TGSYNC_CONFIG.
func inlineConfig(c *CLI, g *globals) (bool, error) {
	if g.configSet || c.Getenv == nil || c.Getenv(config.EnvConfigYAML) == "" {
		return false, nil
	}
	if c.Getenv(config.EnvConfig) != "" {
		return false, fmt.Errorf("%s and %s are both set: set one of them, or give --config", config.EnvConfig, config.EnvConfigYAML)
	}
	return true, nil
}

// loadConfigInput parses the config the command line names. Problems name
// the file, or TGSYNC_CONFIG_YAML.
func loadConfigInput(c *CLI, g *globals) (*config.Config, error) {
	inline, err := inlineConfig(c, g)
	switch {
	case err != nil:
		return nil, err
	case !inline:
		return config.Load(g.config)
	}
	g.config = config.EnvConfigYAML // what logs and messages call it
	cfg, err := config.Parse([]byte(c.Getenv(config.EnvConfigYAML)))
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		return nil, ve.WithFile(config.EnvConfigYAML)
	}
	return cfg, err
}

// readConfigBytes returns the text of the config the command line names,
// for the checks that look at the text itself (validate --for-stack,
// deploy).
func readConfigBytes(c *CLI, g *globals) ([]byte, error) {
	inline, err := inlineConfig(c, g)
	switch {
	case err != nil:
		return nil, err
	case inline:
		g.config = config.EnvConfigYAML
		return []byte(c.Getenv(config.EnvConfigYAML)), nil
	}
	f, err := os.Open(g.config)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	// Parse refuses what is longer than its limit of 1 MiB.
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", g.config, err)
	}
	return data, nil
}
