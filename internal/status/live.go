package status

import (
	"context"
	"sync"
	"time"

	"github.com/tgsync/tgsync"
)

// Live keeps the latest run of a long-running process for its status
// page. The daemon calls Record after every run; Status builds the status
// at request time, so that countdowns move between runs.
type Live struct {
	mu     sync.Mutex
	specs  []BindingSpec
	now    func() time.Time
	state  *tgsync.State
	run    *tgsync.RunResult
	runErr error
}

// NewLive returns a Live for the configured bindings; now nil means
// time.Now.
func NewLive(specs []BindingSpec, now func() time.Time) *Live {
	if now == nil {
		now = time.Now
	}
	return &Live{specs: specs, now: now}
}

// Record keeps a run and the error Reconciler.Run returned with it. A run
// without state (it could not load any) keeps the state seen before.
func (l *Live) Record(res tgsync.RunResult, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if res.State != nil {
		l.state = res.State.Clone()
	}
	res.State = nil
	l.run, l.runErr = &res, err
}

// Status builds the current status.
func (l *Live) Status(context.Context) (Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Build(Input{Bindings: l.specs, State: l.state, Run: l.run, RunErr: l.runErr, Now: l.now()}), nil
}
