package scheduler_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/scheduler/schedulertest"
)

func TestFits(t *testing.T) {
	t.Parallel()
	nodes := []scheduler.Node{{ID: "a", CPU: 2}, {ID: "b", CPU: 1}}
	tests := []struct {
		name    string
		loads   map[string]float64
		waiting []scheduler.Waiting
		want    []string
	}{
		{"no room", map[string]float64{"a": 2, "b": 1}, []scheduler.Waiting{{"j1", 0.5}}, nil},
		{"in order, each reserving", nil, []scheduler.Waiting{{"j1", 1.5}, {"j2", 1}, {"j3", 1}}, []string{"j1", "j2"}},
		{"a smaller job passes a big one", map[string]float64{"a": 1.5}, []scheduler.Waiting{{"big", 1.5}, {"small", 0.5}}, []string{"small"}},
		{"fills two nodes", nil, []scheduler.Waiting{{"j1", 1}, {"j2", 1}, {"j3", 1}, {"j4", 1}}, []string{"j1", "j2", "j3"}},
		{"nothing waits", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loads := maps.Clone(tt.loads)
			got := scheduler.Fits(nodes, loads, tt.waiting)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Fits = %v, want %v", got, tt.want)
			}
			if fmt.Sprint(loads) != fmt.Sprint(tt.loads) {
				t.Fatalf("Fits changed its loads: %v", loads)
			}
		})
	}
}

// queueJobs creates n jobs that find no room, so that they wait in
// queued_jobs, and lets the scheduler see them once.
func (f *fixture) queueJobs(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("q%05d", i)
		f.createJob(t, ids[i])
		f.reconcile(t, ids[i])
	}
	if q, _ := f.store.QueuedJobs(context.Background()); len(q) != n {
		t.Fatalf("%d jobs queued, want %d", len(q), n)
	}
	f.sched.Tick(context.Background())
	return ids
}

// commands is the number of Redis commands run since the last call.
func (f *fixture) commands(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	info, err := f.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || name == "info" || name == "config|resetstat" {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.Atoi(calls)
		total += n
	}
	return total
}

// A backlog of waiting jobs costs the idle scheduler the same few commands
// a second, however long it is: jobs are retried on a capacity signal, not
// polled.
func TestIdleQueueCostDoesNotGrowWithItsLength(t *testing.T) {
	t.Parallel()
	const ticks = 5
	cost := map[int]int{}
	for _, n := range []int{10, 200} {
		f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "tiny", CPU: 0.05}))
		f.queueJobs(t, n)
		f.commands(t)
		for range ticks {
			f.sched.Tick(context.Background())
		}
		cost[n] = f.commands(t)
	}
	if cost[200] != cost[10] || cost[10] > 3*ticks {
		t.Fatalf("commands over %d idle ticks: %d with 10 waiting jobs, %d with 200; want the same few", ticks, cost[10], cost[200])
	}
}

// oneJobNode has room for one sample job, not two.
func oneJobNode(t *testing.T, id string) scheduler.Node {
	return scheduler.Node{ID: id, CPU: 1.5 * jobspec.EstimateCost(sampleSpec(t)).CPU}
}

func TestWaitingJobsArePlacedWhenCapacityAppears(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		appear func(t *testing.T, f *fixture) // makes room for one job, with its signal
	}{
		{"a node comes up", func(t *testing.T, f *fixture) {
			f.driver.AddNode(oneJobNode(t, "new"))
			f.sched.OnDriverEvent(ctx, scheduler.Event{Kind: scheduler.EventNodeUp, NodeID: "new"})
		}},
		{"another scheduler stops a job", func(t *testing.T, f *fixture) {
			f.setState(t, "running", jobspec.StateStopping)
			if err := f.newScheduler(t, "s2").ReconcileJob(ctx, "running"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a job fails", func(t *testing.T, f *fixture) {
			_, err := f.store.UpdateJob(ctx, "running", func(j *jobspec.LiveJob) error {
				j.Time_scheduled = time.Now().Add(-time.Hour)
				j.Placement_attempts = 2 // the fixture's MaxAttempts: it fails
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			f.reconcile(t, "running")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, schedulertest.NewDriver(oneJobNode(t, "a")))
			f.createJob(t, "running")
			f.reconcile(t, "running")
			ids := f.queueJobs(t, 3)
			other := f.newScheduler(t, "s3")
			other.Tick(ctx) // its first look at the queue
			tt.appear(t, f)
			f.sched.Tick(ctx)
			other.Tick(ctx)
			j := f.job(t, ids[0])
			if j.Assigned_worker_id == "" || f.driver.Placed(ids[0], j.Placement_generation) != 1 {
				t.Fatalf("first waiting job: %s on %q, placed %d times", j.State, j.Assigned_worker_id, f.driver.Placed(ids[0], j.Placement_generation))
			}
			if q, _ := f.store.QueuedJobs(ctx); !slices.Equal(q, ids[1:]) {
				t.Fatalf("queued_jobs = %v, want %v", q, ids[1:])
			}
		})
	}
}

// A signal that was missed (here: a node added with no event) delays the
// waiting jobs until the queue sweep, and no longer.
func TestQueueSweepCatchesAMissedSignal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "tiny", CPU: 0.05}))
	now := time.Now()
	f.sched.SetClock(func() time.Time { return now })
	ids := f.queueJobs(t, 2)
	f.driver.AddNode(scheduler.Node{ID: "big", CPU: 8})
	f.sched.Tick(ctx)
	if q, _ := f.store.QueuedJobs(ctx); len(q) != 2 {
		t.Fatalf("jobs were polled with no signal: queued_jobs = %v", q)
	}
	now = now.Add(scheduler.DefaultQueueSweepInterval)
	f.sched.Tick(ctx)
	f.wantPlaced(t, ids, "big", "after the queue sweep")
}

// A Redis outage loses no waiting job, and the first look after it tries
// the queue: a change during the outage may not have been counted.
func TestQueueTriedAfterRedisOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.StartPersistent(t)
	f := newFixtureOn(t, srv, schedulertest.NewDriver(scheduler.Node{ID: "tiny", CPU: 0.05}))
	ids := f.queueJobs(t, 2)
	srv.Stop()
	f.sched.Tick(ctx)
	srv.Restart(t)
	f.driver.AddNode(scheduler.Node{ID: "big", CPU: 8})
	f.sched.Tick(ctx)
	f.wantPlaced(t, ids, "big", "after the outage")
}

// wantPlaced fails unless every job in ids is placed on node.
func (f *fixture) wantPlaced(t *testing.T, ids []string, node, when string) {
	t.Helper()
	for _, id := range ids {
		if j := f.job(t, id); j.Assigned_worker_id != node {
			t.Fatalf("%s %s: %s on %q, want %s", id, when, j.State, j.Assigned_worker_id, node)
		}
	}
}

// The sweep reads the records of at most 1,000 waiting jobs, in turn: a
// waiting job whose stop command was lost is stopped when its turn comes.
func TestSweepRechecksWaitingJobsInTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "tiny", CPU: 0.05}))
	const n = 1001
	for i := range n {
		id := fmt.Sprintf("w%04d", i)
		f.createJob(t, id)
		if err := f.store.Enqueue(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprintf("w%04d", n-1)
	f.setState(t, last, jobspec.StateStopping) // and its command is lost
	f.sched.Reconcile(ctx)
	if j := f.job(t, last); j.State != jobspec.StateStopping {
		t.Fatalf("the first sweep read the 1,001st waiting job: %s", j.State)
	}
	f.sched.Reconcile(ctx)
	if j := f.job(t, last); j.State != jobspec.StateStopped {
		t.Fatalf("after its turn: %s, want stopped", j.State)
	}
	if q, _ := f.store.QueuedJobs(ctx); len(q) != n-1 || slices.Contains(q, last) {
		t.Fatalf("%d jobs queued, want %d without the stopped one", len(q), n-1)
	}
}
