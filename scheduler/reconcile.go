package scheduler

import (
	"context"
	"errors"
	"fmt"
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
	return s.withJob(ctx, id, func(ctx context.Context, job *jobspec.LiveJob) error {
		if job == nil {
			return s.cfg.Store.Dequeue(ctx, id)
		}
		return s.drive(ctx, job)
	})
}

func (s *Scheduler) drive(ctx context.Context, job *jobspec.LiveJob) error {
	switch job.State {
	case jobspec.StateCreated:
		return s.place(ctx, job, intent{why: "placed"})
	case jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming:
		if job.Assigned_worker_id == "" { // a re-placement waiting for capacity
			return s.place(ctx, job, intent{why: "re-placed"})
		}
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

// place fences whatever ran for the job before (a new upload token, and a
// new placement generation when a node was assigned), chooses a node and
// starts the new generation there. A job that fits nowhere waits in
// queued_jobs with the reason in its record: created if it never ran,
// scheduled with no node if it is being re-placed.
func (s *Scheduler) place(ctx context.Context, job *jobspec.LiveJob, in intent) error {
	cost := jobspec.EstimateCost(job.Spec)
	used, err := s.cfg.Store.StartPlacement(ctx, job.Id, randomHex(16))
	if err != nil {
		return err
	}
	node, ok, reason, err := s.choose(ctx, job.Id, cost.CPU, used, in.avoid)
	if err != nil {
		return err
	}
	prev := job.Assigned_worker_id
	job, err = s.cfg.Store.UpdateJobFrom(ctx, job, s.recordPlacement(job.Placement_generation, node.ID, ok, reason, in))
	if err != nil {
		return fmt.Errorf("record placement of %s: %w", job.Id, err)
	}
	if prev != "" && prev != node.ID {
		if err := s.forgetPlacement(ctx, job.Id, prev); err != nil {
			return err
		}
	}
	if !ok {
		return s.waitForCapacity(ctx, job, prev)
	}
	if err := s.cfg.Store.ReservePlacement(ctx, node.ID, job.Id, cost.CPU); err != nil {
		return err
	}
	return s.start(ctx, job, node, cost)
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

// choose decides where a job of cpu cores goes, given the cores used on
// each node, avoiding node avoid. A driver that has no usable node at all
// says why, and that is the reason the job waits.
func (s *Scheduler) choose(ctx context.Context, jobID string, cpu float64, used map[string]float64, avoid string) (Node, bool, string, error) {
	nodes, err := s.cfg.Driver.Nodes(ctx)
	var none *NoNodesError
	if errors.As(err, &none) {
		return Node{}, false, none.Reason, nil
	}
	if err != nil {
		return Node{}, false, "", fmt.Errorf("list nodes: %w", err)
	}
	req := Request{JobID: jobID, CPU: cpu, Turn: s.turn}
	if avoid != "" {
		req.Avoid = map[string]bool{avoid: true}
	}
	s.turn++
	node, ok, reason := Choose(nodes, used, req, s.cfg.Strategy)
	return node, ok, reason, nil
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

// withJob runs fn while holding the job's lock, renewing it, so that two
// schedulers never handle one job at once. fn gets the job as read under
// the lock, nil when there is no such job.
func (s *Scheduler) withJob(ctx context.Context, id string, fn func(context.Context, *jobspec.LiveJob) error) error {
	name := store.JobLock(id)
	job, err := s.lockJob(ctx, id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		s.renew(ctx, name, cancel)
	}()
	err = fn(ctx, job)
	cancel()
	<-renewed
	s.unlock(ctx, name)
	if errors.Is(err, errJobChanged) {
		return nil
	}
	return err
}

// unlock releases a lock this scheduler holds, even when ctx is done.
func (s *Scheduler) unlock(ctx context.Context, name string) {
	if err := s.cfg.Store.Unlock(context.WithoutCancel(ctx), name, s.cfg.Instance); err != nil {
		s.log.Warn("unlock", "lock", name, "err", err)
	}
}

// lockJob takes the job's lock, waiting a little for another holder, and
// returns the job as read with it (nil when there is no such job).
func (s *Scheduler) lockJob(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	deadline := s.now().Add(3 * time.Second)
	for {
		ok, job, err := s.cfg.Store.TryLockJob(ctx, id, s.cfg.Instance, jobLockTTL)
		switch {
		case ok && jobspec.ErrorCode(err) == jobspec.ENOTFOUND:
			return nil, nil
		case ok && err != nil:
			s.unlock(ctx, store.JobLock(id))
			return nil, err
		case ok || err != nil:
			return job, err
		case s.now().After(deadline):
			return nil, errJobBusy
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

func (s *Scheduler) renew(ctx context.Context, name string, lost context.CancelFunc) {
	t := time.NewTicker(jobLockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ok, err := s.cfg.Store.ExtendLock(ctx, name, s.cfg.Instance, jobLockTTL); err == nil && !ok {
				s.log.Error("job lock lost while handling it", "lock", name)
				lost()
				return
			}
		}
	}
}
