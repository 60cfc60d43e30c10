package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/tgsync/tgsync/elbv2/elbv2fake"
)

// fault is one misbehaviour: on before each of its runs, off after.
type fault struct {
	area, name string
	runs       int
	on, off    func(e *env)
	// fired reports whether a run shows the fault; with everyRun every
	// run of the fault must, otherwise at least one (a fault on
	// DeregisterTargets shows only once a removal is due).
	fired    func(e *env, o outcome) bool
	everyRun bool
	// runErrOK lets a run fail as a whole (state not loaded or saved).
	runErrOK bool
	// check, when set, runs after each run of the fault.
	check func(e *env, o outcome)
	// notes, when set, adds to the report's state column.
	notes func() string
}

// movement is when a binding's answer moves relative to its fault.
type movement int

const (
	moveDuring movement = iota // at the fault's first run
	moveAfter                  // at the first run after it
	moveBefore                 // two runs before it: misses are counted when it starts
)

func (m movement) String() string {
	return [...]string{"during", "after", "before"}[m]
}

// play is a steady binding that moves around a fault.
type play struct {
	setup         setup
	before, after []netip.Addr
	move          movement
	// moving lists the bindings whose answer moves; nil means all.
	moving []int
	// world names the world in the report when the default (the ELB
	// backend's kind) does not say enough.
	world string
}

// the answers of most plays: three OpenSearch data nodes on two ports,
// one of which is replaced.
var (
	nodesBefore = ips(0, 11, 3) // 10.0.0.11-13
	nodesAfter  = ips(0, 12, 3) // 10.0.0.12-14
)

// runPlay holds the binding steady, runs the fault with the move, then
// recovers, checking every run; it records and returns the row.
func runPlay(t *testing.T, p play, f fault) (*env, row) {
	t.Helper()
	began := time.Now()
	e := newEnv(t, p.setup)
	e.move(p.before)
	e.settled()
	moveTo := func(answer []netip.Addr) {
		e.movedAt = e.runs + 1
		for i, b := range e.bindings {
			if p.moving == nil || slices.Contains(p.moving, i) {
				b.answer = slices.Clone(answer)
			}
		}
	}
	if p.move == moveBefore {
		moveTo(p.after)
		e.step(nil)
		e.step(nil)
	}
	fired, conflicts := 0, 0
	for i := 1; i <= f.runs; i++ {
		if i == 1 && p.move == moveDuring {
			moveTo(p.after)
		}
		o := e.step(&f)
		conflicts += o.conflicts()
		if f.check != nil {
			f.check(e, o)
		}
		switch {
		case f.fired == nil:
		case f.fired(e, o):
			fired++
		case o.spurious:
			t.Logf("fault run %d: %s hidden by a failure of this machine's own", i, f.name)
		case f.everyRun:
			t.Errorf("fault run %d: %s did not show (error: %v)", i, f.name, o.err(e.bindings[0].name))
		}
	}
	if f.fired != nil && fired == 0 && e.spurious == 0 {
		t.Errorf("%s never showed in %d runs", f.name, f.runs)
	}
	if p.move == moveAfter {
		moveTo(p.after)
	}
	converged, bound := e.recover(0)
	state := e.checkState()
	if conflicts > 0 {
		state += fmt.Sprintf(", %d conflicting saves replanned", conflicts)
	}
	if f.notes != nil {
		state += ", " + f.notes()
	}
	world := p.world
	if world == "" {
		world = e.elb.kind()
	}
	r := row{area: f.area, fault: f.name, world: world, move: p.move.String(), runs: f.runs,
		converge: converged, bound: bound, state: state, took: time.Since(began)}
	record(t, e, r)
	return e, r
}

// failedWith is a fired check: a binding failed with an error is accepts.
func failedWith(is func(error) bool) func(e *env, o outcome) bool {
	return func(e *env, o outcome) bool {
		for _, b := range e.bindings {
			for _, r := range o.of(b.name) {
				if r.Err != nil && is(r.Err) {
					return true
				}
			}
		}
		return false
	}
}

// apiCode is the AWS error code of err, as the SDK hands it over.
func apiCode(code string) func(error) bool {
	return func(err error) bool {
		var ae smithy.APIError
		return errors.As(err, &ae) && ae.ErrorCode() == code
	}
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

var (
	isDeadline  = isErr(context.DeadlineExceeded)
	isConnReset = isErr(syscall.ECONNRESET)
)

// elbFault injects an elbv2fake fault for each of its runs.
func elbFault(name string, kind elbv2fake.FaultKind, action string, runs int, everyRun bool, is func(error) bool) fault {
	return fault{
		area: "ELB", name: name, runs: runs, everyRun: everyRun, fired: failedWith(is),
		on: func(e *env) {
			if err := e.elb.(*memBackend).world.Inject(elbv2fake.Fault{Kind: kind, Action: action}); err != nil {
				e.t.Fatal(err)
			}
		},
		off: func(e *env) { e.elb.(*memBackend).world.ClearFaults() },
	}
}
