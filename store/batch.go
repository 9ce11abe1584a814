package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// Placing a batch of jobs: each step below is one round trip for the whole
// batch, however many jobs it holds.

// LockedJob is one job of TryLockJobs: whether its lock was taken and, if
// so, the job as read with it (nil and ENOTFOUND when there is no such job).
type LockedJob struct {
	ID     string
	Locked bool
	Job    *jobspec.LiveJob
	Err    error
}

// TryLockJobs takes each job's lock (JobLock) for owner for ttl and reads
// the jobs, in one round trip: what handling jobs starts with. A job whose
// lock someone else holds is not locked and not returned. The result is in
// ids' order. An error means nothing could be read; some locks may then be
// held, and expire.
func (s *Store) TryLockJobs(ctx context.Context, ids []string, owner string, ttl time.Duration) ([]LockedJob, error) {
	locks := make([]*redis.BoolCmd, len(ids))
	reads := make([]*redis.StringCmd, len(ids))
	beside := make([][]*redis.StringCmd, len(ids))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			locks[i] = p.SetNX(ctx, keyLockPrefix+JobLock(id), owner, ttl)
			reads[i] = p.HGet(ctx, KeyJobs, id)
			for _, key := range besideRecord {
				beside[i] = append(beside[i], p.HGet(ctx, key, id))
			}
		}
		return nil
	}) // each command's own error is checked below
	out := make([]LockedJob, len(ids))
	for i, id := range ids {
		if err := locks[i].Err(); err != nil {
			return nil, wrap(err, "lock job "+id)
		}
		out[i] = LockedJob{ID: id, Locked: locks[i].Val()}
		if !out[i].Locked {
			continue
		}
		raw, objs, err := storedJob(id, reads[i], beside[i]...)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Job, out[i].Err = decodeStored(raw, objs...)
	}
	return out, nil
}

// UnlockAll releases the named locks owner holds, in one round trip.
func (s *Store) UnlockAll(ctx context.Context, names []string, owner string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, name := range names {
			releaseLock.Eval(ctx, p, []string{keyLockPrefix + name}, owner)
		}
		return nil
	})
	return wrap(err, fmt.Sprintf("unlock %d locks", len(names)))
}

// ExtendLocks renews the named locks owner holds, in one round trip; it
// returns the ones that were lost.
func (s *Store) ExtendLocks(ctx context.Context, names []string, owner string, ttl time.Duration) ([]string, error) {
	cmds := make([]*redis.Cmd, len(names))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range names {
			cmds[i] = extendLock.Eval(ctx, p, []string{keyLockPrefix + name}, owner, ttl.Milliseconds())
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("extend %d locks", len(names)))
	}
	var lost []string
	for i, c := range cmds {
		if n, _ := c.Int(); n != 1 {
			lost = append(lost, names[i])
		}
	}
	return lost, nil
}

// StartPlacements begins placing jobs, in one round trip: it makes each
// job's token (by job id) its only upload token, fencing out every earlier
// placement's transcoder, and returns the cores reserved on each node
// (CPULoads), which the placement decision reads. Rotating a token even when
// no node fits is harmless: nothing may write for a job that is being placed.
func (s *Store) StartPlacements(ctx context.Context, tokens map[string]string) (map[string]float64, error) {
	var cpu *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(tokens) > 0 {
			p.HSet(ctx, KeyUploadTokens, tokens)
		}
		cpu = p.HGetAll(ctx, KeyWorkerCPU)
		return nil
	})
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("start placement of %d jobs", len(tokens)))
	}
	return decodeCPULoads(cpu.Val())
}

// Reservation asks for a job's cores on a node of the given capacity.
type Reservation struct {
	Node     string
	JobID    string
	CPU      float64
	Capacity float64 // the node's cores, as the decision saw them
}

// reservePlacements takes each reservation (ARGV in fours: node, job, cpu,
// capacity) that still fits its node, in order, and drops each job it takes
// from queued_jobs (KEYS[4]); it returns 1 or 0 for each.
var reservePlacements = redis.NewScript(shareLua + `
local out = {}
for i = 1, #ARGV, 4 do
  if share(ARGV[i], ARGV[i+1], tonumber(ARGV[i+2]), tonumber(ARGV[i+3])) then
    redis.call('LREM', KEYS[4], 0, ARGV[i+1])
    out[#out+1] = 1
  else
    out[#out+1] = 0
  end
end
return out`)

// ReservePlacements reserves a batch's cores in one atomic step: each job's
// share is set only if its node still has room for it, the job's own
// earlier share there aside (so repeating it changes nothing), and a job
// whose share is set leaves queued_jobs. It returns which were taken, in
// order; one not taken must be decided again, on fresh loads.
func (s *Store) ReservePlacements(ctx context.Context, rs []Reservation) ([]bool, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 4*len(rs))
	for _, r := range rs {
		args = append(args, r.Node, r.JobID, r.CPU, r.Capacity)
	}
	keys := append(loadKeys[:len(loadKeys):len(loadKeys)], KeyQueuedJobs)
	took, err := reservePlacements.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("reserve %d placements", len(rs)))
	}
	out := make([]bool, len(rs))
	for i := range out {
		out[i] = i < len(took) && took[i] == 1
	}
	return out, nil
}

// JobUpdate is one job's update in UpdateJobsFrom: Fn applied to the job as
// Known, the caller's fresh copy.
type JobUpdate struct {
	Known *jobspec.LiveJob
	Fn    func(*jobspec.LiveJob) error
}

// UpdateJobsFrom is UpdateJobFrom for many jobs, their first attempts in one
// round trip. A write the compare-and-swap refuses (the record changed) is
// done again as UpdateJob does. It returns each job as written, or its
// error, in order.
func (s *Store) UpdateJobsFrom(ctx context.Context, us []JobUpdate) ([]*jobspec.LiveJob, []error) {
	jobs, errs := make([]*jobspec.LiveJob, len(us)), make([]error, len(us))
	cmds := make([]*redis.Cmd, len(us))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range us {
			old, err := storedAs(u.Known)
			if err != nil {
				continue // done again below
			}
			job, args, err := applyUpdate(u.Known.Id, old, "", u.Fn)
			switch {
			case err != nil:
				errs[i] = err
			case args != nil: // else nothing to write: done again below, from a fresh read
				jobs[i], cmds[i] = job, compareAndSwapJob.Eval(ctx, p, casKeys, args...)
			}
		}
		return nil
	}) // each command's own error is checked below
	for i, u := range us {
		if errs[i] != nil {
			continue
		}
		if cmds[i] != nil {
			if n, err := cmds[i].Int(); err == nil && n == 1 {
				continue
			}
		}
		jobs[i], errs[i] = s.UpdateJob(ctx, u.Known.Id, u.Fn)
	}
	return jobs, errs
}
