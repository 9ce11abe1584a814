// Package store keeps live jobs and the scheduler's bookkeeping in Redis.
// It owns these keys:
//
//	jobs, job_ids, stream_keys, upload_tokens  the job records and their indexes
//	jobs_version                               counts the writes of records (a
//	                                           list page cached in memory is
//	                                           served while it has not moved)
//	queued_jobs, worker_loads, worker_cpu      placement bookkeeping
//	capacity_changes                           counts the times capacity may
//	                                           have appeared (waiting jobs are
//	                                           retried on it)
//	heartbeats                                 the transcoders' last heartbeats
//	job_live                                   each job's live fields (Stats,
//	                                           Time_last_heartbeat): what a
//	                                           heartbeat writes; read with
//	                                           the record
//	job_bytes                                  each job's bytes in storage and
//	                                           when the origin's sweep measured
//	                                           them; read with the record
//	job_fence                                  each job's placement
//	                                           generation, whether it is
//	                                           active, a digest of what a
//	                                           heartbeat may change, and its
//	                                           stream key: written with the
//	                                           record, checked by heartbeats
//	job_events                                 every state change, input and
//	                                           output event (read it with
//	                                           JobEvents or an EventGroup)
//	job_clients, client_jobs                   who created each job; each
//	                                           client's jobs (its quota)
//	deleted_jobs                               deletions, a week: the origin's
//	                                           proof before it removes outputs
//	recordings:<id>                            a job's recordings: run → info
//	                                           (the origin writes it), or
//	                                           "deleted" until the origin has
//	                                           removed the recording's files
//	kept_recordings                            the deleted jobs whose
//	                                           recordings were kept, and their
//	                                           playback policies: until the
//	                                           origin has removed the last
//	                                           (their recordings:<id> stay)
//	lock:job:<id>, lock:publish:<stream key>   a scheduler's hold on a job; the
//	                                           one publisher of a stream key
//
// The command stream is queue's, the content keys are drm's and the viewer
// tokens' signing key is playback's. It knows
// nothing of HTTP, queues, Nomad or ffmpeg.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// The Redis keys. The first three keep the original project's names.
const (
	KeyJobs           = "jobs"            // hash: job id → job JSON without its live fields (job_live)
	KeyQueuedJobs     = "queued_jobs"     // list: ids of jobs waiting for a node
	KeyWorkerLoads    = "worker_loads"    // hash: node id → load JSON
	KeyWorkerCPU      = "worker_cpu"      // hash: node id → cores reserved (worker_loads' totals, for placement)
	KeyJobIDs         = "job_ids"         // sorted set, score 0: ids in lexical (= creation, UUIDv7) order
	KeyStreamKeys     = "stream_keys"     // hash: stream key → job id
	KeyUploadTokens   = "upload_tokens"   // hash: job id → current upload token (the origin's fence)
	KeyHeartbeats     = "heartbeats"      // sorted set: job id → unix ms of its last heartbeat
	KeyJobLive        = "job_live"        // hash: job id → its live fields JSON (Stats, Time_last_heartbeat), kept out of jobs
	KeyJobBytes       = "job_bytes"       // hash: job id → {"Bytes_stored","Time_bytes_measured"} JSON, the origin's sweep measures it
	KeyJobFence       = "job_fence"       // hash: job id → what a heartbeat is checked against (generation, active, digest, stream key)
	KeyJobEvents      = "job_events"      // stream: every state change, input and output event of every job (SSE, webhooks), capped
	KeyDeletedJobs    = "deleted_jobs"    // sorted set: job id → unix ms of its deletion, kept a week (the origin's proof)
	KeyJobsVersion    = "jobs_version"    // counter: record writes (create, change, delete): the list cache's validator
	KeyKeptRecordings = "kept_recordings" // hash: id of a deleted job whose recordings are kept → its Playback_policy
	keyLockPrefix     = "lock:"           // string per lock: owner, with a TTL
)

// Store is the Redis-backed job store. It is safe for concurrent use.
type Store struct {
	rdb      redis.UniversalClient
	replicas int           // replicas that must have a new job before CreateJob returns
	replWait time.Duration // how long CreateJob waits for them
	lists    *listCache    // pages of ListJobsJSON; nil: none kept
}

// Option changes a new store.
type Option func(*Store)

// WaitReplicas makes CreateJob return only once n replicas have the new
// job (Redis WAIT), or timeout has passed: a failover that promotes one of
// them keeps every job whose creation was acknowledged. When fewer confirm
// in time (none is left after a failover, or they lag) the job is still
// created, on the primary alone, and a warning says so: refusing would
// stop creation whenever the last replica is gone.
func WaitReplicas(n int, timeout time.Duration) Option {
	return func(s *Store) { s.replicas, s.replWait = n, timeout }
}

// CacheLists keeps the pages ListJobsJSON serves in memory, each for up to
// maxAge (listcache.go); 0 keeps none.
func CacheLists(maxAge time.Duration) Option {
	return func(s *Store) { s.lists = newListCache(maxAge) }
}

// New returns a store on rdb, with list pages cached for
// DefaultListCacheAge unless an option says otherwise.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	s := &Store{rdb: rdb, lists: newListCache(DefaultListCacheAge)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap(s.rdb.Ping(ctx).Err(), "ping redis")
}

// wrap turns a Redis failure into the application's EUNAVAILABLE, keeping
// application errors as they are.
func wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	var appErr *jobspec.Error
	if errors.As(err, &appErr) {
		return err
	}
	return &jobspec.Error{Code: jobspec.EUNAVAILABLE, Message: fmt.Sprintf("%s: redis unavailable: %v", what, err)}
}

func notFound(id string) error {
	return jobspec.Errorf(jobspec.ENOTFOUND, "job %s not found", id)
}

func decodeJob(raw []byte) (*jobspec.LiveJob, error) {
	var j jobspec.LiveJob
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("decode job record: %w", err)
	}
	return &j, nil
}
