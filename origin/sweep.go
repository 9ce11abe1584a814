package origin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Retention tells a Sweeper which jobs' outputs to keep. The origin removes
// a deleted job's outputs itself, so deleting a job needs no call to the
// origin and no secret shared with it. An error from either method means
// the answer is unknown (the store is down): nothing is removed on it.
type Retention interface {
	// KeepOutputs reports whether the outputs of jobID must be kept. False
	// must be a definite answer: the job is deleted or being deleted.
	KeepOutputs(ctx context.Context, jobID string) (bool, error)
	// Deletions waits at most wait for jobs whose deletion begins after
	// position after and returns their ids and the position to go on from;
	// after "" asks only for the position of now.
	Deletions(ctx context.Context, after string, wait time.Duration) (ids []string, next string, err error)
}

// Sweeper defaults.
const (
	DefaultSweepInterval = time.Minute
	DefaultSweepMinAge   = 30 * time.Second
	maxSweepBackoff      = 10 * time.Minute
	maxFollowBackoff     = 30 * time.Second
	// followWait bounds one wait for deletions, and so how long Run takes
	// to return once ctx ends (a blocked Redis read is not interrupted).
	followWait = time.Second
)

// SweeperConfig configures a Sweeper. Retention is required.
type SweeperConfig struct {
	Retention Retention
	// Interval is the time between sweeps of every job folder; 0 means
	// DefaultSweepInterval.
	Interval time.Duration
	// MinAge spares folders written more recently from a sweep (they wait
	// for the next one), so a job whose record is being created is never
	// swept; 0 means DefaultSweepMinAge. Deletions are not delayed by it.
	MinAge time.Duration
	// Recordings, when set, makes each sweep remove the recordings of kept
	// jobs that were deleted on their own (record.go), and with
	// RecordingMaxAge (0: never) those not added to for longer; and it
	// keeps the recordings of a deleted job that asked for it
	// (RecordingsKept), as long as they last. Without it a deleted job's
	// folder goes whole.
	Recordings      RecordingRetention
	RecordingMaxAge time.Duration
	// Sizes, when set, is told each sweep the bytes every kept job's
	// outputs and recordings take in storage: one listing of the job's
	// folder per job per sweep (on S3, a LIST request per 1,000 objects).
	Sizes Sizes
}

// Sizes takes the bytes a job takes in storage, as a sweep measured them.
type Sizes interface {
	SaveJobBytes(ctx context.Context, jobID string, n int64, at time.Time) error
}

// Sweeper removes the outputs of deleted jobs: promptly for the deletions
// Retention reports, and by sweeping every job folder at start and every
// Interval, which catches what was deleted while the origin was down.
// Both ask KeepOutputs before removing anything.
type Sweeper struct {
	srv      *Server
	ret      Retention
	log      *slog.Logger
	interval time.Duration
	minAge   time.Duration
	failures int // consecutive failed sweeps; owned by Run

	recs      RecordingRetention
	recMaxAge time.Duration
	sizes     Sizes
}

// NewSweeper returns a Sweeper of s's outputs.
func (s *Server) NewSweeper(cfg SweeperConfig) (*Sweeper, error) {
	if cfg.Retention == nil {
		return nil, errors.New("origin: SweeperConfig.Retention is required")
	}
	w := &Sweeper{srv: s, ret: cfg.Retention, log: s.log, interval: cfg.Interval, minAge: cfg.MinAge,
		recs: cfg.Recordings, recMaxAge: cfg.RecordingMaxAge, sizes: cfg.Sizes}
	if w.interval <= 0 {
		w.interval = DefaultSweepInterval
	}
	if w.minAge <= 0 {
		w.minAge = DefaultSweepMinAge
	}
	return w, nil
}

// Run sweeps at once and every Interval, and removes deleted jobs' outputs
// as their deletions are reported, until ctx ends. A sweep that fails is
// logged once and retried with growing delays until one succeeds.
func (w *Sweeper) Run(ctx context.Context) error {
	deleted := make(chan []string)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { w.follow(ctx, deleted) })
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ids := <-deleted:
			for _, id := range ids {
				w.removeDeleted(ctx, id)
			}
		case <-timer.C:
			timer.Reset(w.sweepAndPace(ctx))
		}
	}
}

// Sweep removes the outputs of every job on disk that Retention says is
// deleted (but kept recordings), sparing folders younger than MinAge, and
// the recordings of the others that are deleted or expired; it tells Sizes
// the bytes of the others. It stops at the first answer Retention cannot
// give, and returns how many jobs' outputs it removed whole.
func (w *Sweeper) Sweep(ctx context.Context) (int, error) {
	folders, err := w.srv.jobFolders(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweep: list job folders: %w", err)
	}
	removed := 0
	var failed []error
	for _, e := range folders {
		if !validJobID(e.Name) {
			continue
		}
		if time.Since(e.ModTime) < w.minAge {
			failed = append(failed, w.sweepKept(ctx, e.Name))
			continue
		}
		keep, err := w.ret.KeepOutputs(ctx, e.Name)
		if err != nil {
			return removed, fmt.Errorf("sweep: is job %s deleted: %w", e.Name, err)
		}
		if keep {
			failed = append(failed, w.sweepKept(ctx, e.Name))
			continue
		}
		gone, err := w.remove(ctx, e.Name)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		if gone {
			removed++
		}
	}
	return removed, errors.Join(failed...)
}

// sweepKept sweeps the recordings of a job whose outputs are kept, then
// measures what the job takes in storage for Sizes.
func (w *Sweeper) sweepKept(ctx context.Context, id string) error {
	err := w.sweepRecordings(ctx, id)
	if w.sizes == nil {
		return err
	}
	at := time.Now()
	n, sizeErr := w.srv.JobBytes(ctx, id)
	if sizeErr == nil {
		sizeErr = w.sizes.SaveJobBytes(ctx, id, n, at)
	}
	return errors.Join(err, sizeErr)
}

// sweepAndPace sweeps and returns the delay before the next sweep: Interval,
// or a growing delay while sweeps fail. Only the first failure of a run of
// failures is logged, and the recovery.
func (w *Sweeper) sweepAndPace(ctx context.Context) time.Duration {
	removed, err := w.Sweep(ctx)
	if ctx.Err() != nil {
		return w.interval
	}
	if err != nil {
		if w.failures == 0 {
			w.log.Warn("origin: sweep of deleted jobs' outputs failed; retrying with backoff, logged again when it recovers", "err", err)
		}
		w.failures++
		return sweepBackoff(w.interval, w.failures)
	}
	if w.failures > 0 {
		w.log.Info("origin: sweep of deleted jobs' outputs works again", "failed_sweeps", w.failures)
		w.failures = 0
	}
	if removed > 0 {
		w.log.Info("origin: sweep removed the outputs of deleted jobs", "jobs", removed)
	}
	return w.interval
}

// sweepBackoff doubles the interval with each failed sweep, up to
// maxSweepBackoff (or the interval, when that is longer).
func sweepBackoff(interval time.Duration, failures int) time.Duration {
	return max(interval, min(interval<<min(failures, 8), maxSweepBackoff))
}

// removeDeleted removes the outputs of a job reported deleted, after
// KeepOutputs confirms it. When it cannot, the sweep will.
func (w *Sweeper) removeDeleted(ctx context.Context, id string) {
	if !validJobID(id) {
		return
	}
	keep, err := w.ret.KeepOutputs(ctx, id)
	if err != nil {
		w.log.Warn("origin: deleted job's outputs left to the next sweep", "job_id", id, "err", err)
		return
	}
	if keep {
		return
	}
	if _, err := w.remove(ctx, id); err != nil {
		w.log.Error("origin: remove deleted job's outputs; the sweep retries", "job_id", id, "err", err)
	}
}

// remove removes the outputs of a deleted job: all of them, or when its
// recordings are kept (RecordingRetention.RecordingsKept) all but those
// until the last is gone (keepRecordingsOnly). gone reports that nothing
// of the job is left.
func (w *Sweeper) remove(ctx context.Context, id string) (gone bool, err error) {
	if w.recs != nil {
		kept, err := w.recs.RecordingsKept(ctx, id)
		if err != nil {
			return false, fmt.Errorf("are the recordings of deleted job %s kept: %w", id, err)
		}
		if kept {
			return w.keepRecordingsOnly(ctx, id)
		}
	}
	return true, w.srv.RemoveJob(ctx, id)
}

// follow reports the deletions Retention announces on out until ctx ends.
// It starts from now: what came before is the sweep's. A failure is logged
// once and retried with growing delays.
func (w *Sweeper) follow(ctx context.Context, out chan<- []string) {
	after, failures := "", 0
	for ctx.Err() == nil {
		ids, next, err := w.ret.Deletions(ctx, after, followWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if failures == 0 {
				w.log.Warn("origin: cannot follow job deletions; retrying with backoff (sweeps go on)", "err", err)
			}
			failures++
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Second<<min(failures, 5), maxFollowBackoff)):
			}
			continue
		}
		if failures > 0 {
			w.log.Info("origin: following job deletions again", "failed_reads", failures)
			failures = 0
		}
		after = next
		if len(ids) == 0 {
			continue
		}
		select {
		case out <- ids:
		case <-ctx.Done():
		}
	}
}
