// Package elbv2fake is an in-memory Elastic Load Balancing v2 world for what
// moto cannot show: target health that moves through initial, healthy,
// unhealthy, unused and draining on a clock the caller controls, the
// deregistration delay, AWS's API throttling, and injected faults
// (throttling bursts, 5xx, latency, hung calls, connection resets, batches
// failing partway, target groups that disappear).
//
// A World speaks the ELBv2 API: it implements elbv2.API, the part of the
// SDK client the elbv2 adapter calls (DescribeTargetHealth, RegisterTargets,
// DeregisterTargets, DescribeTargetGroups), with the SDK's input and output
// types, and answers as AWS does, errors in the shapes aws-sdk-go-v2 hands
// to its caller: the ValidationError that asks for an Availability Zone
// for an IP outside the VPC, InvalidTarget, TooManyTargets,
// TargetGroupNotFound, Throttling. Tests and the demo run the real adapter
// on it, elbv2.New(world, elbv2.Options{...}), under the real
// tgsync.Reconciler, so that batching and the Availability Zone rule
// (rule 7) are the adapter's own. The SDK client's middleware is not there:
// no retries (a fault is what the SDK hands its caller once its retries
// ran out) and no signing, so every call the adapter makes is exactly one
// call to the world.
//
// Targets are identified by ip:port: two ports of one IP are two targets,
// as in AWS (moto keeps one per IP).
//
// # Health
//
// Health is evaluated lazily from the world's clock whenever a group is
// described, following the states and reasons AWS documents:
//
//	when                                         | state    | reason
//	---------------------------------------------+----------+---------------------------------
//	registered, less than HealthyAfter ago       | initial  | Elb.RegistrationInProgress
//	after that, the Prober says true             | healthy  | (none)
//	after that, the Prober says false            | unhealthy| GroupSpec.UnhealthyReason (Target.Timeout)
//	group not attached to a load balancer        | unused   | Target.NotInUse
//	deregistered, less than DrainDelay ago       | draining | Target.DeregistrationInProgress
//	deregistered, DrainDelay passed              | gone     |
//	never registered, asked for by address       | unused   | Target.NotRegistered
//
// The prober is asked again on every describe, so a node that dies turns
// unhealthy on the next one. Registering a draining target registers it
// again: AWS cancels the deregistration and the target is health checked
// from the start (initial). Attaching a detached group restarts health
// checking of all its targets.
//
// # Observation
//
// Calls counts API calls by AWS action name (DescribeTargetGroups among
// them: the adapter asks once per group and process), Targets shows a
// group without making a call, and History lists every registration,
// deregistration, end of a drain and health verdict, so that a test can
// assert for instance that no target was deregistered while it was in the
// source.
package elbv2fake
