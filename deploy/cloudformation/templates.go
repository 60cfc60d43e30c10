package cloudformation

import _ "embed" // the templates, for tgsync deploy

// Lambda is tgsync.yaml, the stack tgsync deploy creates and updates: a
// release binary carries the template of its own version.
//
//go:embed tgsync.yaml
var Lambda []byte

// Daemon is tgsync-daemon.yaml, the daemon as an ECS Fargate service.
//
//go:embed tgsync-daemon.yaml
var Daemon []byte
