package scheduler_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/scheduler/schedulertest"
	"github.com/ezlivestreaming/ezlive/store"
)

// createJobs creates n jobs named prefix0, prefix1, …
func (f *fixture) createJobs(t *testing.T, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%03d", prefix, i)
		f.createJob(t, ids[i])
	}
	return ids
}

// reconcileAll reconciles ids in batches of size and fails on any error.
func reconcileAll(t *testing.T, s *scheduler.Scheduler, ids []string, size int) {
	t.Helper()
	for batch := range slices.Chunk(ids, size) {
		for id, err := range s.ReconcileJobs(context.Background(), batch) {
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
	}
}

// wantPlacedOnce checks that the first placed of ids run their first
// generation, started once at the driver, and that the others wait in
// queued_jobs (in any order), never started; and that each node's reserved cores are
// exactly the shares of the jobs recorded on it, within its capacity.
func (f *fixture) wantPlacedOnce(t *testing.T, ids []string, nodes []scheduler.Node, placed int) {
	t.Helper()
	cost := jobspec.EstimateCost(sampleSpec(t)).CPU
	on, waiting := map[string]int{}, []string{}
	for _, id := range ids {
		j := f.job(t, id)
		if j.Assigned_worker_id == "" && f.driver.Starts(id) == 0 {
			waiting = append(waiting, id)
			continue
		}
		if j.Placement_generation != 1 || f.driver.Starts(id) != 1 || f.driver.Placed(id, 1) != 1 || j.Assigned_worker_id == "" {
			t.Fatalf("%s: %s on %q, generation %d, started %d times", id, j.State, j.Assigned_worker_id, j.Placement_generation, f.driver.Starts(id))
		}
		on[j.Assigned_worker_id]++
	}
	q, _ := f.store.QueuedJobs(context.Background())
	if slices.Sort(q); len(waiting) != len(ids)-placed || !slices.Equal(q, waiting) {
		t.Fatalf("%d of %d jobs placed, want %d; queued_jobs %v, want %v", len(ids)-len(waiting), len(ids), placed, q, waiting)
	}
	loads, err := f.store.Loads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		l := loads[n.ID]
		for id := range l.Jobs {
			if f.job(t, id).Assigned_worker_id != n.ID {
				t.Fatalf("node %s holds a share of %s, placed elsewhere", n.ID, id)
			}
		}
		if len(l.Jobs) != on[n.ID] || math.Abs(l.CPU-float64(on[n.ID])*cost) > 1e-6 || l.CPU > n.CPU+1e-9 {
			t.Fatalf("node %s (%.2f cores): %d shares, %.4f cores reserved; %d jobs placed on it", n.ID, n.CPU, len(l.Jobs), l.CPU, on[n.ID])
		}
	}
}

// Three schedulers handle the same burst of 300 jobs at once, in batches,
// each in its own order, onto nodes with room for 248: each job is placed
// once or waits, and no node is over-committed although each scheduler
// decides on its own snapshots.
func TestSchedulersShareABurst(t *testing.T) {
	t.Parallel()
	cost := jobspec.EstimateCost(sampleSpec(t)).CPU
	var nodes []scheduler.Node
	for i := range 4 {
		nodes = append(nodes, scheduler.Node{ID: fmt.Sprint("n", i), CPU: 62.5 * cost})
	}
	f := newFixture(t, schedulertest.NewDriver(nodes...))
	ids := f.createJobs(t, "burst", 300)
	var scheds []*scheduler.Scheduler
	for _, name := range []string{"s1", "s2", "s3"} { // default start timeout: no heartbeat is due
		scheds = append(scheds, f.newSchedulerWith(t, scheduler.Config{Instance: name, Driver: f.driver}))
	}
	var wg sync.WaitGroup
	for i, s := range scheds {
		order := append(slices.Clone(ids[i*100:]), ids[:i*100]...)
		wg.Go(func() {
			for batch := range slices.Chunk(order, 10) {
				s.ReconcileJobs(context.Background(), batch) // a job another holds may be left busy
			}
		})
	}
	wg.Wait()
	reconcileAll(t, scheds[0], ids, 10) // the redelivery of anything left busy
	f.wantPlacedOnce(t, ids, nodes, 248)
}

// A batch larger than the room there is places what fits, in order, and
// leaves the rest waiting in queued_jobs with the reason; they are placed
// when capacity appears.
func TestBatchWaitsWhenCapacityRunsOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cost := jobspec.EstimateCost(sampleSpec(t)).CPU
	small := scheduler.Node{ID: "a", CPU: 3.5 * cost}
	f := newFixture(t, schedulertest.NewDriver(small))
	f.sched = f.newSchedulerWith(t, scheduler.Config{Instance: "s1", Driver: f.driver}) // default start timeout
	ids := f.createJobs(t, "j", 6)
	reconcileAll(t, f.sched, ids, 6)
	for i, id := range ids {
		j := f.job(t, id)
		if placed := j.Assigned_worker_id != ""; placed != (i < 3) {
			t.Fatalf("%s: %s on %q (%s)", id, j.State, j.Assigned_worker_id, j.State_reason)
		}
		if i >= 3 && (j.State != jobspec.StateCreated || j.State_reason == "test") {
			t.Fatalf("%s waits as %s: %q", id, j.State, j.State_reason)
		}
	}
	if q, _ := f.store.QueuedJobs(ctx); !slices.Equal(q, ids[3:]) {
		t.Fatalf("queued_jobs = %v, want %v", q, ids[3:])
	}
	big := scheduler.Node{ID: "b", CPU: 3.5 * cost}
	f.driver.AddNode(big)
	f.sched.OnDriverEvent(ctx, scheduler.Event{Kind: scheduler.EventNodeUp, NodeID: "b"})
	f.sched.Tick(ctx)
	f.wantPlacedOnce(t, ids, []scheduler.Node{small, big}, 6)
}

// cancelling is a driver whose Place cancels the scheduler's context at its
// nth call, as a scheduler killed mid-batch: that call and every later one
// fail.
type cancelling struct {
	*schedulertest.Driver
	n      int32
	calls  atomic.Int32
	cancel context.CancelFunc
}

func (d *cancelling) Place(ctx context.Context, p scheduler.Placement) error {
	if d.calls.Add(1) >= d.n {
		d.cancel()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return d.Driver.Place(ctx, p)
}

// A scheduler stopped in the middle of a batch leaves nothing another
// cannot finish: a second scheduler, handling the redelivered commands and
// then its sweep, places every job once, and no reservation leaks. The
// last case is a scheduler that died between reserving a job's cores and
// recording its placement.
func TestSchedulerStoppedMidBatch(t *testing.T) {
	t.Parallel()
	cost := jobspec.EstimateCost(sampleSpec(t)).CPU
	nodes := []scheduler.Node{{ID: "a", CPU: 40 * cost}, {ID: "b", CPU: 40 * cost}}
	for _, stopAt := range []int32{1, 25, 0} {
		t.Run(fmt.Sprint("at Place call ", stopAt), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, schedulertest.NewDriver(nodes...))
			ids := f.createJobs(t, "j", 50)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if stopAt > 0 {
				first := f.newSchedulerWith(t, scheduler.Config{Instance: "s1", Driver: &cancelling{Driver: f.driver, n: stopAt, cancel: cancel}})
				first.ReconcileJobs(ctx, ids)
			} else { // reserved on a, never recorded, out of queued_jobs
				if _, err := f.store.ReservePlacements(ctx, []store.Reservation{{Node: "a", JobID: ids[0], CPU: cost, Capacity: nodes[0].CPU}}); err != nil {
					t.Fatal(err)
				}
			}
			second := f.newSchedulerWith(t, scheduler.Config{Instance: "s2", Driver: f.driver}) // default start timeout
			second.SetClock(func() time.Time { return time.Now().Add(5 * time.Second) })        // past placeGrace
			reconcileAll(t, second, ids[1:], 10)
			second.Reconcile(context.Background())
			f.wantPlacedOnce(t, ids, nodes, len(ids))
		})
	}
}
