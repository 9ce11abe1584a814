package store

import (
	"context"
	"fmt"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// The keys of the per-client quota. A client counts each job created with
// its name until the job is deleted (DeleteJob).
const (
	KeyJobClients = "job_clients" // hash: job id → the client that created it
	KeyClientJobs = "client_jobs" // hash: client → its jobs not yet deleted
)

// Admission is what a new job must fit in: at most MaxQueued jobs waiting
// in queued_jobs, and at most ClientQuota jobs of Client not yet deleted.
// Zero limits are none; an empty Client is counted for no one.
type Admission struct {
	Client      string
	MaxQueued   int
	ClientQuota int
}

// The limits a LimitError names.
const (
	LimitQueue       = "queue"        // queued_jobs is full
	LimitClientQuota = "client_quota" // the client has its quota of jobs
)

// LimitError is a job refused by an admission limit; it is a jobspec.Error
// with code ELIMIT too.
type LimitError struct {
	Limit   string // LimitQueue or LimitClientQuota
	Max     int
	Message string
}

func (e *LimitError) Error() string { return e.Message }

func (e *LimitError) Unwrap() error {
	return &jobspec.Error{Code: jobspec.ELIMIT, Message: e.Message}
}

func queueFull(max int) error {
	return &LimitError{Limit: LimitQueue, Max: max, Message: fmt.Sprintf(
		"the queue is full: %d jobs wait for capacity already (the limit); try again later", max)}
}

func quotaReached(max int) error {
	return &LimitError{Limit: LimitClientQuota, Max: max, Message: fmt.Sprintf(
		"this client has %d jobs, its quota: delete jobs it no longer needs, or try again later", max)}
}

// QueueRoom is nil when fewer than max jobs wait in queued_jobs (max 0: no
// limit), else the queue's *LimitError: what resuming a job checks.
func (s *Store) QueueRoom(ctx context.Context, max int) error {
	if max <= 0 {
		return nil
	}
	n, err := s.QueueLength(ctx)
	if err != nil {
		return err
	}
	if n >= int64(max) {
		return queueFull(max)
	}
	return nil
}

// forgetClient uncounts a deleted job from its client's jobs.
var forgetClient = redis.NewScript(`
local client = redis.call('HGET', KEYS[1], ARGV[1])
if not client then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], client, -1) <= 0 then redis.call('HDEL', KEYS[2], client) end
return 1`)
