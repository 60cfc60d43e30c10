package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgsync/tgsync/internal/testenv"
)

// TestDeployRefusesBadInput checks that what cannot work is refused with
// exit 2 before anything is created: no stack, no code bucket. A config
// with its own state section deployed fine before and then failed every
// run with "state: key is set twice".
func TestDeployRefusesBadInput(t *testing.T) {
	w := newDeployWorld(t)
	const otherRegion = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/eu/0123456789abcdef"
	const otherAccount = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/other/0123456789abcdef"
	binding := func(arn string) string {
		return "bindings:\n  - name: web\n    source: {dns: " + deployWeb + "}\n    targetGroupArn: " + arn + "\n    ports: [443]\n"
	}
	notZip := filepath.Join(w.dir, "bootstrap")
	if err := os.WriteFile(notZip, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := w.config(t, "good.yaml", false, "")
	cases := []struct {
		name   string
		config string // the config's text; "" uses good
		args   []string
		want   string
	}{
		{"the config sets state", binding(w.groups[0]) + "state:\n  s3: s3://my-bucket/tgsync/\n", nil,
			":6: state: leave the state section out of a stack's config"},
		{"a target group in another Region", binding(otherRegion), nil, "the target groups are in eu-west-1, and AWS_REGION (or the profile) says us-east-1"},
		{"a target group in another account", binding(otherAccount), nil, "the target groups are in account 111122223333, and these credentials are of account 123456789012"},
		{"a package that is not a zip", "", []string{"--package", notZip}, "is not a zip"},
		{"a parameter without a value", "", []string{"--param", "Metrics"}, `--param "Metrics": want KEY=VALUE`},
		{"a parameter deploy sets", "", []string{"--param", "CodeS3Key=x.zip"}, "--param CodeS3Key: tgsync deploy sets it"},
		{"--delete-state alone", "", []string{"--delete-state"}, "--delete-state goes with --delete"},
		{"--delete with --dry-run", "", []string{"--delete", "--dry-run"}, "--delete takes --stack and --delete-state only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stack := testenv.UniqueName("tgsync-bad")
			path := good
			if tc.config != "" {
				path = filepath.Join(w.dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
				if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			res := w.deploy(t, stack, path, tc.args...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("want exit 2 and %q, got %s", tc.want, res)
			}
			if st := w.stack(t, stack); st != nil {
				t.Errorf("stack %s was created: %s", stack, st.status)
			}
			if w.bucketExists(t, w.codeBucket) {
				t.Errorf("the code bucket %s was created", w.codeBucket)
			}
		})
	}
	// A build that make release did not make carries no package.
	res := w.cli(t, "deploy", "--config", good, "--stack", testenv.UniqueName("tgsync-bad"))
	if res.code != exitUsage || !strings.Contains(res.stderr, "this tgsync carries no Lambda package") ||
		!strings.Contains(res.stderr, "--package dist/tgsync-arm64.zip") {
		t.Errorf("deploy without --package in a development build: %s", res)
	}
}
