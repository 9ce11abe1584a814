package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// DefaultQueueSweepInterval is how often the waiting jobs are tried with no
// capacity signal: the safety net for a signal that was missed.
const DefaultQueueSweepInterval = 30 * time.Second

// Waiting is a job in queued_jobs as the queue check sees it.
type Waiting struct {
	JobID string
	CPU   float64 // estimated cores
}

// Fits is which of the waiting jobs, taken in order, would find room: the
// least-loaded ChooseAll of them on the nodes and their loads. It only
// picks the jobs worth locking: they are then placed by ReconcileJobs,
// which decides again on fresh loads with the configured strategy.
func Fits(nodes []Node, loads map[string]float64, waiting []Waiting) []string {
	reqs := make([]Request, len(waiting))
	for i, w := range waiting {
		reqs[i] = Request{JobID: w.JobID, CPU: w.CPU}
	}
	var out []string
	for i, d := range ChooseAll(nodes, loads, reqs, LeastLoaded) {
		if d.OK {
			out = append(out, waiting[i].JobID)
		}
	}
	return out
}

// queueWatch is what the scheduler knows of the waiting jobs between two
// looks. It belongs to Run's goroutine.
type queueWatch struct {
	seen  int64              // capacity_changes when last tried; -1: unknown, try at the next check
	tried time.Time          // when the waiting jobs were last tried
	cpu   map[string]float64 // cores of each waiting job, read once: a spec never changes
}

// checkQueue tries the waiting jobs when capacity may have appeared since
// the last try (capacity_changes moved), or when that try is older than the
// queue sweep interval. Otherwise it costs one read, however long the queue.
func (s *Scheduler) checkQueue(ctx context.Context) {
	n, err := s.cfg.Store.CapacityChanges(ctx)
	if err != nil {
		s.queue.seen = -1
		s.log.Warn("read capacity changes", "err", err)
		return
	}
	if n == s.queue.seen && s.now().Sub(s.queue.tried) < s.cfg.QueueSweepInterval {
		return
	}
	s.queue.seen, s.queue.tried = n, s.now()
	if err := s.retryQueued(ctx); err != nil {
		s.queue.seen = -1 // the signal is not used up: try again at the next check
		s.log.Warn("retry queued jobs", "err", err)
	}
}

// capacityAppeared tells every scheduler that a waiting job may fit now; if
// the store cannot be told, this one tries at its next check all the same.
func (s *Scheduler) capacityAppeared(ctx context.Context) {
	if err := s.cfg.Store.NoteCapacity(ctx); err != nil {
		s.queue.seen = -1
		s.log.Warn("note capacity", "err", err)
	}
}

// maxBatch bounds how many waiting jobs are placed as one batch.
const maxBatch = 100

// retryQueued places the waiting jobs that fit now (Fits), in batches, and reconciles
// the entries of queued_jobs whose job no longer waits, which drops them.
// An error says the queue could not be read or judged whole.
func (s *Scheduler) retryQueued(ctx context.Context) error {
	ids, err := s.cfg.Store.QueuedJobs(ctx)
	if err != nil {
		return fmt.Errorf("read queued jobs: %w", err)
	}
	waiting, stale, err := s.waitingJobs(ctx, ids)
	if err != nil {
		return fmt.Errorf("read queued jobs: %w", err)
	}
	try, fitErr := s.fitting(ctx, waiting)
	for batch := range slices.Chunk(append(stale, try...), maxBatch) {
		for id, err := range s.ReconcileJobs(ctx, batch) {
			if err != nil {
				s.log.Warn("retry queued job", "job_id", id, "err", err)
			}
		}
	}
	return fitErr
}

// waitingJobs splits the queued ids into the jobs that wait, with their
// cores, and the stale entries (no record, or a job that no longer waits).
// Only records not seen waiting before are read.
func (s *Scheduler) waitingJobs(ctx context.Context, ids []string) ([]Waiting, []string, error) {
	var unknown []string
	for _, id := range ids {
		if _, ok := s.queue.cpu[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	read, err := s.cfg.Store.JobsByID(ctx, unknown)
	if err != nil {
		return nil, nil, err
	}
	cpu := make(map[string]float64, len(ids))
	waiting, stale := make([]Waiting, 0, len(ids)), []string(nil)
	for _, id := range ids {
		c, known := s.queue.cpu[id]
		if !known {
			j := read[id]
			if j == nil || !waits(j) {
				stale = append(stale, id)
				continue
			}
			c = jobspec.EstimateCost(j.Spec).CPU
		}
		cpu[id] = c
		waiting = append(waiting, Waiting{JobID: id, CPU: c})
	}
	s.queue.cpu = cpu
	return waiting, stale, nil
}

// waits reports whether a job's record says it waits for a node.
func waits(j *jobspec.LiveJob) bool {
	return j.State == jobspec.StateCreated || j.State.Active() && j.Assigned_worker_id == ""
}

// fitting reads the nodes and their loads and returns the waiting jobs
// worth trying (Fits). A driver with no usable node fits none.
func (s *Scheduler) fitting(ctx context.Context, waiting []Waiting) ([]string, error) {
	if len(waiting) == 0 {
		return nil, nil
	}
	nodes, err := s.cfg.Driver.Nodes(ctx)
	var none *NoNodesError
	if errors.As(err, &none) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	loads, err := s.cfg.Store.CPULoads(ctx)
	if err != nil {
		return nil, err
	}
	return Fits(nodes, loads, waiting), nil
}
