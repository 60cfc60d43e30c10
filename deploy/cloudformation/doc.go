// Package cloudformation holds the CloudFormation templates in this
// directory, tgsync.yaml, the Lambda function, and tgsync-daemon.yaml, the
// daemon as an ECS Fargate service (docs/deploy.md explains both), embedded
// for tgsync deploy, and their tests. The tests lint every template with
// cfn-lint, read them and check what a security review checks (no wildcard
// where a resource can be named, no managed policies), and deploy them to
// moto: they read back the function's environment and role and run the
// packaged bootstrap with exactly that environment until the target group
// holds the DNS answer, and run the daemon's container command with the
// task definition's environment the same way.
package cloudformation
