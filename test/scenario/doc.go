// Package scenario is tgsync's randomized scenario suite. It has no code of
// its own: its tests drive the real Reconciler with the real DNS resolver
// against an in-process DNS server, a memstore and the in-memory ELB of
// elbv2/elbv2fake through hundreds of runs of random churn, failing health
// checks and faults, and check every safety rule after each run and the
// convergence of a fault-free tail. A failure logs its seed; one seed runs
// again with
//
//	go test ./test/scenario -run TestScenarioRandomChurn -scenario.seed=N -v
package scenario
