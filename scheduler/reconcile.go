package scheduler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// errJobBusy means another scheduler holds the job's lock; the command is
// left for redelivery and the sweep.
var errJobBusy = errors.New("job is being handled by another scheduler")

// errJobChanged aborts an update whose premise no longer holds.
var errJobChanged = errors.New("job changed while it was being handled")

// ReconcileJob drives one job toward what its record asks for. It is the
// handler of every command and of every sweep finding, and is idempotent.
func (s *Scheduler) ReconcileJob(ctx context.Context, id string) error {
	return s.ReconcileJobs(ctx, []string{id})[id]
}

// ReconcileJobs is ReconcileJob for many jobs at once: their locks are
// taken and their records read in one round trip, and the jobs that need a
// node are placed together (placeAll). It returns each job's error, nil
// for a job handled.
func (s *Scheduler) ReconcileJobs(ctx context.Context, ids []string) map[string]error {
	seen := make(map[string]bool, len(ids))
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool {
		dup := seen[id]
		seen[id] = true
		return dup
	})
	return s.withJobs(ctx, ids, s.driveAll)
}

// driveAll drives locked jobs: the ones that need a node as one batch, the
// others one by one.
func (s *Scheduler) driveAll(ctx context.Context, jobs []store.LockedJob) map[string]error {
	errs := make(map[string]error, len(jobs))
	var batch []placing
	for _, l := range jobs {
		switch in, ok := placingIntent(l.Job); {
		case l.Job == nil:
			errs[l.ID] = s.cfg.Store.Dequeue(ctx, l.ID)
		case ok:
			batch = append(batch, placing{job: l.Job, in: in, cost: jobspec.EstimateCost(l.Job.Spec)})
		default:
			errs[l.ID] = s.drive(ctx, l.Job)
		}
	}
	maps.Copy(errs, s.placeAll(ctx, batch))
	return errs
}

// placingIntent says whether a job's record asks for a node, and why: a
// created job, or one being re-placed that waits for capacity.
func placingIntent(job *jobspec.LiveJob) (intent, bool) {
	switch {
	case job == nil:
		return intent{}, false
	case job.State == jobspec.StateCreated:
		return intent{why: "placed"}, true
	case job.State.Active() && job.Assigned_worker_id == "":
		return intent{why: "re-placed"}, true
	}
	return intent{}, false
}

func (s *Scheduler) drive(ctx context.Context, job *jobspec.LiveJob) error {
	if in, ok := placingIntent(job); ok {
		return s.place(ctx, job, in)
	}
	switch job.State {
	case jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming:
		if reason := s.deadReason(job); reason != "" {
			return s.replace(ctx, job, reason)
		}
		if reason := s.outputFailure(job); reason != "" {
			return s.fail(ctx, job, reason)
		}
		return s.cfg.Store.Reserve(ctx, job.Assigned_worker_id, job.Id, jobspec.EstimateCost(job.Spec).CPU)
	case jobspec.StateStopping:
		return s.stop(ctx, job)
	case jobspec.StateDeleting:
		return s.delete(ctx, job)
	default: // stopped, failed: nothing runs, nothing is reserved
		return s.release(ctx, job)
	}
}

// intent is why a placement is made: a first placement, or a re-placement
// away from a node whose placement died.
type intent struct {
	why     string // the start of State_reason
	avoid   string // node to avoid: the one the job just died on
	replace bool   // a re-placement: counted in Placement_attempts
}

// placing is one job of a batch to place, as read under its lock.
type placing struct {
	job  *jobspec.LiveJob
	in   intent
	cost jobspec.Cost
}

// place places one job: a batch of one.
func (s *Scheduler) place(ctx context.Context, job *jobspec.LiveJob, in intent) error {
	return s.placeAll(ctx, []placing{{job: job, in: in, cost: jobspec.EstimateCost(job.Spec)}})[job.Id]
}

// placeAll places a batch of locked jobs. It fences whatever ran for each
// before (a new upload token, and a new placement generation when a node
// was assigned), decides and reserves the whole batch (decideAll), records
// every decision (one round trip), and then starts each placed job's new
// generation on its node, at most driverCalls at once; a job that fits
// nowhere waits in queued_jobs with the reason in its record: created if it
// never ran, scheduled with no node if it is being re-placed. Cores are
// reserved before the record says where the job runs: a scheduler that dies
// between the two leaves a share the sweep gives back (repair).
func (s *Scheduler) placeAll(ctx context.Context, batch []placing) map[string]error {
	errs := make(map[string]error, len(batch))
	if len(batch) == 0 {
		return errs
	}
	ds, err := s.decideAll(ctx, batch)
	if err != nil {
		for _, p := range batch {
			errs[p.job.Id] = err
		}
		return errs
	}
	jobs, recErrs := s.recordAll(ctx, batch, ds)
	var mu sync.Mutex
	var wg sync.WaitGroup
	calls := make(chan struct{}, driverCalls)
	for i, p := range batch {
		switch {
		case ds[i].err != nil:
			errs[p.job.Id] = ds[i].err
			continue
		case !ds[i].OK: // in order: the waiting jobs queue oldest first
			errs[p.job.Id] = s.finish(ctx, p, ds[i].Decision, jobs[i], recErrs[i])
			continue
		}
		calls <- struct{}{}
		wg.Go(func() {
			defer func() { <-calls }()
			err := s.finish(ctx, p, ds[i].Decision, jobs[i], recErrs[i])
			mu.Lock()
			errs[p.job.Id] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs
}

// driverCalls bounds the driver calls one batch makes at once.
const driverCalls = 16

// decideRounds bounds how many times a batch's jobs are decided again when
// their nodes filled under them (other schedulers' batches); a job still
// not reserved after that is left for its command's redelivery.
const decideRounds = 5

// errContended is a job decided decideRounds times whose node filled under
// it each time.
var errContended = errors.New("nodes kept filling under the placement decision; it will be tried again")

// decided is one job's outcome of decideAll: a decision whose cores, if
// ok, are reserved, or the error that left it undecided.
type decided struct {
	Decision
	err error
}

// decideAll rotates the batch's upload tokens and reads worker_cpu (one
// round trip), decides the batch on that one snapshot and the driver's
// nodes (ChooseAll), and reserves the cores of the jobs that found a node
// in one atomic step that re-checks each node's room (ReservePlacements).
// A job whose node filled meanwhile is decided again, on fresh loads, never
// over-committed. A driver that has no usable node at all says why, and
// that is the reason the jobs wait.
func (s *Scheduler) decideAll(ctx context.Context, batch []placing) ([]decided, error) {
	tokens := make(map[string]string, len(batch))
	for _, p := range batch {
		tokens[p.job.Id] = randomHex(16)
	}
	loads, err := s.cfg.Store.StartPlacements(ctx, tokens)
	if err != nil {
		return nil, err
	}
	out := make([]decided, len(batch))
	nodes, err := s.cfg.Driver.Nodes(ctx)
	var none *NoNodesError
	if errors.As(err, &none) {
		for i := range out {
			out[i].Reason = none.Reason
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	todo := make([]int, len(batch))
	for i := range todo {
		todo[i] = i
	}
	for round := 1; len(todo) > 0; round++ {
		if round > 1 {
			if loads, err = s.cfg.Store.CPULoads(ctx); err != nil {
				return nil, err
			}
		}
		if todo, err = s.reserveRound(ctx, nodes, loads, batch, todo, out); err != nil {
			return nil, err
		}
		if round == decideRounds {
			for _, i := range todo {
				out[i].err = errContended
			}
			break
		}
	}
	return out, nil
}

// reserveRound decides the jobs todo of batch on loads, reserves the cores
// of those that found a node, and returns the ones whose node no longer
// had room for them.
func (s *Scheduler) reserveRound(ctx context.Context, nodes []Node, loads map[string]float64, batch []placing, todo []int, out []decided) ([]int, error) {
	turn := s.turn.Add(uint64(len(todo))) - uint64(len(todo))
	reqs := make([]Request, len(todo))
	for k, i := range todo {
		p := batch[i]
		reqs[k] = Request{JobID: p.job.Id, CPU: p.cost.CPU, Turn: turn + uint64(k)}
		if p.in.avoid != "" {
			reqs[k].Avoid = map[string]bool{p.in.avoid: true}
		}
	}
	var rs []store.Reservation
	var at []int
	for k, d := range ChooseAll(nodes, loads, reqs, s.cfg.Strategy) {
		out[todo[k]] = decided{Decision: d}
		if d.OK {
			rs = append(rs, store.Reservation{Node: d.Node.ID, JobID: reqs[k].JobID, CPU: reqs[k].CPU, Capacity: d.Node.CPU})
			at = append(at, todo[k])
		}
	}
	took, err := s.cfg.Store.ReservePlacements(ctx, rs)
	if err != nil {
		return nil, err
	}
	var again []int
	for k, i := range at {
		if !took[k] {
			again = append(again, i)
		}
	}
	return again, nil
}

// recordAll records each decided job's placement (one round trip), in
// batch's order.
func (s *Scheduler) recordAll(ctx context.Context, batch []placing, ds []decided) ([]*jobspec.LiveJob, []error) {
	var us []store.JobUpdate
	var at []int
	for i, p := range batch {
		if ds[i].err == nil {
			us = append(us, store.JobUpdate{Known: p.job, Fn: s.recordPlacement(p.job.Placement_generation, ds[i].Node.ID, ds[i].OK, ds[i].Reason, p.in)})
			at = append(at, i)
		}
	}
	written, errs := s.cfg.Store.UpdateJobsFrom(ctx, us)
	jobs, out := make([]*jobspec.LiveJob, len(batch)), make([]error, len(batch))
	for k, i := range at {
		jobs[i], out[i] = written[k], errs[k]
	}
	return jobs, out
}

// finish carries out one job's recorded decision (job as written): what
// ran before on another node is forgotten, and the job starts on its new
// node or waits for capacity. A decision that could not be recorded gives
// its new share back.
func (s *Scheduler) finish(ctx context.Context, p placing, d Decision, job *jobspec.LiveJob, recErr error) error {
	prev := p.job.Assigned_worker_id
	if recErr != nil {
		if d.OK && d.Node.ID != prev {
			if err := s.cfg.Store.Release(ctx, d.Node.ID, p.job.Id); err != nil {
				return errors.Join(recErr, err)
			}
		}
		if errors.Is(recErr, errJobChanged) {
			return recErr
		}
		return fmt.Errorf("record placement of %s: %w", p.job.Id, recErr)
	}
	if prev != "" && prev != d.Node.ID {
		if err := s.forgetPlacement(ctx, job.Id, prev); err != nil {
			return err
		}
	}
	if !d.OK {
		return s.waitForCapacity(ctx, job, prev)
	}
	return s.start(ctx, job, d.Node, p.cost)
}

// recordPlacement is the record's side of a placement decision. The
// generation moves on whenever the assigned node changes, so the transcoder
// of the previous one is fenced out of Redis as the new token fences it out
// of the origin.
func (s *Scheduler) recordPlacement(gen int64, node string, ok bool, reason string, in intent) func(*jobspec.LiveJob) error {
	return func(j *jobspec.LiveJob) error {
		if j.Placement_generation != gen || !j.State.Active() {
			return errJobChanged
		}
		now := s.now()
		if ok || j.Assigned_worker_id != "" {
			j.Placement_generation++
		}
		if in.replace {
			j.Placement_attempts++
		}
		j.Time_scheduled, j.Time_last_heartbeat = now, time.Time{}
		j.SetIngestAddr("")
		switch {
		case ok:
			j.Assigned_worker_id = node
			j.SetState(jobspec.StateScheduled, fmt.Sprintf("%s on node %s", in.why, node), now)
		case j.State == jobspec.StateCreated:
			j.SetState(jobspec.StateCreated, "waiting for capacity: "+reason, now)
		default:
			j.Assigned_worker_id = ""
			j.SetState(jobspec.StateScheduled, in.why+"; waiting for capacity: "+reason, now)
		}
		return nil
	}
}

// forgetPlacement drops what the job's previous placement on node held: its
// share of the node's load and its heartbeat.
func (s *Scheduler) forgetPlacement(ctx context.Context, jobID, node string) error {
	if err := s.cfg.Store.Release(ctx, node, jobID); err != nil {
		return err
	}
	return s.cfg.Store.ForgetHeartbeat(ctx, jobID)
}

// waitForCapacity queues the job. A placement that ran on node prev is
// fenced already; it is also told to stop, best effort, since no new
// generation will take its place for now.
func (s *Scheduler) waitForCapacity(ctx context.Context, job *jobspec.LiveJob, prev string) error {
	if prev != "" {
		if err := s.cfg.Driver.Stop(ctx, job.Id); err != nil {
			s.log.Warn("stop a fenced placement", "job_id", job.Id, "node_id", prev, "err", err)
		}
	}
	return s.cfg.Store.Enqueue(ctx, job.Id)
}

// start asks the driver to run the placement recorded in job; the driver
// stops whatever ran for an earlier generation, without waiting for it.
func (s *Scheduler) start(ctx context.Context, job *jobspec.LiveJob, node Node, cost jobspec.Cost) error {
	err := s.cfg.Driver.Place(ctx, Placement{
		JobID: job.Id, NodeID: node.ID, Generation: job.Placement_generation,
		CPU: cost.CPU, Memory: cost.MemoryMB,
		Summary: jobspec.Summary(job.Spec), StreamType: job.Spec.Output.Stream_type,
	})
	var refused *PlaceError
	if errors.As(err, &refused) {
		s.log.Warn("placement refused", "job_id", job.Id, "node_id", node.ID, "reason", refused.Reason)
		s.cfg.Metrics.Refused(job.Id, node.ID, refused.Reason)
		return s.unassign(ctx, job, node.ID, "the cluster refused the placement: "+refused.Reason)
	}
	if err != nil {
		return fmt.Errorf("place job %s on %s: %w", job.Id, node.ID, err)
	}
	s.log.Info("job placed", "job_id", job.Id, "node_id", node.ID, "generation", job.Placement_generation)
	s.cfg.Metrics.Placed(job.Id, node.ID)
	return nil
}

// unassign takes a refused placement back: the job waits for capacity, with
// the cluster's reason, and its next try starts a new generation.
func (s *Scheduler) unassign(ctx context.Context, job *jobspec.LiveJob, node, reason string) error {
	if err := s.forgetPlacement(ctx, job.Id, node); err != nil {
		return err
	}
	if err := s.cfg.Store.Enqueue(ctx, job.Id); err != nil {
		return err
	}
	_, err := s.cfg.Store.UpdateJob(ctx, job.Id, func(j *jobspec.LiveJob) error {
		if !j.State.Active() || j.Placement_generation != job.Placement_generation {
			return errJobChanged
		}
		j.Assigned_worker_id = ""
		j.SetState(stateBeforePlacement(j), "waiting for capacity: "+reason, s.now())
		return nil
	})
	return err
}

// stateBeforePlacement is where a refused placement goes back to: created
// for a job that was never placed since it was created or resumed,
// scheduled (with no node) for a re-placement.
func stateBeforePlacement(j *jobspec.LiveJob) jobspec.State {
	if last, ok := j.LastStateChange(); ok && last.From == jobspec.StateCreated {
		return jobspec.StateCreated
	}
	return jobspec.StateScheduled
}

// deadReason says why the job's current placement is dead ("" if alive):
// no heartbeat since its start within the start timeout, or a heartbeat older
// than the heartbeat timeout.
//
// Only time the scheduler could see counts: from its start, or from the end
// of its last spell without the store, whichever is later (sight).
func (s *Scheduler) deadReason(job *jobspec.LiveJob) string {
	now, seen := s.now(), s.sight.from()
	if job.Time_last_heartbeat.IsZero() {
		if now.Sub(latest(job.Time_scheduled, seen)) > s.cfg.StartTimeout {
			return fmt.Sprintf("heartbeat lost: none within %s of placement", s.cfg.StartTimeout)
		}
		return ""
	}
	if now.Sub(latest(job.Time_last_heartbeat, seen)) > s.cfg.HeartbeatTimeout {
		age := now.Sub(job.Time_last_heartbeat)
		return fmt.Sprintf("heartbeat lost: last one %s ago", age.Round(time.Second))
	}
	return ""
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// replace moves a job whose placement died to another node at once: it
// fences the old placement, places a new generation, and leaves the old
// one for the driver to stop. Re-placements are counted, spaced by a
// backoff, and bounded; past the bound the job fails.
func (s *Scheduler) replace(ctx context.Context, job *jobspec.LiveJob, reason string) error {
	if job.Placement_attempts >= s.cfg.MaxAttempts {
		return s.fail(ctx, job, fmt.Sprintf("%s; gave up after %d re-placements", reason, job.Placement_attempts))
	}
	if s.now().Sub(job.Time_scheduled) < backoff(job.Placement_attempts) {
		return nil // too soon after the last placement; the next check retries
	}
	s.log.Warn("placement dead; re-placing", "job_id", job.Id, "node_id", job.Assigned_worker_id, "reason", reason)
	s.cfg.Metrics.Replaced(job.Id, job.Assigned_worker_id, reason)
	return s.place(ctx, job, intent{why: "re-placed after " + reason, avoid: job.Assigned_worker_id, replace: true})
}

// backoff is the least time a placement gets before the next re-placement.
func backoff(attempts int) time.Duration {
	if attempts == 0 {
		return 0
	}
	return min(time.Second<<attempts, time.Minute)
}

// teardown stops whatever runs for the job and releases what it held.
func (s *Scheduler) teardown(ctx context.Context, job *jobspec.LiveJob) error {
	if err := s.cfg.Driver.Stop(ctx, job.Id); err != nil {
		return fmt.Errorf("stop transcoder of %s: %w", job.Id, err)
	}
	if err := s.cfg.Store.SetUploadToken(ctx, job.Id, ""); err != nil {
		return err
	}
	if err := s.cfg.Store.ForgetHeartbeat(ctx, job.Id); err != nil {
		return err
	}
	return s.release(ctx, job)
}

// release drops the job from queued_jobs and from every node's load.
func (s *Scheduler) release(ctx context.Context, job *jobspec.LiveJob) error {
	if err := s.cfg.Store.Dequeue(ctx, job.Id); err != nil {
		return err
	}
	loads, err := s.cfg.Store.Loads(ctx)
	if err != nil {
		return err
	}
	for node, l := range loads {
		if _, ok := l.Jobs[job.Id]; ok {
			if err := s.cfg.Store.Release(ctx, node, job.Id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Scheduler) stop(ctx context.Context, job *jobspec.LiveJob) error {
	if err := s.teardown(ctx, job); err != nil {
		return err
	}
	return s.settle(ctx, job.Id, jobspec.StateStopping, jobspec.StateStopped, "stopped by user")
}

func (s *Scheduler) fail(ctx context.Context, job *jobspec.LiveJob, reason string) error {
	s.log.Error("job failed", "job_id", job.Id, "node_id", job.Assigned_worker_id, "reason", reason)
	s.cfg.Metrics.Failed(job.Id, reason)
	if err := s.teardown(ctx, job); err != nil {
		return err
	}
	return s.settle(ctx, job.Id, job.State, jobspec.StateFailed, reason)
}

// settle moves a job from state from to state to, if it is still in from.
func (s *Scheduler) settle(ctx context.Context, id string, from, to jobspec.State, reason string) error {
	_, err := s.cfg.Store.UpdateJob(ctx, id, func(j *jobspec.LiveJob) error {
		if j.State != from {
			return errJobChanged
		}
		now := s.now()
		j.SetIngestAddr("")
		j.Time_stopped = now
		j.SetState(to, reason, now)
		return nil
	})
	if errors.Is(err, errJobChanged) {
		return nil // someone moved it on; the next reconcile follows
	}
	return err
}

// delete tears the job down and removes its content keys and its record.
// Its outputs are the origin's to remove: it follows deletions itself.
func (s *Scheduler) delete(ctx context.Context, job *jobspec.LiveJob) error {
	if err := s.teardown(ctx, job); err != nil {
		return err
	}
	if s.cfg.Keys != nil {
		if err := s.cfg.Keys.Delete(ctx, job.Id); err != nil {
			return fmt.Errorf("delete content keys of %s: %w", job.Id, err)
		}
	}
	if err := s.cfg.Driver.Forget(ctx, job.Id); err != nil {
		return fmt.Errorf("forget placements of %s: %w", job.Id, err)
	}
	s.log.Info("job deleted", "job_id", job.Id)
	return s.cfg.Store.DeleteJob(ctx, job.Id)
}

// withJob runs fn while holding the job's lock (withJobs); fn gets the
// job as read under the lock, nil when there is no such job.
func (s *Scheduler) withJob(ctx context.Context, id string, fn func(context.Context, *jobspec.LiveJob) error) error {
	return s.withJobs(ctx, []string{id}, func(ctx context.Context, jobs []store.LockedJob) map[string]error {
		return map[string]error{id: fn(ctx, jobs[0].Job)}
	})[id]
}

// withJobs runs fn on the jobs ids while holding their locks, renewing
// them, so that two schedulers never handle one job at once. fn gets each
// job as read under its lock, nil when there is no such job, and returns
// each one's error. A job another scheduler holds is waited for a little
// (its lock is tried again, while fn runs on the others), then given up
// with errJobBusy.
func (s *Scheduler) withJobs(ctx context.Context, ids []string, fn func(context.Context, []store.LockedJob) map[string]error) map[string]error {
	errs := make(map[string]error, len(ids))
	deadline := s.now().Add(3 * time.Second)
	for len(ids) > 0 {
		busy, err := s.lockedRound(ctx, ids, fn, errs)
		switch {
		case err != nil:
			for _, id := range busy {
				errs[id] = err
			}
			return errs
		case len(busy) > 0 && (s.now().After(deadline) || ctx.Err() != nil):
			for _, id := range busy {
				errs[id] = errJobBusy
			}
			return errs
		case len(busy) > 0:
			sleep(ctx, 50*time.Millisecond)
		}
		ids = busy
	}
	return errs
}

// lockedRound locks what it can of ids, runs fn on those under their
// locks and unlocks them, putting each one's error in errs; it returns the
// ids another scheduler holds (all of them with the error when the locks
// could not be tried).
func (s *Scheduler) lockedRound(ctx context.Context, ids []string, fn func(context.Context, []store.LockedJob) map[string]error, errs map[string]error) ([]string, error) {
	taken, err := s.cfg.Store.TryLockJobs(ctx, ids, s.cfg.Instance, jobLockTTL)
	if err != nil {
		return ids, err
	}
	var busy, names []string
	var held []store.LockedJob
	for _, l := range taken {
		switch {
		case !l.Locked:
			busy = append(busy, l.ID)
			continue
		case jobspec.ErrorCode(l.Err) == jobspec.ENOTFOUND:
			held = append(held, store.LockedJob{ID: l.ID, Locked: true})
		case l.Err != nil:
			errs[l.ID] = l.Err
		default:
			held = append(held, l)
		}
		names = append(names, store.JobLock(l.ID))
	}
	if len(held) > 0 {
		ctx, cancel := context.WithCancel(ctx)
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			s.renew(ctx, names, cancel)
		}()
		for id, err := range fn(ctx, held) {
			if errors.Is(err, errJobChanged) {
				err = nil
			}
			errs[id] = err
		}
		cancel()
		<-renewed
	}
	s.unlock(ctx, names)
	return busy, nil
}

// unlock releases locks this scheduler holds, even when ctx is done.
func (s *Scheduler) unlock(ctx context.Context, names []string) {
	if len(names) == 0 {
		return
	}
	if err := s.cfg.Store.UnlockAll(context.WithoutCancel(ctx), names, s.cfg.Instance); err != nil {
		s.log.Warn("unlock", "locks", len(names), "err", err)
	}
}

// renew keeps the locks names while ctx lasts; when one is lost, the work
// done under them is cancelled (lost).
func (s *Scheduler) renew(ctx context.Context, names []string, lost context.CancelFunc) {
	t := time.NewTicker(jobLockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if gone, err := s.cfg.Store.ExtendLocks(ctx, names, s.cfg.Instance, jobLockTTL); err == nil && len(gone) > 0 {
				s.log.Error("job lock lost while handling it", "lock", gone[0], "lost", len(gone))
				lost()
				return
			}
		}
	}
}
