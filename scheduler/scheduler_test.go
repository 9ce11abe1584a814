package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/drm"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/scheduler"
	"github.com/ezlivestreaming/ezlive/scheduler/schedulertest"
	"github.com/ezlivestreaming/ezlive/store"
)

type fixture struct {
	rdb    *redis.Client
	store  *store.Store
	driver *schedulertest.Driver
	keys   *drm.KeyService
	sched  *scheduler.Scheduler
}

func newFixture(t testing.TB, d *schedulertest.Driver) *fixture {
	t.Helper()
	return newFixtureOn(t, redistest.Start(t), d)
}

func newFixtureOn(t testing.TB, srv *redistest.Server, d *schedulertest.Driver) *fixture {
	t.Helper()
	rdb := srv.Client(t)
	f := &fixture{rdb: rdb, store: store.New(rdb), driver: d, keys: drm.NewKeyService(rdb, nil)}
	f.sched = f.newScheduler(t, "s1")
	return f
}

func (f *fixture) newScheduler(t testing.TB, name string) *scheduler.Scheduler {
	return f.newSchedulerWith(t, scheduler.Config{Instance: name, Driver: f.driver, StartTimeout: time.Second})
}

// newSchedulerWith is a scheduler of the fixture's store configured as cfg
// says, with the fixture's other settings.
func (f *fixture) newSchedulerWith(t testing.TB, cfg scheduler.Config) *scheduler.Scheduler {
	cfg.Store, cfg.Keys, cfg.Logger = f.store, f.keys, slog.New(slog.DiscardHandler)
	cfg.HeartbeatTimeout, cfg.MaxAttempts = time.Second, 2
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sampleSpec(t testing.TB) jobspec.Spec {
	t.Helper()
	body, err := os.ReadFile("../jobspec/testdata/sample_live_job.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, _, err := jobspec.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func (f *fixture) createJob(t *testing.T, id string) {
	t.Helper()
	job := &jobspec.LiveJob{Id: id, StreamKey: "k" + id, Spec: sampleSpec(t), Time_created: time.Now()}
	job.SetState(jobspec.StateCreated, "test", time.Now())
	if err := f.store.CreateJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) job(t *testing.T, id string) *jobspec.LiveJob {
	t.Helper()
	j, err := f.store.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) setState(t *testing.T, id string, st jobspec.State) {
	t.Helper()
	_, err := f.store.UpdateJob(context.Background(), id, func(j *jobspec.LiveJob) error {
		j.SetState(st, "test", time.Now())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) reconcile(t *testing.T, id string) {
	t.Helper()
	if err := f.sched.ReconcileJob(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) heartbeat(t *testing.T, id string, at time.Time) {
	t.Helper()
	j := f.job(t, id)
	_, err := f.store.RecordHeartbeat(context.Background(), store.HeartbeatReport{
		JobID: id, Generation: j.Placement_generation, IngestAddr: "127.0.0.1:1", Time: at})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) load(t *testing.T, node string) store.Load {
	t.Helper()
	loads, err := f.store.Loads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return loads[node]
}

func TestCreatePlacesOnLeastLoadedNode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 2}, scheduler.Node{ID: "b", CPU: 4}))
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	j := f.job(t, "j1")
	if j.State != jobspec.StateScheduled || j.Assigned_worker_id != "b" || j.Placement_generation != 1 {
		t.Fatalf("job after placement: state %s node %q gen %d", j.State, j.Assigned_worker_id, j.Placement_generation)
	}
	if r, ok := f.driver.Placement("j1"); !ok || r.NodeID != "b" {
		t.Fatalf("driver placement %+v %v", r, ok)
	}
	want := jobspec.EstimateCost(j.Spec).CPU
	if got := f.load(t, "b").Jobs["j1"]; math.Abs(got-want) > 1e-9 {
		t.Fatalf("load of j1 on b = %v, want %v", got, want)
	}
	tok, _ := f.store.UploadToken(context.Background(), "j1")
	if tok == "" {
		t.Fatal("no upload token minted for the placement")
	}
	f.reconcile(t, "j1") // a repeated command changes nothing
	if got := f.driver.Placed("j1", 1); got != 1 {
		t.Fatalf("placed %d times", got)
	}
}

func TestNoCapacityWaitsInQueue(t *testing.T) {
	t.Parallel()
	d := schedulertest.NewDriver(scheduler.Node{ID: "tiny", CPU: 0.05})
	f := newFixture(t, d)
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	j := f.job(t, "j1")
	if j.State != jobspec.StateCreated || j.State_reason == "" {
		t.Fatalf("state %s reason %q", j.State, j.State_reason)
	}
	queued, _ := f.store.QueuedJobs(context.Background())
	if fmt.Sprint(queued) != "[j1]" {
		t.Fatalf("queued_jobs = %v", queued)
	}
	d.AddNode(scheduler.Node{ID: "big", CPU: 8})
	f.reconcile(t, "j1")
	if j := f.job(t, "j1"); j.State != jobspec.StateScheduled || j.Assigned_worker_id != "big" {
		t.Fatalf("after capacity appeared: %s on %q", j.State, j.Assigned_worker_id)
	}
	if queued, _ := f.store.QueuedJobs(context.Background()); len(queued) != 0 {
		t.Fatalf("still queued: %v", queued)
	}
}

func TestRefusedPlacementRecordsReason(t *testing.T) {
	t.Parallel()
	d := schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 2})
	const refusal = "Constraint ${node.unique.id} filtered 1 node"
	d.Refuse(refusal)
	f := newFixture(t, d)
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	j := f.job(t, "j1")
	if j.State != jobspec.StateCreated || j.State_reason != "waiting for capacity: the cluster refused the placement: "+refusal {
		t.Fatalf("state %s reason %q", j.State, j.State_reason)
	}
	if l := f.load(t, "a"); len(l.Jobs) != 0 {
		t.Fatalf("refused placement kept its load: %+v", l)
	}
}

func TestStopReleasesAndDeleteForgetsKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 2}))
	f.createJob(t, "j1")
	if _, err := f.keys.Ensure(context.Background(), "j1", drm.Protection{Scheme: drm.SchemeCENC}); err != nil {
		t.Fatal(err)
	}
	f.reconcile(t, "j1")
	f.setState(t, "j1", jobspec.StateStopping)
	f.reconcile(t, "j1")
	j := f.job(t, "j1")
	if j.State != jobspec.StateStopped || j.Time_stopped.IsZero() {
		t.Fatalf("after stop: %s", j.State)
	}
	if _, ok := f.driver.Placement("j1"); ok {
		t.Fatal("transcoder still placed after stop")
	}
	if l := f.load(t, "a"); len(l.Jobs) != 0 {
		t.Fatalf("load not released: %+v", l)
	}
	if err := f.store.AuthorizeUpload(context.Background(), "j1", "anything"); err == nil {
		t.Fatal("uploads still authorized after stop")
	}
	f.setState(t, "j1", jobspec.StateDeleting)
	f.reconcile(t, "j1")
	if _, err := f.store.Job(context.Background(), "j1"); jobspec.ErrorCode(err) != jobspec.ENOTFOUND {
		t.Fatalf("record survived delete: %v", err)
	}
	if _, err := f.keys.Key(context.Background(), "j1"); !errors.Is(err, drm.ErrNoKey) {
		t.Fatalf("content key survived delete: %v", err)
	}
	if n := f.driver.Forgets("j1"); n != 1 {
		t.Fatalf("delete forgot the driver's record %d times, want 1 (Nomad: purge)", n)
	}
}

func TestDeadHeartbeatReplacesOnOtherNode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 4}, scheduler.Node{ID: "b", CPU: 2}))
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	first := f.job(t, "j1")
	f.heartbeat(t, "j1", time.Now().Add(-5*time.Second)) // older than the 1 s timeout
	f.reconcile(t, "j1")
	j := f.job(t, "j1")
	if j.Assigned_worker_id == first.Assigned_worker_id || j.Placement_generation != 2 || j.State != jobspec.StateScheduled {
		t.Fatalf("after dead heartbeat: node %q (was %q) gen %d state %s", j.Assigned_worker_id, first.Assigned_worker_id, j.Placement_generation, j.State)
	}
	if j.Id != first.Id || j.StreamKey != first.StreamKey || j.Placement_attempts != 1 {
		t.Fatalf("identity or attempts changed: %+v", j)
	}
	if l := f.load(t, first.Assigned_worker_id); len(l.Jobs) != 0 {
		t.Fatalf("old node keeps the load: %+v", l)
	}
	if _, err := f.store.RecordHeartbeat(context.Background(), store.HeartbeatReport{JobID: "j1", Generation: 1, Time: time.Now()}); err != store.ErrFenced {
		t.Fatalf("old generation heartbeat: %v, want fenced", err)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 4}))
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	for attempt := range 3 {
		_, err := f.store.UpdateJob(context.Background(), "j1", func(j *jobspec.LiveJob) error {
			j.Time_scheduled = time.Now().Add(-time.Hour) // past the start timeout and any backoff
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		f.reconcile(t, "j1")
		if attempt < 2 && f.job(t, "j1").State != jobspec.StateScheduled {
			t.Fatalf("attempt %d: %s", attempt, f.job(t, "j1").State)
		}
	}
	j := f.job(t, "j1")
	if j.State != jobspec.StateFailed || j.State_reason == "" {
		t.Fatalf("after max attempts: %s %q", j.State, j.State_reason)
	}
	if _, ok := f.driver.Placement("j1"); ok {
		t.Fatal("failed job still placed")
	}
}

func TestTwoSchedulersPlaceOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 64}, scheduler.Node{ID: "b", CPU: 64}))
	other := f.newScheduler(t, "s2")
	const jobs = 20
	for i := range jobs {
		f.createJob(t, fmt.Sprint("j", i))
	}
	var wg sync.WaitGroup
	for _, s := range []*scheduler.Scheduler{f.sched, other} {
		wg.Go(func() {
			for i := range jobs {
				s.ReconcileJob(context.Background(), fmt.Sprint("j", i))
			}
		})
	}
	wg.Wait()
	for i := range jobs {
		id := fmt.Sprint("j", i)
		f.reconcile(t, id)
		j := f.job(t, id)
		if j.Placement_generation != 1 || f.driver.Placed(id, 1) != 1 {
			t.Fatalf("%s: generation %d, placed %d times", id, j.Placement_generation, f.driver.Placed(id, 1))
		}
	}
}

func TestSweepRepairsHalfDoneWork(t *testing.T) {
	t.Parallel()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 8}))
	ctx := context.Background()
	f.createJob(t, "lost-command") // stored, command never sent
	f.createJob(t, "waiting")      // in queued_jobs: retryQueued's, not the sweep's
	if err := f.store.Enqueue(ctx, "waiting"); err != nil {
		t.Fatal(err)
	}
	f.createJob(t, "unstarted")
	f.reconcile(t, "unstarted")
	f.driver.Stop(ctx, "unstarted") // as if the scheduler died before Place
	_, err := f.store.UpdateJob(ctx, "unstarted", func(j *jobspec.LiveJob) error {
		j.Time_scheduled = time.Now().Add(-10 * time.Second)
		j.Time_last_heartbeat = time.Now()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.driver.Place(ctx, scheduler.Placement{JobID: "orphan", NodeID: "a", Generation: 1})
	f.store.Reserve(ctx, "a", "ghost", 1)
	f.sched.Reconcile(ctx)
	if j := f.job(t, "lost-command"); j.State != jobspec.StateScheduled {
		t.Fatalf("job with a lost command: %s", j.State)
	}
	if j := f.job(t, "waiting"); j.State != jobspec.StateCreated {
		t.Fatalf("the sweep handled a queued job too: %s", j.State)
	}
	if _, ok := f.driver.Placement("unstarted"); !ok {
		t.Fatal("recorded placement not started")
	}
	if f.job(t, "unstarted").Placement_generation != 1 {
		t.Fatal("restarting a recorded placement changed its generation")
	}
	if _, ok := f.driver.Placement("orphan"); ok || f.driver.Forgets("orphan") != 1 {
		t.Fatalf("placement of an unknown job left running, or not forgotten (%d)", f.driver.Forgets("orphan"))
	}
	if _, ok := f.load(t, "a").Jobs["ghost"]; ok {
		t.Fatal("load of an unknown job kept")
	}
}

// TestReplacementFencesFirstAndNeverWaitsOnTheOldNode: a re-placement
// after a dead placement goes streaming → scheduled with the cause in its
// reason, counts the attempt, fences the old generation, and places the new
// one without stopping the old: on a dead node that stop is what held the
// job for two minutes on real Nomad.
func TestReplacementFencesFirstAndNeverWaitsOnTheOldNode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 4}, scheduler.Node{ID: "b", CPU: 2}))
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	f.heartbeat(t, "j1", time.Now())
	if err := f.store.SetUploadToken(context.Background(), "j1", "old-token"); err != nil {
		t.Fatal(err)
	}
	f.heartbeat(t, "j1", time.Now().Add(-5*time.Second))
	f.reconcile(t, "j1")
	j := f.job(t, "j1")
	last := j.Events[len(j.Events)-1]
	if last.From != jobspec.StateRunning || last.To != jobspec.StateScheduled {
		t.Fatalf("transition %s → %s, want running → scheduled", last.From, last.To)
	}
	if !strings.Contains(j.State_reason, "heartbeat lost") || j.Assigned_worker_id != "b" {
		t.Fatalf("reason %q on %q", j.State_reason, j.Assigned_worker_id)
	}
	if j.Placement_attempts != 1 || j.Placement_generation != 2 || f.driver.Placed("j1", 2) != 1 {
		t.Fatalf("attempts %d generation %d placed %d", j.Placement_attempts, j.Placement_generation, f.driver.Placed("j1", 2))
	}
	if n := f.driver.Stops("j1"); n != 0 {
		t.Fatalf("re-placement called Stop %d times; the new generation supersedes the old", n)
	}
	if err := f.store.AuthorizeUpload(context.Background(), "j1", "old-token"); err == nil {
		t.Fatal("the old placement's upload token still works")
	}
}

// TestReplacementWithoutCapacityStaysScheduled: when no other node has
// room, the job waits as scheduled with no node (never back to created),
// and is placed once capacity appears, with the attempt counted once.
func TestReplacementWithoutCapacityStaysScheduled(t *testing.T) {
	t.Parallel()
	d := schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 4})
	f := newFixture(t, d)
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	f.heartbeat(t, "j1", time.Now())
	d.RemoveNode("a")
	f.heartbeat(t, "j1", time.Now().Add(-5*time.Second))
	f.reconcile(t, "j1")
	j := f.job(t, "j1")
	if j.State != jobspec.StateScheduled || j.Assigned_worker_id != "" || !strings.Contains(j.State_reason, "waiting for capacity") {
		t.Fatalf("%s on %q: %q", j.State, j.Assigned_worker_id, j.State_reason)
	}
	if queued, _ := f.store.QueuedJobs(context.Background()); fmt.Sprint(queued) != "[j1]" {
		t.Fatalf("queued_jobs = %v", queued)
	}
	if _, err := f.store.RecordHeartbeat(context.Background(), store.HeartbeatReport{JobID: "j1", Generation: 1, Time: time.Now()}); err != store.ErrFenced {
		t.Fatalf("old generation heartbeat while waiting: %v, want fenced", err)
	}
	d.AddNode(scheduler.Node{ID: "b", CPU: 4})
	f.reconcile(t, "j1")
	f.reconcile(t, "j1")
	j = f.job(t, "j1")
	if j.State != jobspec.StateScheduled || j.Assigned_worker_id != "b" || j.Placement_attempts != 1 {
		t.Fatalf("after capacity: %s on %q, attempts %d", j.State, j.Assigned_worker_id, j.Placement_attempts)
	}
	if queued, _ := f.store.QueuedJobs(context.Background()); len(queued) != 0 {
		t.Fatalf("still queued: %v", queued)
	}
}

// logCounter counts the records a handler receives, by message.
type logCounter struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCounter) WithGroup(string) slog.Handler            { return c }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs[r.Message]++
	return nil
}

func (c *logCounter) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for m, k := range c.msgs {
		if strings.HasPrefix(m, prefix) {
			n += k
		}
	}
	return n
}

// TestSweepBacksOffAndLogsOnce: a stop the cluster keeps refusing is
// retried less and less often and logged once, not every sweep; once it
// succeeds, that is logged too. (On a real cluster without the origin's
// token, deletes were retried forever: 1,034 warnings in 13 minutes.)
func TestSweepBacksOffAndLogsOnce(t *testing.T) {
	t.Parallel()
	d := schedulertest.NewDriver(scheduler.Node{ID: "a", CPU: 4})
	f := newFixture(t, d)
	logs := &logCounter{msgs: map[string]int{}}
	s, err := scheduler.New(scheduler.Config{
		Store: f.store, Driver: d, Instance: "s1", Logger: slog.New(logs), ReconcileInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.createJob(t, "j1")
	f.reconcile(t, "j1")
	f.setState(t, "j1", jobspec.StateStopping)
	d.FailStops(errors.New("nomad unreachable"))
	for range 5 {
		s.Reconcile(context.Background())
	}
	if n := d.Stops("j1"); n != 1 {
		t.Fatalf("5 quick sweeps tried the stop %d times, want 1 (backed off)", n)
	}
	time.Sleep(250 * time.Millisecond) // past the first backoff
	s.Reconcile(context.Background())
	if n, logged := d.Stops("j1"), logs.count("sweep: repair failed"); n != 2 || logged != 1 {
		t.Fatalf("after the backoff: %d stops, %d failure logs; want 2 and 1", n, logged)
	}
	d.FailStops(nil)
	time.Sleep(450 * time.Millisecond) // past the doubled backoff
	s.Reconcile(context.Background())
	if j := f.job(t, "j1"); j.State != jobspec.StateStopped || logs.count("sweep: repair succeeded") != 1 {
		t.Fatalf("after the cluster came back: %s, %d success logs", j.State, logs.count("sweep: repair succeeded"))
	}
}
