// Package cloudformation holds the tests of the CloudFormation templates in
// this directory (tgsync.yaml; docs/deploy.md explains it). It has no code
// of its own: the tests lint every template with cfn-lint, read tgsync.yaml
// and check what a security review checks (no wildcard where a resource can
// be named, no managed policies), and deploy it to moto, read back the
// function's environment and role, and run the packaged bootstrap with
// exactly that environment until the target group holds the DNS answer.
package cloudformation
