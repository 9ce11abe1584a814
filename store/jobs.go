package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// createJob adds the record and its indexes at once, unless the id exists
// (0) or an admission limit refuses it: queued_jobs holds ARGV[4] ids or
// more (-1), the client ARGV[5] has ARGV[6] jobs or more (-2). Zero limits
// are none. A job with a client is counted for it (admission.go). Its
// fence (ARGV[7]) and live fields (ARGV[8], '{}' for none) are kept with it.
var createJob = redis.NewScript(`
local maxq, client, quota = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
if maxq > 0 and redis.call('LLEN', KEYS[5]) >= maxq then return -1 end
if quota > 0 and client ~= '' and tonumber(redis.call('HGET', KEYS[6], client) or '0') >= quota then return -2 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], ARGV[1]) end
if client ~= '' then
  redis.call('HINCRBY', KEYS[6], client, 1)
  redis.call('HSET', KEYS[7], ARGV[1], client)
end
redis.call('HSET', KEYS[8], ARGV[1], ARGV[7])
if ARGV[8] ~= '{}' then redis.call('HSET', KEYS[9], ARGV[1], ARGV[8]) end
redis.call('INCR', KEYS[10])
for i = 9, #ARGV do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '` + maxJobEvents + `', '*', 'job_id', ARGV[1], 'event', ARGV[i])
end
return 1`)

// compareAndSwapJob writes a record only if it is still what the caller read,
// so concurrent writers (API, schedulers, transcoders) never lose an update.
// The state changes the update made (ARGV[10..]) are appended to job_events
// in the same step, so an event is published if and only if it is stored;
// a heartbeat's time (ARGV[6], unix ms, or empty) goes to heartbeats with it,
// and a changed record counts in jobs_version (KEYS[7]).
// The job's fence (ARGV[7]) is rewritten with every record, so a heartbeat
// checks the record as written; its live fields (ARGV[8]) only when the
// update changed them (empty: left as they are; {}: deleted), and then
// only if they are still what the caller read (ARGV[9], empty for none).
var compareAndSwapJob = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[8] ~= '' and (redis.call('HGET', KEYS[6], ARGV[1]) or '') ~= ARGV[9] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= ARGV[5] then
  if ARGV[4] ~= '' then redis.call('HDEL', KEYS[2], ARGV[4]) end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[5], ARGV[1]) end
end
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1]) end
redis.call('HSET', KEYS[5], ARGV[1], ARGV[7])
if ARGV[8] == '{}' then redis.call('HDEL', KEYS[6], ARGV[1])
elseif ARGV[8] ~= '' then redis.call('HSET', KEYS[6], ARGV[1], ARGV[8]) end
if ARGV[3] ~= ARGV[2] then redis.call('INCR', KEYS[7]) end
for i = 10, #ARGV do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '` + maxJobEvents + `', '*', 'job_id', ARGV[1], 'event', ARGV[i])
end
return 1`)

// maxJobEvents caps the job_events stream (about: Redis trims in whole nodes).
const maxJobEvents = "100000"

// maxUpdateAttempts bounds the optimistic retries of one UpdateJob.
const maxUpdateAttempts = 50

// CreateJob stores a new job. ECONFLICT if the id exists.
func (s *Store) CreateJob(ctx context.Context, job *jobspec.LiveJob) error {
	return s.CreateJobWithin(ctx, job, Admission{})
}

// CreateJobWithin stores a new job if the admission's limits let it, in one
// step with their check: a *LimitError names the limit that refuses it, and
// nothing is stored then. ECONFLICT if the id exists.
func (s *Store) CreateJobWithin(ctx context.Context, job *jobspec.LiveJob, a Admission) error {
	raw, liveJSON, err := splitJob(job)
	if err != nil {
		return err
	}
	keys := []string{KeyJobs, KeyJobIDs, KeyStreamKeys, KeyJobEvents, KeyQueuedJobs, KeyClientJobs, KeyJobClients, KeyJobFence, KeyJobLive, KeyJobsVersion}
	args := append([]any{job.Id, raw, job.StreamKey, a.MaxQueued, a.Client, a.ClientQuota, fence(job), liveJSON}, newEvents(job, nil)...)
	created, err := s.runCreate(ctx, keys, args)
	if err != nil {
		return wrap(err, "create job "+job.Id)
	}
	switch created {
	case 0:
		return jobspec.Errorf(jobspec.ECONFLICT, "job %s exists", job.Id)
	case -1:
		return queueFull(a.MaxQueued)
	case -2:
		return quotaReached(a.ClientQuota)
	}
	return nil
}

// runCreate runs createJob and, under WaitReplicas, WAIT on the same
// connection (WAIT counts that connection's writes only).
func (s *Store) runCreate(ctx context.Context, keys []string, args []any) (int, error) {
	if s.replicas == 0 {
		return createJob.Run(ctx, s.rdb, keys, args...).Int()
	}
	pipe := s.rdb.Pipeline()
	created := createJob.Eval(ctx, pipe, keys, args...)
	acked := pipe.Do(ctx, "wait", s.replicas, s.replWait.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	n, _ := created.Int()
	if got, _ := acked.Int(); n == 1 && got < s.replicas {
		slog.Warn("new job not confirmed by Redis replicas: a failover now would lose it",
			"job_id", args[0], "replicas", got, "want", s.replicas, "waited", s.replWait)
	}
	return n, nil
}

// Job returns one job; ENOTFOUND when there is none.
func (s *Store) Job(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	raw, beside, err := s.readJob(ctx, id, besideRecord...)
	if err != nil {
		return nil, err
	}
	return decodeStored(raw, beside...)
}

// besideRecord are the hashes whose objects every read of a record merges
// into it: its live fields and its stored bytes.
var besideRecord = []string{KeyJobLive, KeyJobBytes}

// readJob reads a job's record and its fields in the hashes beside ("" for
// one without) in one round trip; ENOTFOUND when there is no record.
func (s *Store) readJob(ctx context.Context, id string, beside ...string) (record string, objs []string, err error) {
	var rec *redis.StringCmd
	cmds := make([]*redis.StringCmd, len(beside))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		rec = p.HGet(ctx, KeyJobs, id)
		for i, key := range beside {
			cmds[i] = p.HGet(ctx, key, id)
		}
		return nil
	}) // each command's own error is checked by storedJob
	return storedJob(id, rec, cmds...)
}

// storedJob is what a pipelined read of a record (rec) and its fields in
// the hashes beside it returned: the record and those fields ("" for one
// without), ENOTFOUND or EUNAVAILABLE.
func storedJob(id string, rec *redis.StringCmd, beside ...*redis.StringCmd) (record string, objs []string, err error) {
	record, err = rec.Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", nil, notFound(id)
	case err != nil:
		return "", nil, wrap(err, "get job "+id)
	}
	objs = make([]string, len(beside))
	for i, c := range beside {
		objs[i], err = c.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", nil, wrap(err, "get job "+id)
		}
	}
	return record, objs, nil
}

// UpdateJob reads a job, applies fn and writes the result atomically,
// retrying when another writer got there first. An error from fn aborts the
// update and is returned as is.
func (s *Store) UpdateJob(ctx context.Context, id string, fn func(*jobspec.LiveJob) error) (*jobspec.LiveJob, error) {
	return s.updateJob(ctx, id, nil, "", fn)
}

// UpdateJobFrom is UpdateJob for a caller holding the job as it just read
// it: the first attempt starts from that copy and saves a read. The
// compare-and-swap still refuses it if the record changed since (or does
// not encode to the same bytes), and UpdateJob's read-and-retry follows.
// known is not modified.
func (s *Store) UpdateJobFrom(ctx context.Context, known *jobspec.LiveJob, fn func(*jobspec.LiveJob) error) (*jobspec.LiveJob, error) {
	stored, err := storedAs(known)
	if err != nil {
		return s.UpdateJob(ctx, known.Id, fn)
	}
	return s.updateJob(ctx, known.Id, stored, "", fn)
}

// storedRecord is a job as kept: its record, its live fields and its
// stored bytes ("" when none).
type storedRecord struct{ record, live, size string }

// storedAs is how job is kept, if it is what was read.
func storedAs(job *jobspec.LiveJob) (*storedRecord, error) {
	raw, liveJSON, err := splitJob(job)
	if err != nil {
		return nil, err
	}
	if liveJSON == noLive {
		liveJSON = "" // as read from job_live
	}
	return &storedRecord{raw, liveJSON, sizeOf(job)}, nil
}

// updateJob is UpdateJob's loop; known, when set, stands in for the first
// read; heartbeat, when set (unix ms), is recorded in heartbeats with the
// write. The live fields are written only when fn changed them, so that an
// update does not put back the stats of an earlier heartbeat.
func (s *Store) updateJob(ctx context.Context, id string, known *storedRecord, heartbeat string, fn func(*jobspec.LiveJob) error) (*jobspec.LiveJob, error) {
	for range maxUpdateAttempts {
		old, assumed := known, known != nil
		known = nil
		if !assumed {
			rec, beside, err := s.readJob(ctx, id, besideRecord...)
			if err != nil {
				return nil, err
			}
			old = &storedRecord{rec, beside[0], beside[1]}
		}
		job, args, err := applyUpdate(id, old, heartbeat, fn)
		if err != nil {
			return nil, err
		}
		if args == nil {
			if assumed {
				continue // nothing to write, but the caller's copy may be stale
			}
			return job, nil
		}
		ok, err := compareAndSwapJob.Run(ctx, s.rdb, casKeys, args...).Int()
		if err != nil {
			return nil, wrap(err, "update job "+id)
		}
		if ok == 1 {
			return job, nil
		}
	}
	return nil, jobspec.Errorf(jobspec.EUNAVAILABLE, "update job %s: too many concurrent writers", id)
}

// casKeys are compareAndSwapJob's keys.
var casKeys = []string{KeyJobs, KeyStreamKeys, KeyJobEvents, KeyHeartbeats, KeyJobFence, KeyJobLive, KeyJobsVersion}

// applyUpdate applies fn to the job stored as old and returns the result
// with compareAndSwapJob's arguments, or nil arguments when there is
// nothing to write (fn changed nothing and there is no heartbeat). The live
// fields are written only when fn changed them, so that an update does not
// put back the stats of an earlier heartbeat.
func applyUpdate(id string, old *storedRecord, heartbeat string, fn func(*jobspec.LiveJob) error) (*jobspec.LiveJob, []any, error) {
	job, err := decodeStored(old.record, old.live, old.size)
	if err != nil {
		return nil, nil, err
	}
	oldKey, lastEvent := job.StreamKey, lastOf(job.Events)
	if err := fn(job); err != nil {
		return nil, nil, err
	}
	raw, liveJSON, err := splitJob(job)
	if err != nil {
		return nil, nil, err
	}
	if raw == old.record && sameLive(liveJSON, old.live) && heartbeat == "" {
		return job, nil, nil
	}
	if sameLive(liveJSON, old.live) {
		liveJSON = "" // leave job_live as it is
	}
	args := append([]any{id, old.record, raw, oldKey, job.StreamKey, heartbeat, fence(job), liveJSON, old.live}, newEvents(job, lastEvent)...)
	return job, args, nil
}

// sameLive reports whether encoded live fields are those read from
// job_live ("" there: none).
func sameLive(encoded, stored string) bool {
	return encoded == stored || encoded == noLive && stored == ""
}

// DeleteJob removes a job and everything kept for it, but for a job that
// keeps its recordings (Keep_recordings) those: the job becomes a kept job
// (KeptJob) if it has any. Deleting a job that does not exist is not an
// error.
func (s *Store) DeleteJob(ctx context.Context, id string) error {
	job, err := s.Job(ctx, id)
	if jobspec.ErrorCode(err) == jobspec.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, KeyJobs, id)
		p.Incr(ctx, KeyJobsVersion)
		p.ZRem(ctx, KeyJobIDs, id)
		if job.StreamKey != "" {
			p.HDel(ctx, KeyStreamKeys, job.StreamKey)
		}
		p.HDel(ctx, KeyUploadTokens, id)
		if job.Keep_recordings {
			keepRecordings.Eval(ctx, p, []string{recordingsKey(id), KeyKeptRecordings}, id, job.Spec.Playback_policy)
		} else {
			p.Del(ctx, recordingsKey(id)) // the origin removes the job's folder, recordings with it
		}
		p.ZRem(ctx, KeyHeartbeats, id)
		p.HDel(ctx, KeyJobLive, id)
		p.HDel(ctx, KeyJobBytes, id)
		p.HDel(ctx, KeyJobFence, id)
		p.LRem(ctx, KeyQueuedJobs, 0, id)
		forgetClient.Eval(ctx, p, []string{KeyJobClients, KeyClientJobs}, id)
		now := time.Now()
		p.ZAdd(ctx, KeyDeletedJobs, redis.Z{Score: float64(now.UnixMilli()), Member: id})
		p.ZRemRangeByScore(ctx, KeyDeletedJobs, "-inf", fmt.Sprint(now.Add(-deletedJobsKept).UnixMilli()))
		return nil
	})
	return wrap(err, "delete job "+id)
}

// deletedJobsKept is how long a deletion stays on record: long past any
// origin outage the sweep must outlast.
const deletedJobsKept = 7 * 24 * time.Hour

// KeepOutputs reports whether a job's published outputs must be kept: false
// only when Redis answers that the job has no record or is being deleted
// (the origin removes them then). An error means Redis could not answer.
func (s *Store) KeepOutputs(ctx context.Context, id string) (bool, error) {
	job, err := s.Job(ctx, id)
	switch {
	case jobspec.ErrorCode(err) == jobspec.ENOTFOUND:
		return false, s.provenDeleted(ctx, id)
	case err != nil:
		return false, err
	}
	return job.State != jobspec.StateDeleting, nil
}

// ErrNoJobsAtAll is KeepOutputs' answer for a job that has no record and
// no deletion on record while Redis holds no job at all: an empty, flushed
// or wrong Redis, where "no record" proves nothing, so nothing is removed on
// its word.
var ErrNoJobsAtAll = errors.New("redis holds no job and no deletion of this one (empty, flushed or another Redis?): keeping its outputs")

// provenDeleted is nil when a job without a record may lose its outputs:
// its deletion is on record (in deleted_jobs, or it is a kept job), or
// Redis holds other jobs.
func (s *Store) provenDeleted(ctx context.Context, id string) error {
	var deleted *redis.FloatCmd
	var jobs *redis.IntCmd
	var kept *redis.BoolCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		deleted = p.ZScore(ctx, KeyDeletedJobs, id)
		jobs = p.HLen(ctx, KeyJobs)
		kept = p.HExists(ctx, KeyKeptRecordings, id)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return wrap(err, "look up the deletion of "+id)
	}
	if deleted.Err() == nil || jobs.Val() > 0 || kept.Val() {
		return nil
	}
	return ErrNoJobsAtAll
}

// JobByStreamKey returns the job a stream key belongs to.
func (s *Store) JobByStreamKey(ctx context.Context, key string) (*jobspec.LiveJob, error) {
	id, err := s.rdb.HGet(ctx, KeyStreamKeys, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, jobspec.Errorf(jobspec.ENOTFOUND, "no job has this stream key")
	}
	if err != nil {
		return nil, wrap(err, "look up stream key")
	}
	return s.Job(ctx, id)
}

// ListOptions selects a page of jobs.
type ListOptions struct {
	States []jobspec.State // empty: every state
	Limit  int             // page size; 0 means DefaultListLimit
	Cursor string          // opaque; "" is the first page
}

// DefaultListLimit is the page size when none is asked for.
const DefaultListLimit = 100

// ListJobs returns a page of jobs in creation order and the cursor of the
// next page ("" when this is the last).
func (s *Store) ListJobs(ctx context.Context, opt ListOptions) ([]*jobspec.LiveJob, string, error) {
	limit := opt.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	jobs := make([]*jobspec.LiveJob, 0, limit)
	after := opt.Cursor
	for len(jobs) < limit {
		ids, err := s.idsAfter(ctx, after, int64(limit-len(jobs)))
		if err != nil {
			return nil, "", err
		}
		if len(ids) == 0 {
			return jobs, "", nil
		}
		page, err := s.jobsByID(ctx, ids)
		if err != nil {
			return nil, "", err
		}
		for _, j := range page {
			if len(opt.States) == 0 || slices.Contains(opt.States, j.State) {
				jobs = append(jobs, j)
			}
		}
		after = ids[len(ids)-1]
	}
	more, err := s.idsAfter(ctx, after, 1)
	if err != nil || len(more) == 0 {
		return jobs, "", err
	}
	return jobs, after, nil
}

func (s *Store) idsAfter(ctx context.Context, after string, n int64) ([]string, error) {
	min := "-"
	if after != "" {
		min = "(" + after
	}
	ids, err := s.rdb.ZRangeByLex(ctx, KeyJobIDs, &redis.ZRangeBy{Min: min, Max: "+", Count: n}).Result()
	return ids, wrap(err, "list jobs")
}

func (s *Store) jobsByID(ctx context.Context, ids []string) ([]*jobspec.LiveJob, error) {
	recs, lives, sizes, err := s.records(ctx, ids)
	if err != nil {
		return nil, wrap(err, "list jobs")
	}
	jobs := make([]*jobspec.LiveJob, 0, len(ids))
	for i, str := range recs {
		if str == "" {
			continue // deleted between the index read and this one
		}
		j, err := decodeStored(str, lives[i], sizes[i])
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// AllJobIDs returns every job id (for the reconcile loop).
func (s *Store) AllJobIDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.ZRangeByLex(ctx, KeyJobIDs, &redis.ZRangeBy{Min: "-", Max: "+"}).Result()
	return ids, wrap(err, "list job ids")
}

// newEvents encodes the events an update appended after last, the newest
// event before it (nil when there was none). The history is capped, so the
// new events are found after last rather than by counting.
func newEvents(job *jobspec.LiveJob, last *jobspec.Event) []any {
	from := 0
	if last != nil {
		from = len(job.Events)
		for i := len(job.Events) - 1; i >= 0; i-- {
			if job.Events[i] == *last {
				from = i + 1
				break
			}
		}
	}
	out := make([]any, 0, len(job.Events)-from)
	for _, ev := range job.Events[from:] {
		raw, _ := json.Marshal(ev)
		out = append(out, raw)
	}
	return out
}

func lastOf(events []jobspec.Event) *jobspec.Event {
	if len(events) == 0 {
		return nil
	}
	last := events[len(events)-1]
	return &last
}
