// Package scheduler places live jobs on nodes and keeps them running: it
// consumes commands, keeps queued_jobs and worker_loads in Redis, drives a
// Driver (local processes or Nomad), re-places jobs whose placement died and
// fails those whose outputs keep failing. It holds no state of its own that
// matters: any instance may be killed.
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// ContentKeys forgets a deleted job's content keys (drm.KeyService). The
// origin removes the job's outputs itself when it sees the job deleted.
type ContentKeys interface {
	Delete(ctx context.Context, jobID string) error
}

// Config wires a scheduler. Zero durations take the defaults below.
type Config struct {
	Store    *store.Store
	Queue    queue.Queue
	Driver   Driver
	Keys     ContentKeys // nil: no job has content keys
	Strategy Strategy
	Logger   *slog.Logger
	Metrics  Metrics // nil: nothing is counted

	HeartbeatTimeout   time.Duration // a placement with no heartbeat for this long is dead
	StartTimeout       time.Duration // time a new placement has for its first heartbeat
	MaxAttempts        int           // re-placements after failures before the job fails
	ReconcileInterval  time.Duration // full sweep of every job
	QueueSweepInterval time.Duration // waiting jobs are tried this often with no capacity signal
	Instance           string        // this scheduler's name in locks

	// OutputFailureTimeout: a job whose transcoder reports its writes to
	// the origin failing for longer fails. Zero: never (an exception to
	// the defaults below; the ezlive commands default to
	// DefaultOutputFailureTimeout).
	OutputFailureTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultHeartbeatTimeout  = 10 * time.Second
	DefaultStartTimeout      = 30 * time.Second
	DefaultMaxAttempts       = 5
	DefaultReconcileInterval = 5 * time.Second
	jobLockTTL               = 15 * time.Second
	visibilityExtension      = 60 * time.Second
)

// Scheduler is one scheduler instance.
type Scheduler struct {
	cfg   Config
	log   *slog.Logger
	turn  atomic.Uint64 // round-robin position; in memory on purpose: it only spreads load
	now   func() time.Time
	stuck stuckRepairs
	sight *sight // since when heartbeats could be seen
	queue queueWatch
	// recheckFrom is where the next sweep's turn of waiting jobs starts
	// (recheckTurn); in memory on purpose: it only spreads the rechecks.
	recheckFrom int
}

// New checks the configuration and fills its defaults.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Driver == nil {
		return nil, errors.New("scheduler: Store and Driver are required")
	}
	if cfg.Strategy == "" {
		cfg.Strategy = LeastLoaded
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = DefaultReconcileInterval
	}
	if cfg.QueueSweepInterval <= 0 {
		cfg.QueueSweepInterval = DefaultQueueSweepInterval
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		cfg.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(4))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger, now: time.Now, sight: &sight{}, queue: queueWatch{seen: -1}}, nil
}

// Run consumes commands, follows driver events and reconciles until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	events := make(chan Event, 256)
	go s.watchDriver(ctx, events)
	go s.consume(ctx)
	s.Reconcile(ctx)
	sweep := time.NewTicker(s.cfg.ReconcileInterval)
	defer sweep.Stop()
	liveness := time.NewTicker(time.Second)
	defer liveness.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			s.onDriverEvent(ctx, ev)
		case <-liveness.C:
			s.tick(ctx)
		case <-sweep.C:
			s.Reconcile(ctx)
		}
	}
}

func (s *Scheduler) watchDriver(ctx context.Context, events chan<- Event) {
	for ctx.Err() == nil {
		if err := s.cfg.Driver.Watch(ctx, events); err != nil && ctx.Err() == nil {
			s.log.Warn("driver watch ended; restarting", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// consume handles queue commands. Every command is a nudge to reconcile one
// job: what to do is read from the job's record, so handling is idempotent
// and a lost or repeated command changes nothing the sweep would not. The
// commands of one receive are handled together (ReconcileJobs), so that
// the jobs they create are placed as one batch.
func (s *Scheduler) consume(ctx context.Context) {
	if s.cfg.Queue == nil {
		return
	}
	for ctx.Err() == nil {
		msgs, err := s.cfg.Queue.Receive(ctx, 10, 10*time.Second)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("receive commands", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		s.handleMessages(ctx, msgs)
	}
}

// handleMessages handles received commands; each is acknowledged only once
// its job's reconcile succeeded, so its effect is in Redis.
func (s *Scheduler) handleMessages(ctx context.Context, msgs []queue.Message) {
	if len(msgs) == 0 {
		return
	}
	ids := make([]string, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		ids[i] = m.JobID
		wg.Go(func() { // one round trip each: together, not one after another
			if err := s.cfg.Queue.Extend(ctx, m, visibilityExtension); err != nil {
				s.log.Warn("extend command visibility", "job_id", m.JobID, "verb", m.Verb, "err", err)
			}
		})
	}
	wg.Wait()
	errs := s.ReconcileJobs(ctx, ids)
	for _, m := range msgs {
		log := s.log.With("job_id", m.JobID, "verb", m.Verb)
		if err := errs[m.JobID]; err != nil {
			log.Warn("command not handled; it will be delivered again", "err", err)
			continue
		}
		if err := s.cfg.Queue.Ack(ctx, m); err != nil {
			log.Warn("ack command", "err", err)
		}
	}
}

// tick is the scheduler's work every second: dead heartbeats, and the
// waiting jobs if capacity may have appeared (checkQueue).
func (s *Scheduler) tick(ctx context.Context) {
	s.checkHeartbeats(ctx)
	s.checkQueue(ctx)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
