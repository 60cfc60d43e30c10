package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tgsync/tgsync"
)

// capture is a testing.TB that keeps the errors reported to it instead of
// failing the test.
type capture struct {
	*testing.T
	mu   sync.Mutex
	errs []string
}

func (c *capture) Errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *capture) Error(args ...any) { c.Errorf("%s", fmt.Sprint(args...)) }

// TestChecksCatchWrongfulRemoval runs a reconciler whose policy removes a
// target at its first miss, with the checks holding it to the default
// policy: they must report the removal as wrongful, so that the suite's
// zero is a measurement.
func TestChecksCatchWrongfulRemoval(t *testing.T) {
	unsafe := tgsync.DefaultPolicy()
	unsafe.AfterMisses, unsafe.AfterDuration, unsafe.WaitForHealthy = 1, 0, 0
	c := &capture{T: t}
	e := newEnv(c, setup{unsafe: &unsafe})
	e.move(nodesBefore)
	e.settled()
	e.move(nodesAfter)
	e.step(nil)
	if e.wrongful != 2 {
		t.Errorf("the checks counted %d wrongful removals, want 2 (10.0.0.11 on two ports)", e.wrongful)
	}
	if !strings.Contains(strings.Join(c.errs, "\n"), "rule 2") {
		t.Errorf("no rule 2 breach reported; reported: %q", c.errs)
	}
}
