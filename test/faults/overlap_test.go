package faults

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tgsync/tgsync"
	"github.com/tgsync/tgsync/store/memstore"
)

// overlapStore makes runs overlap for certain: while armed for n runs, the
// first Load of each waits until all n have loaded, so that they plan on
// the same revision and all but one of their saves conflict. Later loads
// (the replans after a conflict) pass straight through.
type overlapStore struct {
	tgsync.Store
	mu      sync.Mutex
	want    int
	arrived int
	release chan struct{}
}

func (s *overlapStore) arm(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want, s.arrived, s.release = n, 0, make(chan struct{})
}

func (s *overlapStore) Load(ctx context.Context) (*tgsync.State, string, error) {
	s.mu.Lock()
	if s.want == 0 {
		s.mu.Unlock()
		return s.Store.Load(ctx)
	}
	s.arrived++
	release := s.release
	if s.arrived == s.want {
		s.want = 0
		close(release)
	}
	s.mu.Unlock()
	select {
	case <-release:
	case <-ctx.Done():
	}
	return s.Store.Load(ctx)
}

// TestOverlappingRuns runs two reconcilers at once every minute on one
// state, as overlapping Lambda invocations do (EventBridge delivers at least
// once, retries overlap with the next schedule): both describe, both plan on
// the same state, one save wins and the other gets a conflict, reloads and
// plans again (rule 8). With S3 on moto the conflict is S3's own 412
// Precondition Failed to an If-Match write; the memstore detects it the
// same way. The overlap lasts five runs and the answer moves in the first.
func TestOverlappingRuns(t *testing.T) {
	for _, world := range []string{"moto", "in-memory"} {
		for _, shared := range []bool{false, true} {
			name := "two reconcilers at once on one state"
			if shared {
				name += ", shared binding"
			}
			t.Run(fmt.Sprintf("%s/%s", world, name), func(t *testing.T) {
				t.Parallel()
				ov := &overlapStore{}
				s := setup{shared: shared, reconcilers: 2}
				p := play{before: nodesBefore, after: nodesAfter, move: moveDuring, world: "in-memory"}
				if world == "moto" {
					w := newS3World(t)
					s.store = func(tb testing.TB) (tgsync.Store, func() *tgsync.State) {
						st, read := w.setup(tb)
						ov.Store = st
						return ov, read
					}
					s.runTimeout = 5 * time.Second // moto answers S3 in Python
					p.world = "in-memory ELB, S3 on moto"
				} else {
					m := memstore.New()
					ov.Store = m
					s.store = func(testing.TB) (tgsync.Store, func() *tgsync.State) { return ov, m.Snapshot }
				}
				p.setup = s
				f := fault{area: "Overlap", name: name, runs: 5,
					on: func(e *env) {
						e.active = 2
						ov.arm(2)
					},
					off: func(e *env) {
						e.active = 1
						ov.arm(0)
					},
					fired: func(_ *env, o outcome) bool { return o.conflicts() > 0 },
				}
				runPlay(t, p, f)
			})
		}
	}
}
