// Package elbv2fake is an in-memory Elastic Load Balancing v2 world for what
// moto cannot show: target health that moves through initial, healthy,
// unhealthy, unused and draining on a clock the caller controls, the
// deregistration delay, AWS's API throttling, and injected faults
// (throttling bursts, 5xx, latency, hung calls, connection resets, batches
// failing partway, target groups that disappear).
//
// A World implements tgsync.TargetGroups directly, with the semantics of
// the real elbv2 adapter (batches of at most 200 targets per call, leading
// counts, the AvailabilityZone "all" retry of rule 7), so that the real
// tgsync.Reconciler runs on it in scenario tests, fault tests, benchmarks
// and the demo. It stands in for AWS, not for the adapter; what the SDK
// itself does (retries, client-side rate limiting) is not modelled, so
// every Describe, and every batch of Register and Deregister, is exactly
// one API call.
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
//
// The prober is asked again on every describe, so a node that dies turns
// unhealthy on the next one. Registering a draining target registers it
// again: AWS cancels the deregistration and the target is health checked
// from the start (initial). Attaching a detached group restarts health
// checking of all its targets.
//
// # Observation
//
// Calls counts API calls by AWS action name, Targets shows a group without
// making a call, and History lists every registration, deregistration,
// end of a drain and health verdict, so that a test can assert for
// instance that no target was deregistered while it was in the source.
package elbv2fake
