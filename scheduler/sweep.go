package scheduler

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// placeGrace is how long a recorded placement may be missing from the driver
// before the sweep starts it again (the scheduler may have died between
// recording the placement and asking the driver).
const placeGrace = 3 * time.Second

// Reconcile sweeps every job and every driver placement and repairs what a
// crash left half done: jobs that should run but have no placement, jobs
// whose commands were lost, placements that belong to no live job, and loads
// that no longer match the jobs.
func (s *Scheduler) Reconcile(ctx context.Context) {
	running, loads, snap, err := s.takeSnapshot(ctx)
	if err != nil {
		s.log.Warn("sweep: read what to check jobs against", "err", err)
		return
	}
	seen, err := s.sweepJobs(ctx, snap)
	if err != nil { // with some jobs unseen, their placements are not orphans
		s.log.Warn("sweep: list jobs", "err", err)
		return
	}
	for _, r := range running {
		if !seen[r.JobID] {
			s.act(ctx, r.JobID, "placement of a deleted job", func(ctx context.Context, _ *jobspec.LiveJob) error {
				if err := s.cfg.Driver.Stop(ctx, r.JobID); err != nil {
					return err
				}
				return s.cfg.Driver.Forget(ctx, r.JobID)
			})
		}
	}
	for node, l := range loads {
		for id := range l.Jobs {
			if !seen[id] {
				s.act(ctx, id, "load of a deleted job", func(ctx context.Context, _ *jobspec.LiveJob) error {
					return s.cfg.Store.Release(ctx, node, id)
				})
			}
		}
	}
}

// takeSnapshot reads what the sweep checks every job against: the driver's
// placements, the loads, and queued_jobs, with this sweep's turn of waiting
// jobs to recheck.
func (s *Scheduler) takeSnapshot(ctx context.Context) ([]Running, map[string]store.Load, snapshot, error) {
	running, err := s.cfg.Driver.Placements(ctx)
	if err != nil {
		return nil, nil, snapshot{}, fmt.Errorf("list placements: %w", err)
	}
	loads, err := s.cfg.Store.Loads(ctx)
	if err != nil {
		return nil, nil, snapshot{}, err
	}
	queued, err := s.cfg.Store.QueuedJobs(ctx)
	if err != nil {
		return nil, nil, snapshot{}, err
	}
	snap := snapshot{placed: make(map[string]Running, len(running)), held: holders(loads),
		queued: map[string]bool{}, recheck: map[string]bool{}}
	for _, r := range running {
		snap.placed[r.JobID] = r
	}
	for _, id := range queued {
		snap.queued[id] = true
	}
	for _, id := range s.recheckTurn(queued) {
		snap.recheck[id] = true
	}
	return running, loads, snap, nil
}

// recheckPerSweep is how many waiting jobs' records one sweep reads. The
// others are left to checkQueue, so that a sweep's cost does not grow with
// the queue; each gets its turn, so a lost stop or delete command of a
// waiting job is still found, in about ⌈waiting/1000⌉ sweeps (jobs that
// leave the head of the queue meanwhile shift the turns: eventually, not
// within a bound).
const recheckPerSweep = 1000

// recheckTurn is this sweep's turn of queued: the next recheckPerSweep ids
// after the last turn's, wrapping around.
func (s *Scheduler) recheckTurn(queued []string) []string {
	if len(queued) <= recheckPerSweep {
		return queued
	}
	from := s.recheckFrom % len(queued)
	s.recheckFrom = from + recheckPerSweep
	turn := queued[from:min(from+recheckPerSweep, len(queued))]
	if wrap := recheckPerSweep - len(turn); wrap > 0 {
		turn = append(slices.Clip(turn), queued[:wrap]...)
	}
	return turn
}

// holders indexes worker_loads by job: the nodes holding a share for it.
func holders(loads map[string]store.Load) map[string][]string {
	out := map[string][]string{}
	for node, l := range loads {
		for id := range l.Jobs {
			out[id] = append(out[id], node)
		}
	}
	return out
}

// snapshot is what a sweep reads once and checks every job against.
type snapshot struct {
	placed  map[string]Running  // the driver's placements, by job
	held    map[string][]string // the nodes holding a share for each job
	queued  map[string]bool     // jobs in queued_jobs, which checkQueue retries
	recheck map[string]bool     // the waiting jobs whose records this sweep reads
}

// unread reports whether the sweep leaves a job's record unread: it waits
// in queued_jobs (checkQueue's), holds no load, and it is not its turn.
func (snap snapshot) unread(id string) bool {
	return snap.queued[id] && len(snap.held[id]) == 0 && !snap.recheck[id]
}

// sweepJobs checks every job but the unread ones, a page at a time; it
// returns the ids of all the jobs there are.
func (s *Scheduler) sweepJobs(ctx context.Context, snap snapshot) (map[string]bool, error) {
	ids, err := s.cfg.Store.AllJobIDs(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(ids))
	var read []string
	for _, id := range ids {
		seen[id] = true
		if !snap.unread(id) {
			read = append(read, id)
		}
	}
	for page := range slices.Chunk(read, 1000) {
		jobs, err := s.cfg.Store.JobsByID(ctx, page)
		if err != nil {
			return nil, err
		}
		for _, id := range page {
			if j := jobs[id]; j != nil {
				s.check(ctx, j, snap)
			}
		}
	}
	return seen, nil
}

// check repairs one job if the sweep finds work to do on it.
func (s *Scheduler) check(ctx context.Context, j *jobspec.LiveJob, snap snapshot) {
	if why := s.needsWork(j, snap); why != "" {
		s.act(ctx, j.Id, why, func(ctx context.Context, job *jobspec.LiveJob) error {
			return s.repair(ctx, job, snap)
		})
	}
}

// needsWork is the sweep's cheap check, without a lock, of whether a job's
// record, its placement and its load disagree. A job waiting in
// queued_jobs is left to checkQueue, which tries it when capacity appears.
func (s *Scheduler) needsWork(j *jobspec.LiveJob, snap snapshot) string {
	r, isPlaced := snap.placed[j.Id]
	switch {
	case waits(j):
		if !snap.queued[j.Id] {
			return "waiting for placement" // its command was lost
		}
	case j.State == jobspec.StateStopping, j.State == jobspec.StateDeleting:
		return "unfinished " + string(j.State)
	case j.State.Active() && (!isPlaced || r.Generation != j.Placement_generation):
		if s.now().Sub(j.Time_scheduled) > placeGrace {
			return "recorded placement is not running"
		}
	case j.State.Active() && s.deadReason(j) != "":
		return "placement dead"
	case j.State.Active() && s.outputFailure(j) != "":
		return "outputs failing"
	case !j.State.Active() && isPlaced:
		return "placement of an idle job"
	}
	for _, node := range snap.held[j.Id] {
		if !j.State.Active() || node != j.Assigned_worker_id {
			return "stale load"
		}
	}
	return ""
}

// repair handles one sweep finding under the job's lock; job is nil when it
// was deleted meanwhile (the next sweep handles what it left).
func (s *Scheduler) repair(ctx context.Context, job *jobspec.LiveJob, snap snapshot) error {
	if job == nil {
		return nil
	}
	id := job.Id
	if err := s.releaseStale(ctx, job, snap.held[id]); err != nil {
		return err
	}
	r, isPlaced := snap.placed[id]
	switch {
	case job.State.Active() && job.State != jobspec.StateCreated && job.Assigned_worker_id != "" &&
		(!isPlaced || r.Generation != job.Placement_generation) && s.deadReason(job) == "":
		// Recorded but never started (or an older generation runs): start
		// the recorded generation; Place is idempotent per generation.
		cost := jobspec.EstimateCost(job.Spec)
		return s.start(ctx, job, Node{ID: job.Assigned_worker_id}, cost)
	case !job.State.Active() && isPlaced:
		if err := s.cfg.Driver.Stop(ctx, id); err != nil {
			return err
		}
	}
	return s.drive(ctx, job)
}

// releaseStale gives back the shares the job holds on nodes (as the sweep
// read them) other than its recorded one: what a scheduler that died
// between reserving a placement and recording it left. Only a holder of the
// job's lock reserves, and it records before it unlocks, so under the lock
// such a share is stale.
func (s *Scheduler) releaseStale(ctx context.Context, job *jobspec.LiveJob, held []string) error {
	for _, node := range held {
		if job.State.Active() && node == job.Assigned_worker_id {
			continue
		}
		if err := s.cfg.Store.Release(ctx, node, job.Id); err != nil {
			return err
		}
	}
	return nil
}

// act runs fn under the job's lock. A repair that keeps failing is backed
// off and logged once (stuckRepairs), not retried and logged every sweep.
func (s *Scheduler) act(ctx context.Context, id, why string, fn func(context.Context, *jobspec.LiveJob) error) {
	if !s.stuck.due(id, s.now()) {
		return
	}
	switch err := s.withJob(ctx, id, fn); {
	case err == nil:
		s.stuck.succeeded(s.log, id)
	case err != errJobBusy:
		s.stuck.failed(s.log, id, why, err, s.now(), s.cfg.ReconcileInterval)
	}
}

// checkHeartbeats re-places jobs whose transcoder stopped heartbeating,
// judged only over time the scheduler could see the store (sight).
func (s *Scheduler) checkHeartbeats(ctx context.Context) {
	now := s.now()
	ids, err := s.cfg.Store.StaleHeartbeats(ctx, now.Add(-s.cfg.HeartbeatTimeout))
	if err != nil {
		s.sight.lost()
		s.log.Warn("read stale heartbeats", "err", err)
		return
	}
	s.sight.seen(now)
	if now.Sub(s.sight.from()) < s.cfg.HeartbeatTimeout {
		// deadReason decides, and would find every one alive; this only
		// spares locking each job that went stale during the outage.
		return
	}
	for _, id := range ids {
		if err := s.ReconcileJob(ctx, id); err != nil && err != errJobBusy {
			s.log.Warn("handle stale heartbeat", "job_id", id, "err", err)
		}
	}
}

// onDriverEvent reacts to what the cluster reports: a failed, lost or
// unknown allocation, or a node that went down or disconnected, is
// re-placed at once rather than after the heartbeat timeout.
func (s *Scheduler) onDriverEvent(ctx context.Context, ev Event) {
	switch ev.Kind {
	case EventFailed:
		s.placementDied(ctx, ev.JobID, ev.NodeID, ev.Generation, "allocation failed: "+ev.Reason)
	case EventLost:
		s.placementDied(ctx, ev.JobID, ev.NodeID, ev.Generation, "allocation lost: "+ev.Reason)
	case EventNodeDown:
		loads, err := s.cfg.Store.Loads(ctx)
		if err != nil {
			s.log.Warn("node down: read loads", "node_id", ev.NodeID, "err", err)
			return
		}
		reason := "node " + ev.NodeID + " down"
		if ev.Reason != "" {
			reason += " (" + ev.Reason + ")"
		}
		for id := range loads[ev.NodeID].Jobs {
			s.placementDied(ctx, id, ev.NodeID, 0, reason)
		}
	case EventNodeUp:
		s.capacityAppeared(ctx)
	}
}

func (s *Scheduler) placementDied(ctx context.Context, id, node string, gen int64, reason string) {
	err := s.withJob(ctx, id, func(ctx context.Context, job *jobspec.LiveJob) error {
		if job == nil {
			return nil // deleted meanwhile
		}
		current := job.State.Active() && job.State != jobspec.StateCreated && job.Assigned_worker_id != "" &&
			(node == "" || node == job.Assigned_worker_id) &&
			(gen == 0 || gen == job.Placement_generation)
		if !current {
			return nil // an event about an older placement
		}
		return s.replace(ctx, job, reason)
	})
	if err != nil {
		s.log.Warn("re-place after driver event", "job_id", id, "node_id", node, "err", err)
	}
}
